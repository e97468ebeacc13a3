"""Ctrl-C at any moment of a command: while Python loads the tool, while it reads the capture,
while it evaluates rules or writes the report. Each ends with one line and exit code 130, never a
traceback (nor typer's "Aborted!" with exit code 1). And the command line starts without loading
what only the work needs, so `diagnose --help` stays quick."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import ROOT, fixture
from diagnose.inputs.safe_interrupt import InterruptAtSafePoints

# Moments after the start, spread over a run of `analyze` on the seed-shaped capture (about a
# second and a half on an idle machine): on a loaded machine they land in other phases, each as valid.
DELAYS = (0.0, 0.05, 0.15, 0.3, 0.5, 0.8, 1.2, 1.8)


@pytest.mark.parametrize("delay", DELAYS)
def test_ctrl_c_at_any_moment_is_one_line_and_exit_130(tmp_path, delay: float) -> None:
    out = tmp_path / "r.json"
    proc = subprocess.Popen([sys.executable, "-m", "diagnose", "analyze", str(fixture("original-report-shape.perf.txt.gz")),
                             "--format", "json", "-o", str(out)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert "Aborted" not in stderr, stderr
    if "Traceback" in stderr:
        # Only Python's own start-up (site, runpy) may be cut with a traceback: none of its
        # frames is diagnose's code, which had not started.
        assert f"{ROOT.name}/diagnose/" not in stderr and "/diagnose/" not in stderr, stderr
        return
    if proc.returncode == 0:  # it finished before the Ctrl-C (a fast machine)
        assert out.exists()
        return
    # Ended by the Ctrl-C: 130 and its one line (or killed by the signal itself, -2: before
    # Python's handler is in place, or after the line, see cli), no output.
    assert proc.returncode in (130, -signal.SIGINT), (proc.returncode, stderr)
    said = stderr.strip().splitlines()
    assert said == ["diagnose: interrupted"] or (said == [] and proc.returncode == -signal.SIGINT), stderr
    assert stdout == ""
    # Nothing half-written: no temporary file, and a report only if it was complete before the
    # Ctrl-C came (written to a temporary name, then renamed).
    assert [p.name for p in tmp_path.iterdir()] in ([], ["r.json"])
    if out.exists():
        json.loads(out.read_text())


def test_the_command_line_starts_without_the_analysis_libraries() -> None:
    """Loading the command line (all it takes for `--help` and for refusing bad options) loads
    neither networkx, YAML, protobuf nor RE2: they come with the work that needs them."""
    code = ("import sys, diagnose.cli\n"
            "print(' '.join(sorted(m for m in ('networkx', 'yaml', 'google.protobuf', 're2') if m in sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_reading_a_capture_leaves_an_ignored_ctrl_c_ignored() -> None:
    """The parse holds Ctrl-C back to safe points; in a process started to ignore SIGINT (a
    script's background job), a Ctrl-C then neither interrupts it nor stays noted."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with InterruptAtSafePoints() as ctrl_c:
            os.kill(os.getpid(), signal.SIGINT)
            ctrl_c.check()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
