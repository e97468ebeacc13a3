"""Off-CPU time (diagnose run --off-cpu): where threads wait, from sched:sched_switch with call
chains. The parser on perf script text written here (each rule of how a wait is measured), then
real captures: a thread blocked on a lock (a futex) that another thread holds, timed by the
program itself, recorded with real perf; the CPU profile unchanged by it; and a run without the
right to open tracepoints, which still records the CPU profile."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli
from test_run import HELPERS, manifest, perf_can_record, start_busy, stop

from diagnose import offcpu
from diagnose.expert import offcpu_summary
from diagnose.offcpu_reasons import reason_of

FUTEX_WAITS = HELPERS / "futex_waits.py"

# -- the parser, on perf script text -------------------------------------------------------------

FUTEX_STACK = """\tffffffff821f8b58 __schedule ([kernel.kallsyms])
\tffffffff8143f416 futex_do_wait ([kernel.kallsyms])
\tffffffff8143fcf7 futex_wait ([kernel.kallsyms])
\tffffffff8143b6a2 __x64_sys_futex ([kernel.kallsyms])
\t           85f16 __futex_abstimed_wait_common (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t    55d0c0ffee01 lock_acquire+0x1f (/opt/my app/bin/server (deleted))
"""
POLL_STACK = """\tffffffff821f8b58 __schedule ([kernel.kallsyms])
\tffffffff81600000 do_epoll_wait ([kernel.kallsyms])
\t           12345 epoll_wait (/usr/lib/x86_64-linux-gnu/libc.so.6)
"""
PREEMPT_STACK = """\tffffffff821f8b58 __schedule ([kernel.kallsyms])
\tffffffff81415441 exit_to_user_mode_loop ([kernel.kallsyms])
"""


def switch_out(pid: int, tid: int, t: str, comm: str, state: str, stack: str) -> str:
    return (f" {pid}/{tid}  {t}: sched:sched_switch: prev_comm={comm} prev_pid={tid} prev_prio=120 "
            f"prev_state={state} ==> next_comm=swapper/0 next_pid=0 next_prio=120\n{stack}\n")


def switch_in(pid: int, tid: int, t: str) -> str:
    return f" {pid}/{tid}  {t}: PERF_RECORD_SWITCH IN         \n"


def test_a_wait_runs_from_its_switch_out_to_the_next_switch_in() -> None:
    text = (switch_in(10, 11, "100.000000")
            + switch_out(10, 11, "100.100000", "worker", "S", FUTEX_STACK)
            + " 10/11  100.100010: PERF_RECORD_SWITCH OUT        \n"
            + switch_in(10, 11, "100.350000")
            + switch_out(10, 11, "100.400000", "worker", "R+", PREEMPT_STACK)  # preempted: runnable, not blocked
            + switch_in(10, 11, "100.410000")
            + switch_out(10, 11, "100.500000", "worker", "S", POLL_STACK)
            + switch_in(10, 11, "100.600000"))
    off = offcpu.parse([text.encode()], 100.0, 101.0, at_start={11: {"pid": 10, "comm": "worker", "state": "R"}})
    t = off.threads[11]
    assert (t.pid, t.comm) == (10, "worker")
    assert t.blocked_ns == 350_000_000 and t.waits == 2
    assert t.by_reason == {"futex": 250_000_000, "poll": 100_000_000}
    assert t.preempted_ns == 10_000_000 and t.preemptions == 1
    summary = offcpu_summary.summary(off)
    top = summary["stacks"][0]
    assert (top["reason"], top["seconds"], top["waits"]) == ("futex", 0.25, 1)
    names = [f["name"] for f in top["frames"]]
    assert names[:2] == ["__schedule", "futex_do_wait"] and "lock_acquire" in names  # offset dropped
    assert top["frames"][-1]["module"] == "server (deleted)" and top["frames"][-1]["kind"] == "user"
    assert top["summary"] == "futex_do_wait ← __futex_abstimed_wait_common ← lock_acquire"
    assert summary["threads"][0]["blocked_share_of_window"] == 0.35
    # Folded: root first, kernel frames marked, microseconds.
    assert off.folded_lines()[0] == ("worker-10/11;lock_acquire;__futex_abstimed_wait_common;__x64_sys_futex_[k];"
                                     "futex_wait_[k];futex_do_wait_[k];__schedule_[k] 250000")


def test_waits_at_the_edges_of_the_window() -> None:
    """Blocked when the recording began: from the window's start, with the kernel stack read from
    /proc then; blocked at the end: up to the window's end; blocked all along: the whole window; a
    thread created in the window starts when it first runs."""
    text = (switch_in(20, 21, "50.200000")                                   # blocked since before
            + switch_out(20, 21, "50.700000", "net", "S", POLL_STACK)        # still blocked at the end
            + " 20/20  50.300000: PERF_RECORD_FORK(20:23):(20:20)\n"
            + switch_in(20, 23, "50.300100")                                 # a new thread, not a wait
            + " 0/0  0.000000: PERF_RECORD_COMM: fresh:20/23\n"
            # perf acted on enable before acknowledging it, and on disable after being asked:
            # what lies outside the window is cut off.
            + switch_out(20, 25, "49.900000", "edge", "S", FUTEX_STACK)
            + switch_in(20, 25, "51.200000"))
    at_start = {21: {"pid": 20, "comm": "net", "state": "S", "stack": ["ep_poll", "do_epoll_wait"]},
                22: {"pid": 20, "comm": "sleeper", "state": "S", "stack": ["hrtimer_nanosleep"]},
                24: {"pid": 20, "comm": "spinner", "state": "R", "stack": []}}
    off = offcpu.parse([text.encode()], 50.0, 51.0, at_start)
    assert off.threads[21].by_reason == {"poll": 200_000_000 + 300_000_000}
    assert off.threads[22].by_reason == {"sleep": 1_000_000_000}
    assert 23 not in off.threads and 24 not in off.threads
    assert off.threads[25].by_reason == {"futex": 1_000_000_000}
    assert off.switch_outs == 1  # the one inside the window


def test_unreadable_and_lost_records_are_counted_not_guessed() -> None:
    text = ("garbage line\n"
            + " 30/31  10.000000: sched:sched_switch: prev_comm=x prev_pid=99 prev_prio=120 prev_state=S ==> "
              "next_comm=y next_pid=0 next_prio=120\n\n"                          # prev_pid is not the thread
            + " 30/31  10.100000: PERF_RECORD_LOST lost 7\n"
            + switch_out(30, 31, "10.200000", "a ==> b", "D", "\tffffffff1 io_schedule ([kernel.kallsyms])\n")
            + switch_in(30, 31, "10.250000"))
    off = offcpu.parse([text[i:i + 7].encode() for i in range(0, len(text), 7)], 10.0, 11.0)  # any cut
    assert off.bad_lines == 2 and off.lost == 7
    assert off.threads[31].comm == "a ==> b" and off.threads[31].by_reason == {"io": 50_000_000}


def test_every_off_cpu_text_has_chinese() -> None:
    from diagnose import offcpu_folder, offcpu_reasons
    from diagnose.report import offcpu_view

    tables = [offcpu_view.TEXTS, offcpu_reasons.TEXTS, offcpu_reasons.SHORT]
    for table in tables:
        for key, t in table.items():
            assert t.get("en") and t.get("zh"), key
            assert t["en"] == t["zh"] or re.search(r"[\u4e00-\u9fff]", t["zh"]), key
    assert set(offcpu_reasons.TEXTS) == set(offcpu_reasons.SHORT) == set(offcpu_reasons.ALL)
    assert set(offcpu_folder.WORDS["en"]) == set(offcpu_folder.WORDS["zh"])


@pytest.mark.parametrize("frames,state,reason", [
    (["__schedule", "futex_wait_queue", "do_futex"], "S", "futex"),
    (["schedule_hrtimeout_range", "do_epoll_wait"], "S", "poll"),
    (["do_sys_poll", "__x64_sys_ppoll"], "S", "poll"),
    (["do_nanosleep", "hrtimer_nanosleep"], "S", "sleep"),
    (["pipe_read", "vfs_read"], "S", "io"),
    (["__skb_wait_for_more_packets", "__x64_sys_recvfrom"], "S", "io"),
    (["folio_wait_bit_common"], "D", "io"),
    (["some_driver_wait"], "D", "io"),
    (["do_signal_stop"], "T", "other"),
])
def test_reasons_come_from_the_kernel_frames(frames: list[str], state: str, reason: str) -> None:
    assert reason_of(frames, state) == reason


# -- real captures -------------------------------------------------------------------------------

def can_trace() -> str | None:
    why = perf_can_record()
    if why is None and os.geteuid() != 0:
        why = "sched tracepoints need root"
    return why


needs_tracepoints = pytest.mark.skipif(can_trace() is not None, reason=str(can_trace()))


class FutexRun:
    def __init__(self, proc: subprocess.CompletedProcess[str], folder: Path, log: dict, pid: int, busy_pid: int) -> None:
        self.proc, self.folder, self.log, self.pid, self.busy_pid = proc, folder, log, pid, busy_pid
        self.report = json.loads(proc.stdout) if proc.returncode == 0 else {}


@pytest.fixture(scope="module")
def futex_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FutexRun]:
    """One --off-cpu capture of the futex program and of a busy process beside it (CPU samples)."""
    if can_trace() is not None:
        pytest.skip(str(can_trace()))
    folder = tmp_path_factory.mktemp("offcpu") / "capture"
    prog = subprocess.Popen([sys.executable, str(FUTEX_WAITS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    busy = start_busy(30)
    try:
        assert prog.stdout is not None and prog.stdout.readline().strip() == "ready"
        proc = run_cli("run", "--pid", str(prog.pid), "--pid", str(busy.pid), "--off-cpu", "--duration", "3",
                       "--frequency", "499", "--out", str(folder), "--format", "json")
        out, _ = prog.communicate("stop\n", timeout=30)
    finally:
        stop(busy)
        if prog.poll() is None:
            prog.kill()
            prog.wait()
    yield FutexRun(proc, folder, json.loads(out.strip().splitlines()[-1]), prog.pid, busy.pid)


@needs_tracepoints
def test_off_cpu_names_the_futex_wait_and_times_it(futex_run: FutexRun) -> None:
    """The waiter's blocking stack is the futex wait of the lock, and its time blocked in futex
    waits is, within 10%, the time the program measured itself waiting over the tool's window."""
    assert futex_run.proc.returncode == 0, futex_run.proc.stderr
    off = futex_run.report["off_cpu"]
    assert off["recorded"] is True and off["event"] == "sched:sched_switch" and off["lost_events"] == 0
    start, end = off["window"]["start_s"], off["window"]["end_s"]
    rec = manifest(futex_run.folder)["recording"]
    # Enabled right after the CPU recording, disabled right after it (a loaded machine may take a
    # while to answer: the figures are over the off-CPU recording's own window, which it reports).
    assert rec["enabled_s"] <= start < rec["ended_s"] <= end
    measured = sum(max(0.0, min(t1, end) - max(t0, start)) for t0, t1 in futex_run.log["waits"])
    assert measured > 1.0, futex_run.log  # the lock was held most of the time
    waiter = next(t for t in off["threads"] if t["tid"] == futex_run.log["waiter"])
    assert waiter["comm"] == "lock-waiter"
    assert waiter["top_stack"]["reason"] == "futex"
    futex = waiter["by_reason"]["futex"]
    assert abs(futex - measured) <= 0.10 * measured, (futex, measured)
    [top] = [s for s in off["stacks"] if s["tid"] == waiter["tid"]][:1]
    assert top["reason"] == "futex" and top["seconds"] > 0.5 * measured
    assert any("futex_wait" in f["name"] for f in top["frames"]), top["frames"]
    # The holder sleeps while it holds the lock: its waits are sleeps, not futex waits.
    holder = next(t for t in off["threads"] if t["tid"] == futex_run.log["holder"])
    assert holder["top_stack"]["reason"] == "sleep"
    # The busy process never blocks: at most a sliver of its window (preemption is not blocking).
    busy = [t for t in off["threads"] if t["pid"] == futex_run.busy_pid]
    assert all(t["blocked_s"] < 0.1 * off["window"]["duration_s"] for t in busy), busy


@needs_tracepoints
def test_off_cpu_files_are_in_the_folder(futex_run: FutexRun) -> None:
    m = manifest(futex_run.folder)
    files = {f["path"]: f for f in m["files"]}
    assert files["offcpu.perf.data"]["private"] is True and files["offcpu.perf.data"]["role"] == "offcpu-perf-data"
    assert files["offcpu.folded"]["private"] is False and files["offcpu.svg"]["role"] == "offcpu-flamegraph-svg"
    assert not m["missing"]
    for name in ("offcpu.perf.data", "offcpu.folded", "offcpu.svg"):
        path = futex_run.folder / name
        assert path.stat().st_mode & 0o777 == 0o600
        assert hashlib.sha256(path.read_bytes()).hexdigest() == files[name]["sha256"]
    # The folded stacks hold the same microseconds as the report's stacks.
    off = futex_run.report["off_cpu"]
    folded = [line.rsplit(" ", 1) for line in (futex_run.folder / "offcpu.folded").read_text().splitlines()]
    total_us = sum(int(n) for _, n in folded)
    assert abs(total_us / 1e6 - off["blocked_s"]) < 1e-3 * len(folded) + 1e-3
    waiter = f"lock-waiter-{futex_run.pid}/{futex_run.log['waiter']};"
    assert any(stack.startswith(waiter) and "futex_wait_[k]" in stack for stack, _ in folded)
    svg = (futex_run.folder / "offcpu.svg").read_text()
    assert "µs blocked" in svg and "lock-waiter" in svg


@needs_tracepoints
def test_cpu_shares_are_the_same_without_the_off_cpu_data(futex_run: FutexRun, tmp_path: Path) -> None:
    """The CPU profile holds only the CPU recording's samples, and nothing of the off-CPU data
    reaches the shares, the findings or the rules: the folder analysed again with the off-CPU
    summary removed from its environment gives the same report."""
    report = futex_run.report
    assert list(report["capture"]["events"]) == ["cpu-clock"]
    assert report["capture"]["total_samples"] > 100
    bare = tmp_path / "bare"
    shutil.copytree(futex_run.folder, bare)
    env_path = bare / "environment.json"
    env = json.loads(env_path.read_text())
    del env["off_cpu"]
    env_path.write_text(json.dumps(env))
    m = manifest(bare)
    for f in m["files"]:
        if f["path"] == "environment.json":
            f["bytes"], f["sha256"] = env_path.stat().st_size, hashlib.sha256(env_path.read_bytes()).hexdigest()
    (bare / "manifest.json").write_text(json.dumps(m))
    with_off, without = (json.loads(run_cli("analyze", str(f), "--format", "json").stdout)
                         for f in (futex_run.folder, bare))
    assert "off_cpu" in with_off and "off_cpu" not in without
    assert with_off["profile"] == without["profile"] == report["profile"]
    assert with_off["findings"] == without["findings"]
    assert with_off["evaluation"] == without["evaluation"]
    assert {k: v for k, v in with_off["capture"].items() if k != "source"} == \
        {k: v for k, v in without["capture"].items() if k != "source"}


@needs_tracepoints
def test_analyze_of_the_folder_shows_the_off_cpu_section_again(futex_run: FutexRun, tmp_path: Path) -> None:
    waiter = str(futex_run.log["waiter"])
    term = run_cli("analyze", str(futex_run.folder), "--width", "160")
    assert term.returncode == 0, term.stderr
    section = term.stdout[term.stdout.index("Off-CPU time"):]
    assert f"lock-waiter [{waiter}]" in section and "futex" in section and "futex_do_wait" in section
    for lang, title in (("en", "## Off-CPU time"), ("zh", "## 离 CPU 时间")):
        md = tmp_path / f"report.{lang}.md"
        proc = run_cli("analyze", str(futex_run.folder), "--format", "markdown", "--lang", lang, "-o", str(md))
        assert proc.returncode == 0, proc.stderr
        text = md.read_text()
        assert title in text and f"lock-waiter \\[{waiter}\\]" in text
        if lang == "zh":  # no English left in the section's own words
            from diagnose.report.offcpu_view import TEXTS

            section = text[text.index(title):]
            assert not [t["en"] for t in TEXTS.values() if len(t["en"]) > 12 and t["en"] in section]
    svg = tmp_path / "off.svg"
    proc = run_cli("flamegraph", "--off-cpu", str(futex_run.folder), "-o", str(svg))
    assert proc.returncode == 0, proc.stderr
    assert "lock-waiter" in svg.read_text() and "µs blocked" in svg.read_text()


def test_flamegraph_off_cpu_of_a_folder_without_it_is_one_line(tmp_path: Path) -> None:
    from conftest import assert_one_line_error, fixture

    folder = tmp_path / "plain"
    folder.mkdir()
    shutil.copy(fixture("socat-unix-ipc.perf.txt.gz"), folder / "perf.script.txt.gz")
    data = (folder / "perf.script.txt.gz").read_bytes()
    (folder / "manifest.json").write_text(json.dumps({
        "schema": "diagnose.capture/v1", "complete": True,
        "files": [{"path": "perf.script.txt.gz", "role": "perf-script", "bytes": len(data)}]}))
    proc = run_cli("flamegraph", "--off-cpu", str(folder), "-o", str(tmp_path / "x.svg"))
    assert_one_line_error(proc, "no off-CPU recording", "diagnose run --off-cpu")


@pytest.mark.skipif(perf_can_record() is not None, reason="needs perf that can record here")
def test_without_tracepoints_the_cpu_profile_is_still_recorded(other_user) -> None:
    """As a user that may record its own process but not open sched tracepoints: exit 0, the CPU
    profile recorded, and one line saying off-CPU time was not."""
    busy = other_user.popen("-c", "import time\nt = time.time()\n"
                            "while time.time() - t < 30:\n    sum(i * i for i in range(500))\n")
    try:
        proc = other_user.run_cli("run", "--pid", str(busy.pid), "--off-cpu", "--duration", "1",
                                  "--out", str(other_user.home / "offcpu-cap"), "--format", "json")
    finally:
        stop(busy)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "off-CPU" in ln]
    assert len(lines) == 1 and "not recorded" in lines[0] and "root" in lines[0], proc.stderr
    report = json.loads(proc.stdout)
    assert report["capture"]["total_samples"] > 0
    assert report["off_cpu"]["recorded"] is False and "sched:sched_switch" in report["off_cpu"]["why"]
    m = manifest(other_user.home / "offcpu-cap")
    assert not any(f["path"].startswith("offcpu.") for f in m["files"]) and not m["missing"]
    assert any("off-CPU time not recorded" in w for w in m["warnings"])


