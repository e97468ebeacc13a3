"""Run folders: nothing destroyed, nothing leaked. Real perf on a real process: two runs into
the same --out (one wins, the other fails at once and touches nothing), a Ctrl-C or a full
disk while the reports are written (the capture is kept, its manifest says what is missing,
and `diagnose analyze FOLDER` reads it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import assert_one_line_error, run_cli
from test_run import BUSY, CAPTURE_FILES, needs_perf, start_busy, stop

from diagnose.claim import LOCK


@pytest.fixture()
def busy() -> Iterator[subprocess.Popen[bytes]]:
    proc = start_busy(120)
    try:
        yield proc
    finally:
        stop(proc)


def run_args(pid: int, folder: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "diagnose", "run", "--pid", str(pid), "--duration", "2", "--out", str(folder),
            "--format", "json", *extra]


def start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def signal_state(pid: int) -> str:
    """Each thread of a process: its name, what it waits in, and its blocked, ignored, caught
    and pending signals (/proc), for a run that hangs."""
    lines = []
    for task in sorted(Path(f"/proc/{pid}/task").glob("*")):
        try:
            status = dict(line.split(":\t", 1) for line in (task / "status").read_text().splitlines() if ":\t" in line)
            wchan = (task / "wchan").read_text()
        except OSError:
            continue
        sig = " ".join(f"{k}={status.get(k, '?').strip()}" for k in ("SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt"))
        lines.append(f"{task.name} {status.get('Name', '?').strip()} wchan={wchan} {sig}")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    lines.append(f"children: {children.read_text() if children.exists() else '?'}")
    return "\n".join(lines)


def listed(folder: Path) -> list[str]:
    """The files manifest.json lists now (none while there is none)."""
    try:
        return [f["path"] for f in json.loads((folder / "manifest.json").read_text())["files"]]
    except (OSError, ValueError, KeyError):
        return []


def wait_for(run: subprocess.Popen[str], ready, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not ready():
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < end
        time.sleep(0.005)


def assert_one_capture(folder: Path) -> None:
    """A single complete capture, analysable: no perf.data.old, no temporary or lock file."""
    from diagnose.report.render import FORMATS

    expected = set(CAPTURE_FILES) | ({"report.md"} if "markdown" in FORMATS else set()) | \
        ({"report.html"} if "html" in FORMATS else set()) | ({"flamegraph.svg"} if "svg" in FORMATS else set()) | ({"profile.pb.gz"} if "pprof" in FORMATS else set())
    assert {p.name for p in folder.iterdir()} == expected
    m = json.loads((folder / "manifest.json").read_text())
    assert m["missing"] == []
    assert run_cli("analyze", str(folder), "--format", "json").returncode == 0


@needs_perf
def test_a_second_run_into_a_folder_being_written_fails_at_once(busy: subprocess.Popen[bytes], tmp_path: Path) -> None:
    folder = tmp_path / "cap"
    first = start(run_args(busy.pid, folder))
    wait_for(first, lambda: (folder / "perf.data").exists())
    second = subprocess.run(run_args(busy.pid, folder), capture_output=True, text=True)
    before = sorted(p.name for p in folder.iterdir())
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert_one_line_error(second, f"--out {folder}", f"another diagnose run (pid {first.pid}) is writing into it",
                          "choose another --out")
    assert "perf.data" in before and "perf.data.old" not in before
    assert_one_capture(folder)


@needs_perf
def test_two_runs_started_together_into_one_folder_one_wins(busy: subprocess.Popen[bytes], tmp_path: Path) -> None:
    folder = tmp_path / "cap"
    runs = [start(run_args(busy.pid, folder)), start(run_args(busy.pid, folder))]
    results = [(r, *r.communicate(timeout=180)) for r in runs]
    codes = sorted(r.returncode for r, _, _ in results)
    assert codes == [0, 2], [e for _, _, e in results]
    [(loser, out, err)] = [(r, o, e) for r, o, e in results if r.returncode == 2]
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and f"--out {folder}" in lines[0] and "Traceback" not in err, err
    assert out == ""
    assert_one_capture(folder)


@needs_perf
def test_ctrl_c_while_the_reports_are_written_keeps_the_capture(busy: subprocess.Popen[bytes], tmp_path: Path) -> None:
    """Ctrl-C after the capture is saved, before its reports are: whatever the machine's load,
    the run cannot finish its reports first. Its rule pack is a FIFO in the --rules folder, fed
    once, for the check before recording: the analysis after it waits on the FIFO's next writer,
    who never comes."""
    folder = tmp_path / "cap"
    packs = tmp_path / "packs"
    packs.mkdir()
    fifo = packs / "team.yaml"
    os.mkfifo(fifo)

    def feed_once() -> None:
        with open(fifo, "w") as f:
            f.write("schema: diagnose.rules/v1\npack: {name: team, version: 1.0.0, engine: '>=1.0'}\nrules: []\n")

    threading.Thread(target=feed_once, daemon=True).start()
    # faulthandler: should the run hang after the Ctrl-C (seen once, under two CPU hogs), SIGABRT
    # makes it print where each of its threads is.
    run = subprocess.Popen(run_args(busy.pid, folder, "--rules", str(packs)), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    # The manifest lists the perf script text and the folded stacks: the analysis and reports come next.
    wait_for(run, lambda: "stacks.folded" in listed(folder))
    run.send_signal(signal.SIGINT)
    # A SIGINT the kernel hands to a thread of the run other than the main one (a library's thread
    # still ending) is only marked pending by CPython 3.11: the main thread, blocked in the FIFO's
    # open(), is not woken. (diagnose's own threads block SIGINT for that reason.) A user presses
    # Ctrl-C again; so does the test, once, if the run has not ended 10 s after the first.
    try:
        run.wait(timeout=10)
    except subprocess.TimeoutExpired:
        run.send_signal(signal.SIGINT)
    try:
        out, err = run.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        state = signal_state(run.pid)
        run.send_signal(signal.SIGABRT)
        out, err = run.communicate(timeout=60)
        pytest.fail(f"the run did not end within 120 s of the Ctrl-C; its signal state:\n{state}\n"
                    f"where it was:\n{err[-4000:]}")
    # 130, or ended by the SIGINT itself once its message is out: a shell shows 130 for both.
    assert run.returncode in (130, -signal.SIGINT), err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"kept the capture in {folder}" in lines[0] and "manifest.json lists what is missing" in lines[0]
    assert "removed" not in err
    m = json.loads((folder / "manifest.json").read_text())
    assert m["complete"] is True
    assert {"perf.data", "perf.script.txt.gz", "stacks.folded", "environment.json"} <= set(listed(folder))
    assert m["missing"] and {e["role"] for e in m["missing"]} <= {"report-json", "report-markdown", "report-html",
                                                                       "flamegraph-svg", "profile-pprof"}
    assert all(e["why"].startswith("not written: interrupted (Ctrl-C)") for e in m["missing"])
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]
    again = run_cli("analyze", str(folder), "--format", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["capture"]["duration_source"] == "recording"


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs of its own (root only), to fill up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root and mount, for a small file system to fill")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@needs_perf
def test_a_full_disk_while_the_reports_are_written_keeps_the_capture(busy: subprocess.Popen[bytes],
                                                                     small_disk: Path) -> None:
    folder = small_disk / "cap"
    run = start(run_args(busy.pid, folder))
    wait_for(run, lambda: "stacks.folded" in listed(folder))
    with open(small_disk / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 20))
                f.flush()
        except OSError:
            pass  # the disk is full
    out, err = run.communicate(timeout=120)
    (small_disk / "filler").unlink()
    assert run.returncode == 2, err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "Traceback" not in err and out == "", err
    for text in ("could not finish saving the capture", "No space left on device", "writing the reports",
                 f"kept the capture in {folder}"):
        assert text in errors[0], (text, errors[0])
    # The manifest written before the disk filled up stays; it lists the reports as not written.
    m = json.loads((folder / "manifest.json").read_text())
    assert {"perf.data", "perf.script.txt.gz", "stacks.folded", "environment.json"} <= set(listed(folder))
    assert {e["role"] for e in m["missing"]} >= {"report-json"}
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]
    assert run_cli("analyze", str(folder), "--format", "json").returncode == 0


def test_a_folder_left_locked_by_a_killed_run_is_refused_with_why(tmp_path: Path) -> None:
    folder = tmp_path / "cap"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    (folder / LOCK).write_text(f"{dead.pid}\n")
    target = subprocess.Popen([sys.executable, "-c", BUSY, "30"])
    try:
        proc = run_cli("run", "--pid", str(target.pid), "--duration", "1", "--out", str(folder))
    finally:
        stop(target)
    if "perf is not installed" in proc.stderr:
        pytest.skip("perf is not installed")
    assert_one_line_error(proc, f"--out {folder}", "a diagnose run that was killed left its", LOCK)
    assert [p.name for p in folder.iterdir()] == [LOCK]
