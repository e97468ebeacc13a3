"""System calls counted by `diagnose run` (diagnose/syscall_counts.py, syscall_costs.py): real perf
on real processes this test starts. A C program sends and receives UDP on 127.0.0.1 and notes
how many calls each of its threads made against CLOCK_MONOTONIC; the counts in the run folder
must agree with its own over diagnose's counting window, and the findings state them. Also: the
option that turns counting off, perf stat's output read with awkward thread names, and a capture
that is not a run folder saying what it lacks."""

from __future__ import annotations

import bisect
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import fixture, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fuzz import FUZZ, examples
from test_run import BUSY, perf_can_record, stop

from diagnose import syscall_counts

HELPERS = Path(__file__).resolve().parent / "helpers"
needs_perf = pytest.mark.skipif(perf_can_record() is not None, reason=str(perf_can_record()))
needs_tracepoints = pytest.mark.skipif(syscall_counts.unavailable_reason(syscall_counts.events_folder()) is not None,
                                       reason=str(syscall_counts.unavailable_reason(syscall_counts.events_folder())))
# The C program notes its count every this many calls.
EVERY = 64


class Notes:
    """A thread's own notes: (CLOCK_MONOTONIC seconds, calls made so far)."""

    def __init__(self, tid: int, rows: list[tuple[float, int]]) -> None:
        self.tid = tid
        self.t = [r[0] for r in rows]
        self.calls = [r[1] for r in rows]

    def at(self, t: float) -> float:
        """Calls made by time t (linear between two notes, EVERY calls apart)."""
        i = bisect.bisect_left(self.t, t)
        if i == 0 or i >= len(self.t):
            raise AssertionError(f"{t} is outside the notes ({self.t[0]}..{self.t[-1]})")
        t0, t1, c0, c1 = self.t[i - 1], self.t[i], self.calls[i - 1], self.calls[i]
        return c0 + (c1 - c0) * (t - t0) / (t1 - t0) if t1 > t0 else c1

    def rate_near(self, t: float, span: float = 0.05) -> float:
        return (self.at(t + span) - self.at(t - span)) / (2 * span)


def read_notes(path: Path) -> dict[str, Notes]:
    rows: dict[str, list[tuple[float, int]]] = {}
    tids: dict[str, int] = {}
    for line in path.read_text().splitlines():
        what, tid, t, calls = line.split()
        rows.setdefault(what, []).append((float(t), int(calls)))
        tids[what] = int(tid)
    return {w: Notes(tids[w], r) for w, r in rows.items()}


@pytest.fixture(scope="module")
def udp_counted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (apt-get install gcc) for the test program")
    out = tmp_path_factory.mktemp("bin") / "udp_counted"
    subprocess.run([cc, "-O1", "-g", "-fno-omit-frame-pointer", "-pthread", "-o", str(out),
                    str(HELPERS / "udp_counted.c")], check=True)
    return out


class CountedRun:
    def __init__(self, proc: subprocess.CompletedProcess[str], folder: Path, notes: dict[str, Notes], pid: int):
        self.proc, self.folder, self.notes, self.pid = proc, folder, notes, pid

    def json(self, name: str) -> dict:
        return json.loads((self.folder / name).read_text())


@pytest.fixture(scope="module")
def counted_run(udp_counted: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CountedRun]:
    if perf_can_record() is not None:
        pytest.skip(str(perf_can_record()))
    if syscall_counts.unavailable_reason(syscall_counts.events_folder()) is not None:
        pytest.skip(str(syscall_counts.unavailable_reason(syscall_counts.events_folder())))
    tmp = tmp_path_factory.mktemp("counted")
    log = tmp / "notes.txt"
    prog = subprocess.Popen([str(udp_counted), str(log)], stdout=subprocess.PIPE, text=True)
    try:
        assert prog.stdout is not None and prog.stdout.readline().strip() == "ready"
        folder = tmp / "capture"
        # 499 Hz: enough samples in 3 s for the rules to rate what they find.
        proc = run_cli("run", "--pid", str(prog.pid), "--duration", "3", "--frequency", "499", "--out", str(folder),
                       "--format", "json")
    finally:
        if prog.poll() is None:
            prog.send_signal(signal.SIGTERM)
        prog.wait(timeout=30)
    yield CountedRun(proc, folder, read_notes(log), prog.pid)


def _margin(notes: Notes, stored: dict) -> float:
    """How far the count may be from the program's own, from the window's edges alone: each edge
    is somewhere between diagnose's command and perf's answer (calls/s x that time), and the
    program's notes are EVERY calls apart (one note of slack at each edge)."""
    uncertain = (stored["enabled_s"] - stored["enable_sent_s"]) + (stored["ended_s"] - stored["disable_sent_s"])
    start, end = window(stored)
    rate = max(notes.rate_near(start), notes.rate_near(end))
    return rate * uncertain + 2 * EVERY + 0.002 * rate  # 2 ms for perf's enable/disable of its events


