"""`diagnose explain` on a saved report: it needs no capture, shows how findings were reached
and why rules did not fire."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import assert_one_line_error, fixture, run_cli


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report written, then moved to a place with no capture (as if from another machine)."""
    work = tmp_path_factory.mktemp("made")
    capture = work / "capture.perf.txt.gz"
    shutil.copy(fixture("original-report-shape.perf.txt.gz"), capture)
    out = work / "report.json"
    assert run_cli("analyze", str(capture), "--format", "json", "-o", str(out)).returncode == 0
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "report.json"
    shutil.move(str(out), elsewhere)
    capture.unlink()
    return elsewhere


def test_overview_lists_ranked_findings_and_quiet_rules(report: Path) -> None:
    proc = run_cli("explain", str(report), "--width", "160")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.index("unix-socket-ipc") < out.index("↳ syscall-heavy")
    assert "Rules that did not fire" in out and "udp-receive-heavy" in out


def test_finding_shows_conditions_thresholds_evidence_and_advice(report: Path) -> None:
    out = run_cli("explain", str(report), "--finding", "unix-socket-ipc", "--width", "160").stdout
    assert "syscall_share" in out and ">= 5.00%" in out and "29.5" in out and "pass" in out
    assert "unix_stream_recvmsg" in out  # evidence call chain
    assert "derived facts: ipc-bound" in out
    assert "why it applies" in out
    assert "✗ sysctl net.core.rmem_max" in out


def test_rule_that_did_not_fire_says_which_condition_failed_and_by_how_much(report: Path) -> None:
    out = run_cli("explain", str(report), "--rule", "udp-receive-heavy", "--width", "160").stdout
    assert "not-fired" in out and "why not" in out
    assert "short by" in out and "percentage points" in out


def test_explain_in_chinese(report: Path) -> None:
    out = run_cli("explain", str(report), "--finding", "unix-socket-ipc", "--lang", "zh", "--width", "160").stdout
    assert "进程间通信" in out


def test_unknown_ids_and_bad_files_are_clear_errors(report: Path, tmp_path: Path) -> None:
    assert_one_line_error(run_cli("explain", str(report), "--finding", "no-such-rule"), "no finding", "unix-socket-ipc")
    assert_one_line_error(run_cli("explain", str(report), "--rule", "no-such-rule"), "no rule")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert_one_line_error(run_cli("explain", str(bad)), str(bad), "not valid JSON")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"schema": "something/v9"}))
    assert_one_line_error(run_cli("explain", str(other)), "not a diagnose report")


def _damaged(report: Path, tmp_path: Path, change) -> Path:
    data = json.loads(report.read_text())
    change(data)
    out = tmp_path / "damaged.json"
    out.write_text(json.dumps(data))
    return out


def _set(path: tuple, value):
    def change(data) -> None:
        for step in path[:-1]:
            data = data[step]
        data[path[-1]] = value
    return change


# Found by tests/test_fuzz.py: each of these was a traceback (AttributeError, KeyError,
# TypeError, OverflowError) from inside the renderer.
DAMAGED = {
    "capture-null": ((), ("capture",), None, "capture: expected a mapping, found null"),
    "score-text": (("--finding", "unix-socket-ipc"), ("findings", 0, "score"), "high", "findings[0].score"),
    "severity-unknown": ((), ("findings", 0, "severity"), "urgent", "findings[0].severity: expected one of info"),
    "conditions-not-a-list": (("--rule", "udp-receive-heavy"), ("evaluation", "rules", 0, "conditions"), {"a": 1},
                              "evaluation.rules[0].conditions: expected a list"),
    "value-too-large-for-a-float": (("--rule", "syscall-heavy"), ("evaluation", "rules", 0, "conditions", 0, "value"),
                                    10 ** 400, "expected a finite number"),
    "texts-not-a-mapping": ((), ("findings", 0, "texts"), ["x"], "findings[0].texts: expected a mapping"),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_a_damaged_report_is_one_line_naming_the_field(report: Path, tmp_path: Path, case: str) -> None:
    args, path, value, message = DAMAGED[case]
    damaged = _damaged(report, tmp_path, _set(path, value))
    assert_one_line_error(run_cli("explain", str(damaged), *args), str(damaged), message)


@pytest.mark.parametrize("text, message", [
    ('{"schema": "diagnose.report/v1", "findings": ' + "[" * 100_000 + "]" * 100_000 + "}", "nests too deep"),
    ('{"schema": "diagnose.report/v1", "findings": [' + "[" * 200 + "]" * 200 + "]}", "nests deeper than 64"),
    ('{"schema": "diagnose.report/v1", "capture": {"total_samples": ' + "9" * 5000 + "}}", "not a report"),
], ids=["deeper-than-the-parser", "deeper-than-any-report", "5000-digit-number"])
def test_a_report_that_is_not_one_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "report.json"
    p.write_text(text)
    assert_one_line_error(run_cli("explain", str(p)), str(p), message)


def test_a_source_without_its_id_is_one_line(report: Path, tmp_path: Path) -> None:
    """Found by tests/test_fuzz.py (ten times the examples): `s.get("title", s["id"])` needs the
    id even when a title is there, so a source without it was a KeyError."""
    data = json.loads(report.read_text())
    where = next((i, j) for i, f in enumerate(data["findings"]) for j, r in enumerate(f.get("recommendations", []))
                 if r.get("sources"))
    finding = data["findings"][where[0]]
    del finding["recommendations"][where[1]]["sources"][0]["id"]
    damaged = tmp_path / "damaged.json"
    damaged.write_text(json.dumps(data))
    assert_one_line_error(run_cli("explain", str(damaged), "--finding", finding["id"]), str(damaged),
                          f"findings[{where[0]}].recommendations[{where[1]}].sources[0].id: expected text, found nothing")
