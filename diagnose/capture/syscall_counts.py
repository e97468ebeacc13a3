"""System calls of the recorded processes, counted over the recording window of `diagnose run`:
`perf stat --per-thread` over the tracepoint every system call passes (raw_syscalls:sys_enter:
all calls, per thread) and the tracepoints of the calls the rules read (syscalls:sys_enter_NAME:
per call and thread). perf stat counts in the kernel and writes nothing per call; it starts with
its events disabled (-D -1) and is enabled and disabled through its control pipe right after
perf record's events are enabled and right before they are disabled, so the counted window lies
inside the recorded one (when the targets exit, it ends just after they have: nothing is left to
count) and its edges are known to a millisecond.

Why this method: bench/bench_syscall_overhead.py measured the CPU each candidate adds to every
call of the target (perf stat over these tracepoints about 0.05 µs, perf record of
raw_syscalls:sys_enter with its id about 0.2 µs plus a sample written per call, perf trace -s
about 2 µs) and the throughput of a target doing about 50,000 calls per CPU-second; see the
README for the figures. Counting every one of
the ~360 syscalls:sys_enter_* tracepoints per thread takes an event per call and thread (a
60-thread process: 21,600 file descriptors, over the usual limit), so the calls are named from
NAMED and the rest is counted as their total ("other").

Shape of environment["syscalls"] (one of):

    {"method": "perf stat --per-thread", "events": ["raw_syscalls:sys_enter", "syscalls:sys_enter_sendto", ...],
     "named": ["recvfrom", ...],             the calls counted by name; any other is in "other"
     "enable_sent_s": ..., "enabled_s": ..., "disable_sent_s": ..., "ended_s": ...  (CLOCK_MONOTONIC)
     "window_s": 2.998,                      between the middles of the enable and the disable
     "total": 150000, "total_per_s": 50033.4,
     "calls": {"sendto": {"calls": 149000, "calls_per_s": 49700.1}, ...},   only calls made
     "other": {"calls": 1000, "calls_per_s": 333.6},
     "threads": [{"pid": 7, "tid": 8, "comm": "udp-send", "calls": 149500, "calls_per_s": 49866.8,
                  "by_call": {"sendto": 149000}}, ...],                    busiest first
     "notes": ["one line each"]}
    {"skipped": "turned off with --no-syscall-counts"}
    {"unavailable": "why it could not be counted (one line)"}
"""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from diagnose.capture import child_process
from diagnose.capture.environment import PROC, read_text
from diagnose.capture.recorder import _Control as Control
from diagnose.capture.recorder import _die_with_parent, _first_error
from diagnose.expert.syscall_costs import KEY  # noqa: F401  (syscall_counts.KEY: where commands.run stores the counts)

METHOD = "perf stat --per-thread"
TOTAL_EVENT = "raw_syscalls:sys_enter"
EVENT_PREFIX = "syscalls:sys_enter_"
# The calls counted by name, most wanted first (when a process has so many threads that not all
# can be counted, the first ones are kept): moving data in and out, then waiting, then the rest
# of what the rules and the off-CPU view talk about.
NAMED = ("recvfrom", "recvmsg", "recvmmsg", "sendto", "sendmsg", "sendmmsg", "read", "write", "readv", "writev",
         "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll", "select", "pselect6", "futex",
         "nanosleep", "clock_nanosleep", "sched_yield", "io_uring_enter", "ioctl")
TRACEFS = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))
# perf stat holds one file descriptor per event and thread: stay well inside the usual limits.
MAX_DESCRIPTORS = 8000
READY_TIMEOUT_S = 60.0
COMMAND_TIMEOUT_S = 5.0
FINISH_TIMEOUT_S = 30.0
SKIPPED = "turned off with --no-syscall-counts"


def skipped() -> dict[str, Any]:
    return {"skipped": SKIPPED}


def events_folder() -> Path | None:
    """The tracefs events folder, if it can be read."""
    for root in TRACEFS:
        events = root / "events"
        try:
            if (events / "raw_syscalls").is_dir():
                return events
        except OSError:
            continue
    return None


def unavailable_reason(events: Path | None) -> str | None:
    """Why the system calls cannot be counted here, or None."""
    if events is None:
        if os.geteuid() != 0:
            return ("the syscall tracepoints are not readable (tracefs under /sys/kernel/tracing needs root); "
                    "run diagnose as root (sudo) to count them")
        return ("this kernel shows no syscall tracepoints (tracefs not mounted at /sys/kernel/tracing, or a kernel "
                "without CONFIG_FTRACE_SYSCALLS); mount tracefs (mount -t tracefs nodev /sys/kernel/tracing) to count them")
    if not (events / "raw_syscalls" / "sys_enter").is_dir():
        return "this kernel has no raw_syscalls:sys_enter tracepoint (CONFIG_FTRACE_SYSCALLS is off)"
    return None