def window(stored: dict) -> tuple[float, float]:
    return ((stored["enable_sent_s"] + stored["enabled_s"]) / 2, (stored["disable_sent_s"] + stored["ended_s"]) / 2)


def test_the_run_folder_holds_the_calls_each_thread_made(counted_run: CountedRun) -> None:
    assert counted_run.proc.returncode == 0, counted_run.proc.stderr
    stored = counted_run.json("environment.json")["syscalls"]
    start, end = window(stored)
    assert stored["window_s"] == pytest.approx(end - start, abs=1e-5)
    # The counting window lies inside the recording (enabled after it, disabled before it).
    rec = counted_run.json("manifest.json")["recording"]
    assert rec["enabled_s"] <= stored["enable_sent_s"] and stored["ended_s"] <= rec["ended_s"]
    threads = {t["tid"]: t for t in stored["threads"]}
    for what, call in (("send", "sendto"), ("recv", "recvfrom")):
        notes = counted_run.notes[what]
        own = notes.at(end) - notes.at(start)
        margin = _margin(notes, stored)
        assert own > 1000, (what, own)  # the program did run through the window
        row = threads[notes.tid]
        assert row["pid"] == counted_run.pid and row["comm"] == f"udp-{what}"
        assert abs(row["by_call"][call] - own) <= margin, (what, row["by_call"][call], own, margin)
        # The process as a whole: only this thread makes that call.
        assert abs(stored["calls"][call]["calls"] - own) <= margin
        assert stored["calls"][call]["calls_per_s"] == pytest.approx(stored["calls"][call]["calls"] / stored["window_s"],
                                                                     rel=1e-3)
    assert stored["total"] >= stored["calls"]["sendto"]["calls"] + stored["calls"]["recvfrom"]["calls"]
    assert "sendto" in stored["named"] and stored["notes"] == []
    listed = {f["path"] for f in counted_run.json("manifest.json")["files"]}
    assert "environment.json" in listed


def test_the_send_and_receive_findings_state_calls_per_second_and_cpu_per_call(counted_run: CountedRun) -> None:
    report = counted_run.json("report.json")
    block = report["measurements"]["syscalls"]
    calls = {c["name"]: c for c in block["calls"]}
    sendto = calls["sendto"]
    # CPU per call is the profile's samples in sendto over the calls counted.
    cap = report["capture"]
    in_sendto = next(c for c in report["profile"]["syscalls"]["calls"] if c["name"] == "sendto")["samples"]
    own = in_sendto - sendto["counting_samples"]
    assert sendto["samples"] == own > 50
    expected_us = own / cap["frequency_hz"] / cap["duration_s"] / sendto["calls_per_s"] * 1e6
    assert sendto["cpu_us_per_call"] == pytest.approx(expected_us, rel=1e-3)
    lo, hi = sendto["cpu_us_per_call_ci95"]
    assert lo < sendto["cpu_us_per_call"] < hi
    findings = {f["id"]: f for f in report["findings"]}
    send = findings["udp-send-heavy"]
    rate = next(c["calls_per_s"] for c in block["calls"] if c["name"] == "sendto")
    assert f"made {rate:,.0f} socket send calls/s (sendto), {float(f'{expected_us:.3g}'):g} µs of CPU each" \
        in send["summary"], send["summary"]
    receive = findings["udp-receive-heavy"]
    assert f"{calls['recvfrom']['calls_per_s']:,.0f} socket receive calls/s (recvfrom)" in receive["summary"]
    # The batching advice states the saving and how it was computed.
    sendmmsg = next(r for r in send["recommendations"] if r["id"] == "code.sendmmsg")
    est = sendmmsg["estimate"]
    assert est["calls_per_s_saved"] == pytest.approx(rate * 15 / 16, abs=0.1)
    cores = est["calls_per_s_saved"] * sendto["entry_exit_us_per_call"] / 1e6
    assert est["cores_saved"] == pytest.approx(cores, rel=0.01, abs=1e-4)
    assert est["text"].startswith(f"sendmmsg with 16 messages per call would cut about {rate * 15 / 16:,.0f} of the "
                                  f"{rate:,.0f} calls/s (sendto), about {est['cores_saved']:.3f} cores")
    assert "one datagram" in est["assumption"] and "entry/exit" in est["assumption"]
    # Counting is not advised once done.
    withheld = {w["id"]: w for f in report["findings"] for w in f["withheld"]}
    assert withheld.get("investigate.syscall-counts", {}).get("status", "already-in-effect") == "already-in-effect"
    assert all(r["id"] != "investigate.syscall-counts" for f in report["findings"] for r in f["recommendations"])


