"""Per-thread scheduler statistics of `diagnose run` (diagnose/threadstat.py): real perf recording
real processes this test starts (a spinning thread, a Unix-socket ping-pong pair), the counts in
the run folder checked against the test's own /proc readings of the same threads, the findings
that read them (thread-saturated, latency-bound), and the health line of every report format.

The test reads the threads' counters in a loop while diagnose runs, each reading stamped before
and after on CLOCK_MONOTONIC, the clock of diagnose's own window (start_s, end_s). A counter only
grows, so the readings that bracket diagnose's two readings bound the difference diagnose must
find, whatever the load on the machine: the margin is the test's own reading interval."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, run_cli
from test_run import perf_can_record, stop, wait_for_comm

from diagnose import threadstat
from diagnose.pipeline import analyze
from diagnose.report.json_report import report_dict
from diagnose.report.markdown import render_markdown
from diagnose.report.terminal import render_terminal

LOAD = ROOT / "fixtures" / "record" / "thread_load.py"
needs_perf = pytest.mark.skipif(perf_can_record() is not None, reason=str(perf_can_record()))


def schedstat_run_ns(pid: int, tid: int) -> int:
    return int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])


def voluntary(pid: int, tid: int) -> int:
    for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches")


@dataclass(frozen=True)
class Reading:
    before: float  # time.monotonic() just before reading
    after: float  # and just after
    value: int


class Poller:
    """Reads a counter every `interval` s in a thread until stopped."""

    def __init__(self, read: Callable[[], int], interval: float = 0.02) -> None:
        self.read, self.interval = read, interval
        self.readings: list[Reading] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            value = self.read()
            self.readings.append(Reading(t0, time.monotonic(), value))
            self._stop.wait(self.interval)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def at(self, start: float, end: float) -> tuple[int, int]:
        """The range of the counter's value at a moment somewhere in [start, end]: the last
        reading that ended before `start` and the first that began after `end`."""
        low = [r.value for r in self.readings if r.after <= start]
        high = [r.value for r in self.readings if r.before >= end]
        assert low and high, "the test's readings do not bracket diagnose's"
        return low[-1], high[0]

    def delta_bounds(self, threads: dict) -> tuple[int, int]:
        """Bounds of the counter's growth between diagnose's two readings."""
        s0, s1 = self.at(threads["start_s"], threads["start_s"] + threads["start_read_s"])
        e0, e1 = self.at(threads["end_s"], threads["end_s"] + threads["end_read_s"])
        return e0 - s1, e1 - s0


def thread_of(threads: dict, tid: int) -> dict:
    [row] = [r for r in threads["threads"] if r["tid"] == tid]
    return row


def tid_named(pid: int, comm: str, timeout: float = 10.0) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for task in Path(f"/proc/{pid}/task").iterdir():
            if (task / "comm").read_text().strip() == comm:
                return int(task.name)
        time.sleep(0.02)
    raise AssertionError(f"no thread {comm} in pid {pid}")


# -- a CPU-bound thread ---------------------------------------------------------------------

@dataclass
class SpinRun:
    proc: subprocess.CompletedProcess[str]
    folder: Path
    pid: int
    tid: int
    poller: Poller


@pytest.fixture(scope="module")
def spin_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpinRun]:
    if perf_can_record() is not None:
        pytest.skip(str(perf_can_record()))
    folder = tmp_path_factory.mktemp("spin") / "capture"
    load = subprocess.Popen([sys.executable, str(LOAD), "spin", "--seconds", "60", "--name", "hot-loop"])
    try:
        tid = tid_named(load.pid, "hot-loop")
        with Poller(lambda: schedstat_run_ns(load.pid, tid)) as poller:
            proc = run_cli("run", "--pid", str(load.pid), "--duration", "3", "--out", str(folder), "--format", "json")
    finally:
        stop(load)
    yield SpinRun(proc, folder, load.pid, tid, poller)


def test_the_run_folder_holds_the_cpu_time_of_the_spinning_thread(spin_run: SpinRun) -> None:
    assert spin_run.proc.returncode == 0, spin_run.proc.stderr
    threads = json.loads((spin_run.folder / "environment.json").read_text())["threads"]
    manifest = json.loads((spin_run.folder / "manifest.json").read_text())
    assert "environment.json" in {f["path"] for f in manifest["files"]}
    row = thread_of(threads, spin_run.tid)
    assert row["comm"] == "hot-loop" and row["pid"] == spin_run.pid and row["seen"] == "whole"
    # The same counter (/proc/PID/task/TID/schedstat, ns on the CPU) read by the test around
    # diagnose's two readings: diagnose's difference lies between the bracketing readings.
    low, high = spin_run.poller.delta_bounds(threads)
    assert low - 1000 <= row["cpu_s"] * 1e9 <= high + 1000, (low, row["cpu_s"], high)
    assert row["cores"] == pytest.approx(row["cpu_s"] / threads["window_s"], abs=0.001)
    # The window lies within the recording: from perf's enabling to the end of the duration.
    rec = manifest["recording"]
    assert rec["enabled_s"] <= threads["start_s"] and threads["end_s"] <= rec["ended_s"] + 1.0
    assert threads["window_s"] == pytest.approx(threads["end_s"] - threads["start_s"], abs=1e-5)
    # Spinning, it is runnable (on a CPU or waiting for one) the whole window, whatever the load;
    # only the staleness of the counters at the two readings can take a little off.
    assert row["runnable"] >= 0.9
    assert threads["busiest"]["tid"] == spin_run.tid


def test_the_saturated_thread_finding_names_the_spinning_thread(spin_run: SpinRun) -> None:
    report = json.loads(spin_run.proc.stdout)
    busiest = report["measurements"]["threads"]["busiest"]
    [finding] = [f for f in report["findings"] if f["id"] == "thread-saturated"]
    assert finding["subject"] == "hot-loop"
    assert f"hot-loop (pid {spin_run.pid}, tid {spin_run.tid})" in finding["summary"]
    assert f"{100 * busiest['runnable']:.1f}%" in finding["summary"]
    assert f"{busiest['cores']:.2f} of a core" in finding["summary"]
    assert finding["values"]["runnable"] == busiest["runnable"]
    assert "latency-bound" not in {f["id"] for f in report["findings"]}


def test_the_health_line_is_in_every_report_format(spin_run: SpinRun) -> None:
    report = json.loads((spin_run.folder / "report.json").read_text())
    health = report["health"]
    threads = report["measurements"]["threads"]
    assert health["cores_source"] == "proc" and health["cores_used"] == threads["cores"]
    assert health["cores_available"] == os.cpu_count()
    assert health["busiest_thread"]["tid"] == spin_run.tid
    assert health["not_measured"] == []
    en = health["text"]["en"]
    assert en.startswith(f"{threads['cores']:.2f} of {os.cpu_count()} CPU cores used")
    assert f"busiest thread hot-loop (pid {spin_run.pid}, tid {spin_run.tid}) at {threads['busiest']['cores']:.2f}" in en
    assert "no UDP socket" in en
    md = (spin_run.folder / "report.md").read_text()
    assert f"**Health:** {en}".replace("_", "\\_") in md
    assert "Threads measured from /proc" in md and f"hot-loop {spin_run.pid}/{spin_run.tid}" in md
    analysis = analyze(str(spin_run.folder))
    assert f"Health: {en}" in render_terminal(analysis, width=1000)
    analysis.lang = "zh"
    assert f"**健康状况：** {health['text']['zh']}".replace("_", "\\_") in render_markdown(analysis)


def test_a_bare_capture_says_which_facts_are_not_measured() -> None:
    analysis = analyze(str(ROOT / "fixtures" / "socat-unix-ipc.perf.txt.gz"))
    report = report_dict(analysis)
    health = report["health"]
    assert report["measurements"]["threads"] is None
    assert health["cores_source"] == "samples" and health["cores_used"] == round(report["capture"]["cores_used"], 4)
    top = analysis.summary.threads[0]
    assert health["busiest_thread"]["source"] == "samples" and health["busiest_thread"]["tid"] == top.key["tid"]
    assert health["not_measured"] == ["context_switches", "drops"]
    assert "context switches and run-queue waits not measured (use diagnose run)" in health["text"]["en"]
    assert "socket drops not measured (use diagnose run)" in health["text"]["en"]
    assert not {"thread-saturated", "thread-run-queue-wait", "latency-bound"} & {f["id"] for f in report["findings"]}
    assert f"Health: {health['text']['en']}" in render_terminal(analysis, width=1000)


# -- a Unix-socket ping-pong pair -----------------------------------------------------------

@needs_perf
def test_a_ping_pong_pair_is_latency_bound_with_the_switches_the_test_counts(tmp_path: Path) -> None:
    load = subprocess.Popen([sys.executable, str(LOAD), "pingpong", "--seconds", "60"], stdout=subprocess.PIPE,
                            text=True)
    folder = tmp_path / "capture"
    try:
        assert load.stdout is not None
        pong = int(load.stdout.readline().split()[1])
        wait_for_comm(load.pid, "ping")
        wait_for_comm(pong, "pong")
        with Poller(lambda: voluntary(load.pid, load.pid)) as ping_poll, \
                Poller(lambda: voluntary(pong, pong)) as pong_poll:
            proc = run_cli("run", "--pid", str(load.pid), "--pid", str(pong), "--duration", "3",
                           "--out", str(folder), "--format", "json")
    finally:
        stop(load)
    assert proc.returncode == 0, proc.stderr
    threads = json.loads((folder / "environment.json").read_text())["threads"]
    for pid, poll in ((load.pid, ping_poll), (pong, pong_poll)):
        low, high = poll.delta_bounds(threads)
        row = thread_of(threads, pid)
        assert low <= row["voluntary"] <= high, (pid, low, row["voluntary"], high)
        assert row["voluntary_per_s"] == pytest.approx(row["voluntary"] / threads["window_s"], rel=1e-6, abs=0.001)
    assert threads["voluntary"] == sum(r["voluntary"] for r in threads["threads"])
    report = json.loads(proc.stdout)
    [finding] = [f for f in report["findings"] if f["id"] == "latency-bound"]
    # The numbers it states are the measured ones: switches/s, cores, CPU per wake-up.
    assert f"{threads['voluntary_per_s']:,.0f} times per second" in finding["summary"]
    assert f"{threads['cores']:.2f} CPU cores" in finding["summary"]
    per_wakeup = 1e6 * threads["cpu_s"] / threads["voluntary"]
    assert threads["cpu_us_per_wakeup"] == pytest.approx(per_wakeup, abs=0.1)
    assert f"{threads['cpu_us_per_wakeup']:g} µs of CPU per wake-up" in finding["summary"]
    assert f"ping (pid {load.pid}), pong (pid {pong})" in finding["summary"]
    assert {r["id"] for r in finding["recommendations"]} >= {"code.fewer-wakeups", "code.busy-poll"}
    # Waiting-bound, not saturated: the saturation finding fires only on a thread measured at a full core.
    saturated = [f for f in report["findings"] if f["id"] == "thread-saturated"]
    assert bool(saturated) == (threads["busiest"]["runnable"] >= 0.9)


@needs_perf
def test_no_thread_stats_records_the_profile_without_them(tmp_path: Path) -> None:
    load = subprocess.Popen([sys.executable, str(LOAD), "spin", "--seconds", "60"])
    folder = tmp_path / "capture"
    try:
        tid_named(load.pid, "hot-loop")
        proc = run_cli("run", "--pid", str(load.pid), "--duration", "1", "--no-thread-stats", "--out", str(folder),
                       "--format", "json")
    finally:
        stop(load)
    assert proc.returncode == 0, proc.stderr
    assert "threads" not in json.loads((folder / "environment.json").read_text())
    report = json.loads(proc.stdout)
    assert report["measurements"]["threads"] is None and report["capture"]["total_samples"] > 0
    assert "context_switches" in report["health"]["not_measured"]
    assert "thread-saturated" not in {f["id"] for f in report["findings"]}


# -- threads that start and end within the window (no perf) ---------------------------------

def gone(tid: int | None) -> None:
    """Until the kernel has removed the thread (join returns a moment before the thread exits)."""
    end = time.monotonic() + 10
    while Path(f"/proc/self/task/{tid}").exists():
        assert time.monotonic() < end, f"thread {tid} did not exit"
        time.sleep(0.005)


def test_threads_started_or_ended_in_the_window_are_said_and_their_cpu_counted() -> None:
    burned, release = threading.Event(), threading.Event()

    def burn(then_wait: bool) -> None:
        while time.thread_time() < 0.2:  # CPU time of this thread, whatever the load
            pass
        if then_wait:
            burned.set()
            release.wait()

    brief = threading.Thread(target=burn, args=(False,))
    late = threading.Thread(target=burn, args=(True,))
    before = threadstat.snapshot([os.getpid()])
    brief.start()  # starts after the first reading and ends before the second
    brief.join()
    gone(brief.native_id)
    late.start()  # starts after the first reading and is still there at the second
    try:
        assert burned.wait(10)
        mid = threadstat.snapshot([os.getpid()])
    finally:
        release.set()
        late.join()
    gone(late.native_id)
    first = threadstat.difference(before, mid)
    row = thread_of(first, late.native_id)
    assert row["seen"] == "started" and row["cpu_s"] >= 0.19
    [proc] = first["processes"]
    # The brief thread is in no reading: only the process's CPU time (utime+stime) holds it.
    assert proc["started"] == 1 and proc["ended"] == 0
    assert proc["cpu_s"] >= proc["threads_cpu_s"] + 0.15
    assert any("1 thread(s) started and 0 ended" in n for n in first["notes"])
    second = threadstat.difference(mid, threadstat.snapshot([os.getpid()]))
    [proc] = second["processes"]
    assert proc["ended"] == 1 and late.native_id not in {r["tid"] for r in second["threads"]}
    assert any("0 thread(s) started and 1 ended" in n for n in second["notes"])
