"""Off-CPU time: where the threads of the recorded processes waited, from a recording of
sched:sched_switch (with call chains) and the context-switch records perf writes with
--switch-events.

A thread's wait runs from its sched_switch (prev_state not R: it blocked; its call chain is where
it blocked) to its next PERF_RECORD_SWITCH IN. A switch out in state R is preemption: time spent
runnable, waiting for a CPU, counted apart (preempted) and never as blocked. A thread already
blocked when the recording began has no switch out in it: that part (from the window's start
to its first switch in, or to the end if it never ran) takes the kernel stack read from
/proc/PID/task/TID/stack when the recording began (diagnose.capture.thread_stacks), or reason "unknown". A
thread still blocked at the end counts up to the end of the window. Every wait is clipped to the
window, in which perf's events were certainly on: from the moment perf acknowledged enabling them
to the moment diagnose asked it to disable them.

Input is `perf script --show-switch-events --show-task-events --show-lost-events
-F pid,tid,time,event,trace,ip,sym,dso` text (no comm field: a thread names itself, so its name
could imitate the fields after it; the names come from prev_comm, whose length the kernel caps).
Times are kept in nanoseconds; the folded output is in microseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from diagnose.expert.offcpu_reasons import UNKNOWN, reason_of

# "  pid/tid  secs.frac: rest" (the sample or record line; frame lines start with a tab).
_HEAD = re.compile(rb"^\s*(-?\d+)/(-?\d+)\s+(\d+)\.(\d+):\s+(.*?)\s*$")
# The kernel caps a task's name at 15 bytes, so prev_comm cannot hold these fields itself: the
# first match is the real one.
_SWITCH = re.compile(rb"prev_pid=(\d+) prev_prio=-?\d+ prev_state=(\S+) ==> next_comm=")
_FORK = re.compile(rb"^PERF_RECORD_FORK\((\d+):(\d+)\)")
_EXIT = re.compile(rb"^PERF_RECORD_EXIT\((\d+):(\d+)\)")
_COMM = re.compile(rb"^PERF_RECORD_COMM(?: exec)?: (.*):(\d+)/(\d+)$")
_LOST = re.compile(rb"^PERF_RECORD_LOST(?:_SAMPLES)?\b.*?(\d+)\s*$")
COMM_MAX = 15
LINE_CACHE = 100_000
EVENT = "sched:sched_switch"
# Frames named in a stack's summary line: the scheduler's own frames at the top say nothing.


@dataclass(frozen=True, slots=True)
class Frame:
    name: str
    module: str  # file name only ("libc.so.6", "[kernel.kallsyms]"), never a path
    kernel: bool

    def folded(self) -> str:
        return f"{self.name}_[k]" if self.kernel else self.name


@dataclass
class ThreadWaits:
    pid: int
    tid: int
    comm: str
    blocked_ns: int = 0
    preempted_ns: int = 0
    waits: int = 0
    preemptions: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


@dataclass
class OffCpu:
    """Blocked time per thread, per reason and per (thread, stack, reason), over a window."""

    window_start_ns: int | None
    window_end_ns: int | None
    frames: list[Frame] = field(default_factory=list)
    threads: dict[int, ThreadWaits] = field(default_factory=dict)
    # (tid, stack of frame ids innermost first, reason) -> [blocked ns, waits]
    stacks: dict[tuple[int, tuple[int, ...], str], list[int]] = field(default_factory=dict)
    # Stacks read from /proc when the recording began (threads already blocked then).
    began_before: set[tuple[int, tuple[int, ...], str]] = field(default_factory=set)
    switch_outs: int = 0
    lost: int = 0
    bad_lines: int = 0

    def folded_lines(self) -> list[str]:
        """`comm-pid/tid;root;...;leaf_[k] MICROSECONDS` per stack (stackcollapse's --tid form),
        heaviest first; kernel frames end in _[k]."""
        out = []
        for (tid, stack, _reason), (ns, _n) in sorted(self.stacks.items(), key=lambda kv: -kv[1][0]):
            us = round(ns / 1000)
            if us <= 0:
                continue
            t = self.threads[tid]
            root = f"{_folded_name(t.comm)}-{t.pid}/{t.tid}"
            path = [root, *(_folded_name(self.frames[f].folded()) for f in reversed(stack))]
            out.append(f"{';'.join(path)} {us}")
        return out


def _folded_name(name: str) -> str:
    # A frame or thread name may hold what separates a folded line's fields.
    return name.replace(";", ":").replace("\n", " ").replace("\r", " ") or "[unknown]"


@dataclass
class _Pending:
    out_ns: int
    state: str
    stack: list[int]


class OffCpuParser:
    """Reads the perf script text piece by piece (feed), then computes the waits (finish)."""

    def __init__(self, window_start_s: float | None = None, window_end_s: float | None = None,
                 at_start: dict[int, dict[str, Any]] | None = None) -> None:
        start = None if window_start_s is None else round(window_start_s * 1e9)
        end = None if window_end_s is None else round(window_end_s * 1e9)
        self.result = OffCpu(start, end)
        self.at_start = at_start or {}  # tid -> {"pid", "comm", "state", "stack": [kernel frame names]}
        self._frame_ids: dict[Frame, int] = {}
        self._frame_lines: dict[bytes, int] = {}  # a frame line repeats verbatim: parsed once
        self._reasons: dict[tuple[tuple[int, ...], str], str] = {}  # (stack, state) -> reason
        self._rest = b""
        self._current: tuple[int, int, _Pending] | None = None  # (pid, tid, switch out being read)
        self._pending: dict[int, _Pending] = {}
        self._seen: set[int] = set()       # tids with any event
        self._forked: dict[int, int] = {}  # tid -> pid, threads created during the window
        self._comm: dict[int, str] = {}
        self._pid: dict[int, int] = {}
        self._first_ns: int | None = None
        self._last_ns: int | None = None

    # -- reading ----------------------------------------------------------------------------

    def feed(self, piece: bytes) -> None:
        data = self._rest + piece
        cut = data.rfind(b"\n") + 1
        self._rest = data[cut:]
        for line in data[:cut].split(b"\n")[:-1]:
            self._line(line)

    def _line(self, line: bytes) -> None:
        if line.startswith(b"\t"):
            if self._current is not None:
                self._current[2].stack.append(self._frame(line))
            return
        self._end_sample()
        if not line.strip() or line.startswith(b"#"):
            return
        m = _HEAD.match(line)
        if m is None:
            self.result.bad_lines += 1
            return
        pid, tid = int(m.group(1)), int(m.group(2))
        ns = int(m.group(3)) * 1_000_000_000 + int(m.group(4).ljust(9, b"0")[:9])
        rest = m.group(5)
        if rest.startswith(b"PERF_RECORD_SWITCH"):
            self._stamp(ns)
            if rest.split()[1:2] == [b"IN"]:
                self._switch_in(pid, tid, ns)
        elif rest.startswith(EVENT.encode() + b":"):
            self._stamp(ns)
            self._switch_out(pid, tid, ns, rest)
        elif rest.startswith(b"PERF_RECORD_FORK"):
            f = _FORK.match(rest)
            if f is not None and ns > 0:
                self._forked[int(f.group(2))] = int(f.group(1))
        elif rest.startswith(b"PERF_RECORD_COMM"):
            c = _COMM.match(rest)
            if c is not None:
                self._comm[int(c.group(3))] = c.group(1).decode("utf-8", "replace")
                self._pid.setdefault(int(c.group(3)), int(c.group(2)))
        elif rest.startswith(b"PERF_RECORD_LOST"):
            lost = _LOST.match(rest)
            self.result.lost += int(lost.group(1)) if lost is not None else 1

    def _stamp(self, ns: int) -> None:
        if self._first_ns is None:
            self._first_ns = ns
        self._last_ns = ns

    def _frame(self, line: bytes) -> int:
        fid = self._frame_lines.get(line)
        if fid is None:
            if len(self._frame_lines) >= LINE_CACHE:
                self._frame_lines.clear()
            fid = self._frame_lines[line] = self._parse_frame(line)
        return fid

    def _parse_frame(self, line: bytes) -> int:
        text = line.decode("utf-8", "replace").strip()
        addr, _, rest = text.partition(" ")
        name, module = rest.strip(), ""
        if name.endswith(")"):
            k = _balanced_open(name)
            if k > 0:
                name, module = name[:k].rstrip(), name[k + 1:-1]
        name = _strip_offset(name) or "[unknown]"
        kernel = module.startswith("[kernel") or (len(addr) == 16 and addr[:4].lower() == "ffff")
        base = module.rsplit("/", 1)[-1]
        if name == "[unknown]" and base and base != "[unknown]":
            name = f"[{base}]"
        frame = Frame(name, base, kernel)
        fid = self._frame_ids.get(frame)
        if fid is None:
            fid = self._frame_ids[frame] = len(self.result.frames)
            self.result.frames.append(frame)
        return fid

    def _switch_out(self, pid: int, tid: int, ns: int, rest: bytes) -> None:
        m = _SWITCH.search(rest)
        if m is None or int(m.group(1)) != tid:
            self.result.bad_lines += 1
            return
        comm_start = rest.find(b"prev_comm=")
        if comm_start >= 0:
            comm = rest[comm_start + 10:m.start() - 1]
            if len(comm) <= COMM_MAX:
                self._comm[tid] = comm.decode("utf-8", "replace")
        self._pid[tid] = pid
        self._current = (pid, tid, _Pending(ns, m.group(2).decode("ascii", "replace"), []))

    def _end_sample(self) -> None:
        if self._current is None:
            return
        pid, tid, pending = self._current
        self._current = None
        if pending.state[:1] in ("X", "Z"):  # the thread is exiting: no wait follows
            self._pending.pop(tid, None)
            self._seen.add(tid)
            return
        self._seen.add(tid)
        lo, hi = self.result.window_start_ns, self.result.window_end_ns
        if (lo is None or pending.out_ns >= lo) and (hi is None or pending.out_ns <= hi):
            self.result.switch_outs += 1
        # A switch out while another is pending means the switch in between was lost: drop it.
        self._pending[tid] = pending

    def _switch_in(self, pid: int, tid: int, ns: int) -> None:
        self._pid.setdefault(tid, pid)
        pending = self._pending.pop(tid, None)
        first = tid not in self._seen
        self._seen.add(tid)
        if pending is not None:
            self._add(tid, pending.stack, pending.state, self._span(pending.out_ns, ns))
        elif first and tid not in self._forked:
            self._from_start(tid, ns)

    # -- waits ------------------------------------------------------------------------------

    def _thread(self, tid: int) -> ThreadWaits:
        t = self.result.threads.get(tid)
        if t is None:
            snap = self.at_start.get(tid, {})
            pid = self._pid.get(tid, snap.get("pid", tid))
            t = self.result.threads[tid] = ThreadWaits(pid, tid, "")
        comm = self._comm.get(tid) or self.at_start.get(tid, {}).get("comm") or t.comm or "?"
        t.comm = comm
        return t

    def _add(self, tid: int, stack: list[int], state: str, ns: int, reason: str | None = None,
             before: bool = False) -> None:
        if ns <= 0:
            return
        t = self._thread(tid)
        if state[:1] == "R":
            t.preempted_ns += ns
            t.preemptions += 1
            return
        frames = tuple(stack)
        if reason is None:
            reason = self._reasons.get((frames, state[:1]))
            if reason is None:
                reason = reason_of([self.result.frames[f].name for f in frames if self.result.frames[f].kernel], state)
                self._reasons[(frames, state[:1])] = reason
        t.blocked_ns += ns
        t.waits += 1
        t.by_reason[reason] = t.by_reason.get(reason, 0) + ns
        key = (tid, frames, reason)
        if before:
            self.result.began_before.add(key)
        entry = self.result.stacks.get(key)
        if entry is None:
            self.result.stacks[key] = [ns, 1]
        else:
            entry[0] += ns
            entry[1] += 1

    def _span(self, begin: int, end: int | None) -> int:
        """Nanoseconds of [begin, end] inside the window."""
        lo, hi = self.result.window_start_ns, self._window_end()
        if lo is not None:
            begin = max(begin, lo)
        if hi is not None:
            end = hi if end is None else min(end, hi)
        return 0 if end is None else end - begin

    def _from_start(self, tid: int, until_ns: int | None) -> None:
        """The part of a wait that began before the recording: from the window's start."""
        start = self.result.window_start_ns
        if start is None:
            return
        ns = self._span(start, until_ns)
        if ns <= 0:
            return
        snap = self.at_start.get(tid)
        if snap is not None and str(snap.get("state", "S"))[:1] in ("R", "X", "Z"):
            return  # running (or runnable) when the recording began: not blocked
        kernel = [str(n) for n in (snap or {}).get("stack", [])]
        stack = [self._frame_id(Frame(n, "[kernel.kallsyms]", True)) for n in kernel]
        state = str((snap or {}).get("state", "S"))
        reason = reason_of(kernel, state) if kernel else UNKNOWN
        self._add(tid, stack, state, ns, reason, before=True)

    def _frame_id(self, frame: Frame) -> int:
        fid = self._frame_ids.get(frame)
        if fid is None:
            fid = self._frame_ids[frame] = len(self.result.frames)
            self.result.frames.append(frame)
        return fid

    def _window_end(self) -> int | None:
        return self.result.window_end_ns if self.result.window_end_ns is not None else self._last_ns

    def finish(self) -> OffCpu:
        if self._rest:
            self._line(self._rest)
            self._rest = b""
        self._end_sample()
        end = self._window_end()
        for tid, pending in list(self._pending.items()):
            if end is not None:
                self._add(tid, pending.stack, pending.state, self._span(pending.out_ns, end))
        self._pending.clear()
        # Threads blocked for the whole window: no event at all, but blocked when it began.
        for tid, snap in self.at_start.items():
            if tid not in self._seen and tid not in self._forked:
                self._pid.setdefault(tid, int(snap.get("pid", tid)))
                self._from_start(tid, None)
        return self.result


def _balanced_open(text: str) -> int:
    """The index of the "(" that balances the final ")" of text, or -1."""
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        c = text[i]
        if c == ")":
            depth += 1
        elif c == "(":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _strip_offset(name: str) -> str:
    k = name.rfind("+0x")
    if k > 0 and name[k + 3:] and not name[k + 3:].strip("0123456789abcdef"):
        return name[:k]
    return name


def parse(pieces: Iterable[bytes], window_start_s: float | None = None, window_end_s: float | None = None,
          at_start: dict[int, dict[str, Any]] | None = None) -> OffCpu:
    parser = OffCpuParser(window_start_s, window_end_s, at_start)
    for piece in pieces:
        parser.feed(piece)
    return parser.finish()
