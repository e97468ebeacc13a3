"""perf.data input: perf script runs as a subprocess on a real recording made here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import assert_one_line_error, run_cli

BUSY = "import time\nt=time.time()\nwhile time.time()-t<1.2:\n    sum(i*i for i in range(500))\n"


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    perf = shutil.which("perf")
    if perf is None:
        pytest.skip("perf is not installed (apt-get install linux-perf)")
    out = tmp_path_factory.mktemp("perfdata") / "perf.data"
    proc = subprocess.run([perf, "record", "-F", "499", "-g", "-o", str(out), "--", sys.executable, "-c", BUSY],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 or not out.exists():
        pytest.skip(f"perf cannot record here: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
    return out


def test_analyze_reads_perf_data(recording: Path) -> None:
    proc = run_cli("analyze", str(recording), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["capture"]["format"] == "perf-data"
    assert r["capture"]["total_samples"] > 100
    assert r["capture"]["frequency_hz"] == 499
    names = {f["name"] for f in r["profile"]["functions"]}
    assert "_PyEval_EvalFrameDefault" in names or any("python" in f["module"] for f in r["profile"]["functions"])
    pids = {t["pid"] for t in r["capture"]["threads"]}
    assert None not in pids  # perf script ran with pid/tid


def test_collapse_of_perf_data_equals_collapse_of_its_perf_script_text(recording: Path, tmp_path: Path) -> None:
    text = tmp_path / "script.txt"
    with text.open("wb") as f:
        subprocess.run(["perf", "script", "--header", "-F", "+pid", "-i", str(recording)], stdout=f,
                       stderr=subprocess.DEVNULL, check=True)
    a = run_cli("collapse", "--tid", str(recording))
    b = run_cli("collapse", "--tid", str(text))
    assert a.returncode == 0 and a.stdout and a.stdout == b.stdout


def test_missing_perf_is_a_clear_error(recording: Path) -> None:
    env = {"PATH": "/nonexistent"}
    proc = run_cli("analyze", str(recording), env=env)
    assert_one_line_error(proc, "perf is not installed", "apt-get install linux-perf")


def test_corrupt_perf_data_is_a_clear_error(tmp_path: Path) -> None:
    if shutil.which("perf") is None:
        pytest.skip("perf is not installed (apt-get install linux-perf)")
    bad = tmp_path / "broken.data"
    bad.write_bytes(b"PERFILE2" + os.urandom(3000))
    assert_one_line_error(run_cli("analyze", str(bad)), str(bad), "perf script could not read it")
