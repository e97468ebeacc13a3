"""Writing pprof: `go tool pprof` reads what diagnose writes from a perf capture with the same
totals and functions as `diagnose analyze` of that capture; diagnose reads it back the same."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import ROOT, fixture, run_cli
from diagnose.inputs.pprof import read_pprof
from diagnose.pipeline import load_profile
from helpers.pprof_top import GO, pprof_top

CAPTURE = "aiortc-call.perf.txt.gz"  # two processes, six threads, kernel and user frames
needs_go = pytest.mark.skipif(GO is None, reason="go is not installed (go tool pprof reads the written profile)")


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The pprof diagnose writes of the capture, and diagnose's JSON report of the capture."""
    out = tmp_path_factory.mktemp("pprof") / "profile.pb.gz"
    proc = run_cli("analyze", str(fixture(CAPTURE)), "--format", "pprof", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("analyze", str(fixture(CAPTURE)), "--format", "json", "--all-functions")
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(proc.stdout)


def functions_by_name(report: dict) -> tuple[Counter, dict[str, int]]:
    """Self samples summed over modules, and inclusive samples of the names in one module only
    (pprof's -top merges functions of one name; a sum of inclusive counts would count a sample twice)."""
    self_ = Counter()
    modules = Counter()
    inclusive: dict[str, int] = {}
    for f in report["profile"]["functions"]:
        self_[f["name"]] += f["self_samples"]
        modules[f["name"]] += 1
        inclusive[f["name"]] = f["inclusive_samples"]
    return self_, {n: c for n, c in inclusive.items() if modules[n] == 1}


@needs_go
def test_go_tool_pprof_shows_the_same_totals_and_top_functions(written: tuple[Path, dict]) -> None:
    path, report = written
    total = report["profile"]["total_samples"]
    self_, inclusive = functions_by_name(report)
    counts = pprof_top(path, "-sample_index=samples")
    assert counts.total == total == 853
    # The same top functions, in the same order of self samples (ties aside), with the same numbers.
    assert len(counts.rows) == 20
    for name, row in counts.rows.items():
        assert self_[name] == row.flat, (name, self_[name], row)
        if name in inclusive:
            assert inclusive[name] == row.cum, (name, inclusive[name], row)
    # pprof drops functions under 0.5% inclusive before taking 20; the ten hottest are far above.
    hottest = [n for n, _ in self_.most_common(10)]
    assert self_[hottest[-1]] > 0.005 * total and set(hottest) <= set(counts.rows), (hottest, counts.text)
    # The default view is CPU time: samples x the period of 99 Hz.
    cpu = pprof_top(path)
    assert abs(total * 1e9 / report["capture"]["frequency_hz"] - cpu.total) <= cpu.total_step


@needs_go
def test_go_tool_pprof_sees_comm_pid_and_tid_as_labels(written: tuple[Path, dict]) -> None:
    path, _ = written
    proc = subprocess.run([GO, "tool", "pprof", "-tags", "-sample_index=samples", str(path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    tags: dict[str, dict[str, float]] = {}
    section: dict[str, float] = {}
    for line in proc.stdout.splitlines():
        head = re.match(r"^\s*(\w+): Total", line)
        row = re.match(r"^\s*([\d.]+) \(\s*[\d.]+%\): (.+)$", line)
        if head:
            section = tags.setdefault(head.group(1), {})
        elif row:
            section[row.group(2)] = float(row.group(1))
    # pprof counts labels of the samples with a stack (2 of the 853 have none).
    profile = load_profile(str(fixture(CAPTURE)))
    want: dict[str, Counter] = {"comm": Counter(), "pid": Counter(), "tid": Counter()}
    for st in profile.stacks:
        if st.frames:
            th = profile.threads[st.thread]
            want["comm"][th.comm] += st.samples
            want["pid"][str(th.pid)] += st.samples
            want["tid"][str(th.tid)] += st.samples
    for key, counts in want.items():
        assert tags[key] == {k: float(v) for k, v in counts.items()}, (key, proc.stdout)


def test_the_written_profile_reads_back_the_same(written: tuple[Path, dict]) -> None:
    path, report = written
    back = run_cli("analyze", str(path), "--format", "json", "--all-functions")
    assert back.returncode == 0, back.stderr
    again = json.loads(back.stdout)
    # A kernel frame perf named no module for is written in pprof's kernel mapping.
    key = lambda f: (f["name"], f["module"] or ("[kernel.kallsyms]" if f["kind"] == "kernel" else ""),  # noqa: E731
                     f["kind"], f["self_samples"], f["inclusive_samples"])
    assert sorted(map(key, again["profile"]["functions"])) == sorted(map(key, report["profile"]["functions"]))
    threads = lambda r: sorted((t["comm"], t["pid"], t["tid"], t["samples"]) for t in r["capture"]["threads"])  # noqa: E731
    assert threads(again) == threads(report)
    assert again["capture"]["frequency_hz"] == pytest.approx(report["capture"]["frequency_hz"], rel=1e-6)
    assert again["capture"]["kernel_frames_known"] is True
    profile = read_pprof(str(path))
    profile.check()


def test_binary_output_to_a_terminal_is_refused(tmp_path: Path) -> None:
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "diagnose", "analyze", str(fixture(CAPTURE)), "--format", "pprof"],
                              stdout=secondary, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=120,
                              env={**os.environ, "COLUMNS": "120"})
    finally:
        os.close(secondary)
        os.set_blocking(primary, False)
        try:
            shown = os.read(primary, 65536)
        except (BlockingIOError, OSError):
            shown = b""
        os.close(primary)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "-o FILE" in lines[0] and "terminal" in lines[0], proc.stderr
    assert shown == b""


def test_binary_output_to_a_pipe_is_the_profile() -> None:
    proc = subprocess.run([sys.executable, "-m", "diagnose", "analyze", str(fixture(CAPTURE)), "--format", "pprof"],
                          capture_output=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout[:2] == b"\x1f\x8b"