def thread_map(pids: tuple[int, ...]) -> dict[int, tuple[int, str]]:
    """tid -> (pid, thread name) of every thread of the processes now."""
    out: dict[int, tuple[int, str]] = {}
    for pid in pids:
        try:
            tids = [int(t.name) for t in (PROC / str(pid) / "task").iterdir() if t.name.isdigit()]
        except OSError:
            continue
        for tid in tids:
            out[tid] = (pid, read_text(PROC / str(pid) / "task" / str(tid) / "comm") or "")
    return out


def choose_events(named: list[str], threads: int) -> tuple[list[str], str | None]:
    """The events to count for this many threads (one descriptor per event and thread), and a
    note when some calls could not be named."""
    budget = MAX_DESCRIPTORS
    try:
        budget = min(budget, resource.getrlimit(resource.RLIMIT_NOFILE)[1] // 2)
    except (OSError, ValueError):
        pass
    fit = max(budget // max(threads, 1), 1)
    keep = named[: max(fit - 1, 0)]
    note = None
    if len(keep) < len(named):
        dropped = named[len(keep):]
        note = (f"{threads} threads: counted {len(keep)} of {len(named)} calls by name (not "
                f"{', '.join(dropped[:6])}{', ...' if len(dropped) > 6 else ''}: one descriptor per call and thread); "
                f"they are in other")
    return [TOTAL_EVENT, *(EVENT_PREFIX + n for n in keep)], note


def stat_command(perf: str, pids: tuple[int, ...], events: list[str], output: str, ctl_fd: int, ack_fd: int) -> list[str]:
    # -D -1: events start disabled, enabled through the control pipe with the stack recording.
    return [perf, "stat", "--per-thread", "-x", ",", "-e", ",".join(events), "-D", "-1",
            "--control", f"fd:{ctl_fd},{ack_fd}", "-p", ",".join(str(p) for p in pids), "-o", output]


class Counter:
    """One perf stat process counting the targets' system calls. Never raises once built: what
    goes wrong is kept in `problem` and ends as environment["syscalls"]["unavailable"]."""

    inside = True  # recorder.Companion: counted inside the recording window

    def __init__(self, perf: str, pids: tuple[int, ...]) -> None:
        self.perf, self.pids = perf, pids
        self.problem: str | None = None
        self.notes: list[str] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.control: Control | None = None
        self.output: Path | None = None
        self.log: IO[bytes] | None = None
        self.events: list[str] = []
        self.threads: dict[int, tuple[int, str]] = {}
        self.stamps: dict[str, float] = {}

    def start(self) -> None:
        """Start perf stat with its events disabled, and wait until it has opened them."""
        events_dir = events_folder()
        self.problem = unavailable_reason(events_dir)
        if self.problem is not None:
            return
        assert events_dir is not None
        named = [n for n in NAMED if (events_dir / "syscalls" / f"sys_enter_{n}").is_dir()]
        self.threads = thread_map(self.pids)
        self.events, note = choose_events(named, len(self.threads))
        if note:
            self.notes.append(note)
        fd, name = tempfile.mkstemp(prefix="diagnose-syscalls-", suffix=".csv")
        os.close(fd)
        self.output = Path(name)
        self.log = tempfile.TemporaryFile()
        self.control = Control()
        cmd = stat_command(self.perf, self.pids, self.events, name, self.control.ctl_r, self.control.ack_w)
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                         pass_fds=(self.control.ctl_r, self.control.ack_w), process_group=0,
                                         preexec_fn=_die_with_parent)
        except OSError as exc:
            self.problem = f"cannot run {self.perf} stat ({exc.strerror})"
            return
        finally:
            self.control.after_spawn()
        # A command is answered once perf stat has opened its events: it is ready.
        if not self.control.send("disable", READY_TIMEOUT_S):
            self.problem = f"perf stat could not count the syscall tracepoints ({self._perf_error()})"
            self.close()

    def enable(self) -> None:
        if self._running():
            self.stamps["enable_sent_s"] = time.monotonic()
            if self.control.send("enable", COMMAND_TIMEOUT_S):  # type: ignore[union-attr]
                self.stamps["enabled_s"] = time.monotonic()
            else:
                self.problem = f"perf stat did not start counting ({self._perf_error()})"
                self.close()

    def disable(self) -> None:
        if self._running() and "enabled_s" in self.stamps:
            self.stamps["disable_sent_s"] = time.monotonic()
            answered = self.control.send("disable", COMMAND_TIMEOUT_S)  # type: ignore[union-attr]
            self.stamps["ended_s"] = time.monotonic()
            if not answered:
                # perf stat ends by itself when its targets have all exited: it counted until then.
                self.notes.append("perf stat ended before the end of the recording (the targets exited); "
                                  "rates are over the time until it was seen to end")

    def finish(self) -> dict[str, Any]:
        """Stop perf stat and read what it counted, as environment["syscalls"]."""
        try:
            if self.problem is None and self.proc is not None:
                # perf stat prints its counts and exits
                if not child_process.stop(self.proc, FINISH_TIMEOUT_S):
                    self.problem = f"perf stat did not finish within {FINISH_TIMEOUT_S:.0f} s"
            if self.problem is None and "ended_s" not in self.stamps:
                self.problem = "the recording ended before counting started"
            if self.problem is not None:
                return {"unavailable": self.problem}
            assert self.output is not None
            try:
                text = self.output.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                return {"unavailable": f"perf stat wrote no counts ({exc.strerror})"}
            rows = parse_stat(text)
            if not rows:
                return {"unavailable": f"perf stat wrote no counts ({self._perf_error()})"}
            return counts(rows, self.events, self.threads, self.stamps, self.notes)
        finally:
            self.close()

    def close(self) -> None:
        """Leave nothing behind: perf stat killed if still running, temporary files removed."""
        child_process.kill(self.proc)
        if self.control is not None:
            self.control.close()
            self.control = None
        if self.output is not None:
            self.output.unlink(missing_ok=True)
            self.output = None
        if self.log is not None:
            self.log.close()
            self.log = None

    def _running(self) -> bool:
        return self.problem is None and self.proc is not None and self.control is not None

    def _perf_error(self) -> str:
        if self.log is None:
            return "no message"
        self.log.seek(0)
        lines = [ln.strip() for ln in self.log.read(1 << 16).decode("utf-8", "replace").splitlines()]
        code = self.proc.poll() if self.proc is not None else None
        # perf says "Error:" on a line of its own and what went wrong on the next.
        first = _first_error([ln for ln in lines if ln and not ln.startswith("Events ")])
        return first or (f"exit code {code}" if code is not None else "no answer")


@contextmanager
def counting(perf: str, pids: tuple[int, ...], wanted: bool) -> Iterator[Counter | None]:
    """A started Counter (None when not wanted), never left running."""
    if not wanted:
        yield None
        return
    counter = Counter(perf, pids)
    try:
        counter.start()
        yield counter
    finally:
        counter.close()


def parse_stat(text: str) -> list[tuple[str, int, str, int]]:
    """(thread name, tid, event, count) of each line of `perf stat --per-thread -x ,` output. A
    thread names itself and may put commas or dashes in its name: the fields are split from the
    right, where perf's own are."""
    rows = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.rsplit(",", 7)
        if len(parts) < 4:
            continue
        who, value, event = parts[0], parts[1], parts[3]
        comm, dash, tid = who.rpartition("-")
        if not dash or not tid.isdigit():
            continue
        try:
            count = int(float(value))  # "<not counted>" and "<not supported>" are no count
        except ValueError:
            continue
        rows.append((comm, int(tid), event, count))
    return rows


def _rate(n: float, seconds: float) -> float | None:
    return round(n / seconds, 3) if seconds > 0 else None


def counts(rows: list[tuple[str, int, str, int]], events: list[str], threads: dict[int, tuple[int, str]],
           stamps: dict[str, float], notes: list[str]) -> dict[str, Any]:
    """environment["syscalls"] from perf stat's rows."""
    # The window: each edge is somewhere between the command and perf's answer; take the middle.
    start = (stamps["enable_sent_s"] + stamps["enabled_s"]) / 2
    end = (stamps.get("disable_sent_s", stamps["ended_s"]) + stamps["ended_s"]) / 2
    seconds = end - start
    per_thread: dict[int, dict[str, int]] = {}
    names: dict[int, str] = {}
    for comm, tid, event, n in rows:
        per_thread.setdefault(tid, {})
        names.setdefault(tid, comm)
        if event == TOTAL_EVENT:
            per_thread[tid]["*"] = per_thread[tid].get("*", 0) + n
        elif event.startswith(EVENT_PREFIX):
            call = event[len(EVENT_PREFIX):]
            per_thread[tid][call] = per_thread[tid].get(call, 0) + n
    calls: dict[str, int] = {}
    thread_rows = []
    total = 0
    for tid, by in per_thread.items():
        all_calls = by.pop("*", 0)
        named = {c: n for c, n in by.items() if n}
        for c, n in named.items():
            calls[c] = calls.get(c, 0) + n
        # Counted apart, the two can disagree by the calls made between their (close) enables.
        all_calls = max(all_calls, sum(named.values()))
        total += all_calls
        if all_calls:
            pid, comm = threads.get(tid, (None, names[tid]))
            thread_rows.append({"pid": pid, "tid": tid, "comm": comm or names[tid], "calls": all_calls,
                                "calls_per_s": _rate(all_calls, seconds),
                                "by_call": dict(sorted(named.items(), key=lambda kv: (-kv[1], kv[0])))})
    thread_rows.sort(key=lambda r: (-r["calls"], r["tid"]))
    other = total - sum(calls.values())
    return {
        "method": METHOD,
        "events": list(events),
        "named": [e[len(EVENT_PREFIX):] for e in events if e.startswith(EVENT_PREFIX)],
        **{k: round(v, 6) for k, v in stamps.items()},
        "window_s": round(seconds, 6),
        "total": total, "total_per_s": _rate(total, seconds),
        "calls": {c: {"calls": n, "calls_per_s": _rate(n, seconds)}
                  for c, n in sorted(calls.items(), key=lambda kv: (-kv[1], kv[0]))},
        "other": {"calls": other, "calls_per_s": _rate(other, seconds)},
        "threads": thread_rows,
        "notes": list(notes),
    }