def test_every_report_format_shows_the_counted_calls(counted_run: CountedRun) -> None:
    md = (counted_run.folder / "report.md").read_text()
    assert "System calls counted over" in md and "| `sendto` |" in md
    assert "**expected saving:** sendmmsg with 16 messages per call would cut about" in md
    zh = run_cli("analyze", str(counted_run.folder), "--format", "markdown", "--lang", "zh")
    assert zh.returncode == 0, zh.stderr
    assert "录制期间统计的系统调用" in zh.stdout and "**预期节省：** 使用 sendmmsg 每次调用处理 16 条消息" in zh.stdout
    term = run_cli("analyze", str(counted_run.folder))
    assert term.returncode == 0, term.stderr
    assert "System calls counted over" in term.stdout and "udp-send/" in term.stdout
    assert "Not measured" not in term.stdout


@needs_perf
@needs_tracepoints
def test_no_syscall_counts_stores_none_and_the_report_says_how_to_get_them(tmp_path: Path) -> None:
    busy = subprocess.Popen([sys.executable, "-c", BUSY, "60"])
    try:
        folder = tmp_path / "capture"
        proc = run_cli("run", "--pid", str(busy.pid), "--duration", "1", "--out", str(folder), "--no-syscall-counts")
    finally:
        stop(busy)
    assert proc.returncode == 0, proc.stderr
    env = json.loads((folder / "environment.json").read_text())
    assert env["syscalls"] == {"skipped": "turned off with --no-syscall-counts"}
    line = ("system-call counts (calls/s and CPU per call, per call and thread): turned off with --no-syscall-counts; "
            "run `diagnose run` without --no-syscall-counts to measure it")
    assert line in " ".join(proc.stdout.split())  # the terminal report, however it wraps
    report = json.loads((folder / "report.json").read_text())
    assert report["measurements"]["syscalls"] is None
    assert [m["text"] for m in report["measurements"]["missing"]] == [line]
    assert "turned off with --no-syscall-counts; run `diagnose run` without --no-syscall-counts" in \
        (folder / "report.md").read_text()


def test_a_capture_that_is_not_a_run_folder_says_which_facts_it_lacks() -> None:
    path = str(fixture("iperf3-udp-send.perf.txt.gz"))
    line = ("system-call counts (calls/s and CPU per call, per call and thread): not in this capture (only a "
            "`diagnose run` folder has it); record with `diagnose run --pid PID` to measure it")
    report = json.loads(run_cli("analyze", path, "--format", "json").stdout)
    assert report["measurements"]["syscalls"] is None
    assert [m["text"] for m in report["measurements"]["missing"]] == [line]
    md = run_cli("analyze", path, "--format", "markdown").stdout
    assert "- system-call counts (calls/s and CPU per call, per call and thread): not in this capture (only a " \
           "`diagnose run` folder has it); record with `diagnose run --pid PID` to measure it" in md
    assert line in " ".join(run_cli("analyze", path).stdout.split())
    zh = run_cli("analyze", path, "--format", "markdown", "--lang", "zh").stdout
    assert "本次采集中没有" in zh
    # Without counts, the findings say nothing of calls per second.
    send = next(f for f in report["findings"] if f["id"] == "udp-send-heavy")
    assert "calls/s" not in send["summary"] and all("estimate" not in r for r in send["recommendations"])


# A thread that names itself "a,b-7 x", waits for SIGUSR1, then makes exactly 5,000 writes and
# 5,000 reads of a pipe; the main thread says "named TID" and, once it is done, "done".
NAMED_WORKER = """
import os, signal, threading, time
started = threading.Event()
signal.signal(signal.SIGUSR1, lambda *a: started.set())
rfd, wfd = os.pipe()
named = threading.Event()
def work():
    with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as f:
        f.write("a,b-7 x")
    named.set()
    started.wait()
    for _ in range(5000):
        os.write(wfd, b"x")
        os.read(rfd, 1)
t = threading.Thread(target=work)
t.start()
named.wait()
print("named", t.native_id, flush=True)
t.join()
print("done", flush=True)
time.sleep(60)
"""


