"""Rule packs a user gives cannot hang, exhaust or crash the tool: an alias bomb, a pack too
large or with too many rules, NUL bytes, a long chain of fired: conditions. Each is refused
(or handled) with one line and exit code 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT, assert_one_line_error, fixture, run_cli

HEADER = "schema: diagnose.rules/v1\npack: {name: team, version: 1.0.0, engine: '>=1.0'}\n"

# Nine levels of nine aliases: 9^9 (387 million) strings once expanded, from 342 bytes.
ALIAS_BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip([None, *"abcdefgh"], "abcdefghi"))


def _rule(i: int, when: str) -> str:
    return f"  - {{id: r{i}, title: t, severity: low, summary: s, when: [{when}]}}\n"


def test_an_alias_bomb_is_refused_by_every_command_that_reads_packs(tmp_path: Path) -> None:
    p = tmp_path / "bomb.yaml"
    p.write_text(ALIAS_BOMB)
    assert len(ALIAS_BOMB) < 1024
    for cmd in (("rules", "validate", str(p)),
                ("analyze", str(fixture("iperf3-udp-recv.perf.txt.gz")), "--rules", str(p))):
        line = assert_one_line_error(run_cli(*cmd, timeout=60), str(p))
        assert "alias" in line, line


def test_run_refuses_an_alias_bomb_before_recording(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("perf") is None:
        pytest.skip("`diagnose run` needs perf and the right to record (root here)")

    p = tmp_path / "bomb.yaml"
    p.write_text(ALIAS_BOMB)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        out = tmp_path / "capture"
        proc = run_cli("run", "--pid", str(sleeper.pid), "--duration", "1", "--out", str(out), "--rules", str(p),
                       timeout=60)
    finally:
        sleeper.kill()
        sleeper.wait()
    line = assert_one_line_error(proc, str(p))
    assert "alias" in line
    assert not out.exists()


def test_the_alias_bomb_costs_well_under_a_second_of_cpu() -> None:
    """Measured in a child (its own CPU time, from getrusage), so that a regression is a failed
    test at the timeout rather than a hung suite."""
    child = textwrap.dedent(f"""
        import resource
        from diagnose.errors import DiagnoseError
        from diagnose.yamlfile import load_yaml_text
        before = resource.getrusage(resource.RUSAGE_SELF)
        try:
            load_yaml_text({ALIAS_BOMB!r}, "bomb.yaml")
            print("loaded")
        except DiagnoseError as exc:
            print("refused", exc)
        after = resource.getrusage(resource.RUSAGE_SELF)
        print(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    """)
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    verdict, cpu = proc.stdout.strip().splitlines()
    assert verdict.startswith("refused bomb.yaml:") and "alias" in verdict
    assert float(cpu) < 1.0


@pytest.mark.parametrize("text, message", [
    ("a: &a [*a]\n", "refers to a value that contains it"),
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", "deeper than"),
    ("x: &x {k: 1}\n" + "".join(f"m{i}: &m{i} {{<<: [{', '.join([f'*{p}'] * 12)}]}}\n"
                                 for i, p in enumerate(["x", "m0", "m1", "m2", "m3", "m4", "m5"])), "alias"),
], ids=["self-reference", "deep-nesting", "merge-key-bomb"])
def test_other_hostile_yaml_shapes_are_refused(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "hostile.yaml"
    p.write_text(text)
    line = assert_one_line_error(run_cli("rules", "validate", str(p), timeout=60), f"{p}:")
    assert message in line, line


def test_a_few_anchors_and_aliases_are_fine(tmp_path: Path) -> None:
    p = tmp_path / "team.yaml"
    p.write_text(HEADER + "rules:\n" + "".join(
        f"  - {{id: r{i}, title: t, severity: low, summary: s, when: [{{owned_share: "
        f"{'&sel {category: udp-receive}' if i == 0 else '*sel'}, gte: 0.1}}]}}\n" for i in range(50)))
    proc = run_cli("rules", "validate", str(p))
    assert proc.returncode == 0, proc.stderr
    assert "50 rule(s)" in proc.stdout


def test_a_rule_pack_with_a_nul_byte_is_one_line(tmp_path: Path) -> None:
    p = tmp_path / "team.yaml"
    p.write_bytes(HEADER.encode() + b"rules:\n  - id: a\x00b\n")
    line = assert_one_line_error(run_cli("rules", "validate", str(p)), f"{p}:4")
    assert "NUL" in line


def test_a_rule_pack_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "team.yaml"
    p.write_text(HEADER + "# " + "x" * (2 * 1024 * 1024) + "\n")
    line = assert_one_line_error(run_cli("rules", "validate", str(p)), str(p))
    assert "2 MB" in line


def test_a_rule_pack_over_the_rule_count_limit_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "team.yaml"
    p.write_text(HEADER + "rules:\n" + "".join(_rule(i, "{total_samples: {}, gte: 1}") for i in range(2001)))
    line = assert_one_line_error(run_cli("rules", "validate", str(p), timeout=120), f"{p}:")
    assert "2,001 rules" in line and "2,000" in line


def test_a_long_chain_of_fired_conditions_is_ordered_without_recursion(tmp_path: Path) -> None:
    """Each rule asks whether the next one fired: 1,501 levels of dependencies (Python's own
    recursion limit is 1,000). The last rule fires, and so, in order, does every other."""
    n = 1501
    p = tmp_path / "chain.yaml"
    p.write_text(HEADER + "rules:\n" + "".join(
        _rule(i, f"{{fired: r{i + 1}}}" if i < n - 1 else "{total_samples: {}, gte: 1}") for i in range(n)))
    proc = run_cli("analyze", str(fixture("iperf3-udp-recv.perf.txt.gz")), "--format", "json", "--rules", str(p),
                   timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import json

    fired = {f["id"] for f in json.loads(proc.stdout)["findings"]}
    assert {f"r{i}" for i in range(n)} <= fired


def test_a_cycle_through_a_long_chain_names_the_cycle(tmp_path: Path) -> None:
    p = tmp_path / "cycle.yaml"
    p.write_text(HEADER + "rules:\n" + "".join(_rule(i, f"{{fired: r{(i + 1) % 1200}}}") for i in range(1200)))
    line = assert_one_line_error(run_cli("rules", "validate", str(p), timeout=120), "cycle", "r0 -> r1 -> r2")
    assert "Recursion" not in line


def test_a_key_with_a_line_break_is_quoted_in_a_one_line_error(tmp_path: Path) -> None:
    """Found by tests/test_fuzz.py: a mapping key holding a newline ("to.\\n") was written into
    the error as it is, so the error took two lines."""
    p = tmp_path / "team.yaml"
    p.write_text(HEADER + 'rules:\n  - id: r0\n    title: t\n    severity: low\n    summary: s\n'
                 '    when: [{owned_share: {"cat\\negory": udp-receive}, gte: 0.1}]\n'
                 '    "evidence\\n' + "x" * 500 + '": {}\n')
    # Two errors: rules validate lists both, each on one line, then the count.
    proc = run_cli("rules", "validate", str(p))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 3, proc.stderr
    assert lines[0].startswith(f"{p}:8: ") and "owned_share.cat\\x0aegory" in lines[0]
    assert lines[1].startswith(f"{p}:9: ") and "rules[0].evidence\\x0axxx" in lines[1] and len(lines[1]) < 600
    assert "2 error(s)" in lines[2]
    # Running with the pack stops at the first error: one line.
    capture = str(ROOT / "fixtures" / "idle-sleep.perf.txt.gz")
    line = assert_one_line_error(run_cli("analyze", capture, "--rules", str(p)), f"{p}:8:")
    assert "cat\\x0aegory" in line