def test_odd_off_cpu_data_in_a_folder_is_shown_as_far_as_it_goes(tmp_path: Path) -> None:
    """environment.json is the user's file: an off_cpu summary of the wrong shapes is reported
    (what can be read) or left out, never a traceback."""
    from conftest import fixture

    folder = tmp_path / "odd"
    folder.mkdir()
    shutil.copy(fixture("socat-unix-ipc.perf.txt.gz"), folder / "perf.script.txt.gz")
    env = {"off_cpu": {"recorded": True, "window": [], "by_reason": [{"reason": 5, "seconds": "x"}, 3],
                       "threads": [1, {"comm": 7, "by_reason": {"futex": None}, "top_stack": "x", "waits": -1},
                                   {"tid": "\x1b[31m", "blocked_s": 1e308, "by_reason": []}],
                       "stacks": [{"frames": "x", "reason": None}, {"frames": [1, {"name": None}]}],
                       "lost_events": True, "flamegraph": 3}}
    (folder / "environment.json").write_text(json.dumps(env))
    files = [{"path": name, "role": role, "bytes": (folder / name).stat().st_size}
             for name, role in (("perf.script.txt.gz", "perf-script"), ("environment.json", "environment"))]
    (folder / "manifest.json").write_text(json.dumps({"schema": "diagnose.capture/v1", "complete": True,
                                                      "files": files}))
    for args in ((), ("--format", "markdown"), ("--format", "markdown", "--lang", "zh"), ("--format", "json")):
        proc = run_cli("analyze", str(folder), *args)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        assert "\x1b[31m" not in proc.stdout or args[-1] == "json"
    report = json.loads(run_cli("analyze", str(folder), "--format", "json").stdout)
    assert report["off_cpu"]["threads"][0] == 1  # JSON keeps what the folder holds
    env["off_cpu"] = ["not", "a", "mapping"]
    (folder / "environment.json").write_text(json.dumps(env))
    files[1]["bytes"] = (folder / "environment.json").stat().st_size
    (folder / "manifest.json").write_text(json.dumps({"schema": "diagnose.capture/v1", "complete": True,
                                                      "files": files}))
    proc = run_cli("analyze", str(folder), "--format", "json")
    assert proc.returncode == 0 and "off_cpu" not in json.loads(proc.stdout)