@needs_perf
@needs_tracepoints
def test_perf_stat_output_is_read_whatever_the_threads_are_called() -> None:
    """A thread names itself: commas and dashes in its name must not shift perf stat's fields,
    and the counts of a window are exactly the calls made in it."""
    prog = subprocess.Popen([sys.executable, "-c", NAMED_WORKER], stdout=subprocess.PIPE, text=True)
    try:
        assert prog.stdout is not None
        tid = int(prog.stdout.readline().split()[1])
        with syscall_counts.counting("perf", (prog.pid,), True) as counter:
            assert counter is not None and counter.problem is None, counter and counter.problem
            counter.enable()
            os.kill(prog.pid, signal.SIGUSR1)
            assert prog.stdout.readline().strip() == "done"
            counter.disable()
            stored = counter.finish()
    finally:
        stop(prog)
    row = next(t for t in stored["threads"] if t["tid"] == tid)
    assert row["comm"] == "a,b-7 x" and row["pid"] == prog.pid
    assert row["by_call"]["write"] == 5000 and row["by_call"]["read"] == 5000


# A mount namespace of its own for diagnose run, where tracefs (and debugfs, which holds it too)
# is covered by an empty tmpfs: a machine without syscall tracepoints, for this process only.
NO_TRACEFS = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
              'mount -t tmpfs none /sys/kernel/tracing && { [ ! -d /sys/kernel/debug ] || '
              'mount -t tmpfs none /sys/kernel/debug; } && exec "$@"', "sh"]


@needs_perf
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare")
def test_without_tracepoints_the_profile_is_recorded_and_one_line_says_what_is_missing(tmp_path: Path) -> None:
    busy = subprocess.Popen([sys.executable, "-c", BUSY, "60"])
    try:
        folder = tmp_path / "capture"
        proc = run_cli("run", "--pid", str(busy.pid), "--duration", "1", "--out", str(folder), "--format", "json",
                       prefix=NO_TRACEFS)
    finally:
        stop(busy)
    assert proc.returncode == 0, proc.stderr
    said = [line for line in proc.stderr.splitlines() if "system-call counts" in line]
    assert said == ["diagnose: warning: system-call counts not collected: this kernel shows no syscall tracepoints "
                    "(tracefs not mounted at /sys/kernel/tracing, or a kernel without CONFIG_FTRACE_SYSCALLS); mount "
                    "tracefs (mount -t tracefs nodev /sys/kernel/tracing) to count them"], proc.stderr
    report = json.loads(proc.stdout)
    assert report["capture"]["total_samples"] > 0  # the profile was recorded all the same
    env = json.loads((folder / "environment.json").read_text())
    assert env["syscalls"] == {"unavailable": said[0].split("not collected: ", 1)[1]}
    assert report["measurements"]["syscalls"] is None
    assert report["measurements"]["missing"][0]["text"].startswith(
        "system-call counts (calls/s and CPU per call, per call and thread): could not be measured: this kernel")
    assert said[0].removeprefix("diagnose: warning: ") in json.loads((folder / "manifest.json").read_text())["warnings"]


def lab_environment_with_counts() -> dict:
    """The environment of a real run folder (fixtures/lab/pion-p2p) with counts of its threads'
    calls in the shape diagnose run stores them."""
    from test_fuzz import folder_documents

    env = json.loads(json.dumps(folder_documents()[1]))
    threads = {t["tid"]: (p["pid"], t["comm"]) for p in env["processes"] for t in p["threads"]}
    rows = []
    for i, (tid, (_, comm)) in enumerate(sorted(threads.items())):
        for call, n in (("sendto", 4000 + i), ("recvfrom", 3000 + i), ("futex", 100 + i)):
            rows.append((comm, tid, syscall_counts.EVENT_PREFIX + call, n))
        rows.append((comm, tid, syscall_counts.TOTAL_EVENT, 7200 + 3 * i))
    events = [syscall_counts.TOTAL_EVENT, *(syscall_counts.EVENT_PREFIX + c for c in ("sendto", "recvfrom", "futex"))]
    stamps = {"enable_sent_s": 100.0, "enabled_s": 100.001, "disable_sent_s": 110.0, "ended_s": 110.001}
    env["syscalls"] = syscall_counts.counts(rows, events, threads, stamps, [])
    return env


def test_a_run_folder_with_counts_is_analysed_to_begin_with() -> None:
    from test_fuzz import analyse_folder, folder_documents

    analyse_folder(json.loads(json.dumps(folder_documents()[0])), lab_environment_with_counts())


@settings(FUZZ, max_examples=examples(40))
@given(st.data())
def test_stored_counts_with_odd_values_are_analysed_or_refused_in_one_line(data: st.DataObject) -> None:
    from test_fuzz import analyse_folder, folder_documents, structurally_mutated

    env = lab_environment_with_counts()
    env["syscalls"] = data.draw(structurally_mutated(env["syscalls"]))
    analyse_folder(json.loads(json.dumps(folder_documents()[0])), env)
