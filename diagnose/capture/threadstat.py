"""Per-thread scheduler counters of the recorded processes, read from /proc at the start and the
end of a recording: CPU time, voluntary and involuntary context switches, and the time each
thread spent runnable but waiting for a CPU (run-queue wait). Their differences over the window
say how busy each thread was (cores), how often it slept and woke (switches/s), and how long the
scheduler kept it waiting (a thread near a full core, or waiting often, is saturated).

Per thread, /proc/PID/task/TID/:
    stat       comm, utime and stime (clock ticks), starttime (tells a reused tid apart)
    status     voluntary_ctxt_switches, nonvoluntary_ctxt_switches
    schedstat  time on a CPU (ns), time runnable on a run queue (ns), timeslices run
and /proc/PID/stat for the whole process (its utime and stime include threads that have ended,
so the CPU of a thread that ends during the window is still counted, as the process's).

Shape of environment["threads"] (rates are over window_s, the time between the two readings):

    {"source": "/proc/PID/task/TID/{stat,status,schedstat}", "clock": "CLOCK_MONOTONIC",
     "start_s": 1234.5, "start_read_s": 0.002, "end_s": 1237.5, "end_read_s": 0.002, "window_s": 3.0,
     "schedstat": true, "cores": 1.02, "cpu_s": 3.06, "voluntary": 300, "involuntary": 12,
     "voluntary_per_s": 100.0, "involuntary_per_s": 4.0, "cpu_us_per_wakeup": 10200.0,
     "thread_count": 3, "threads_listed": 3,
     "processes": [{"pid": 7, "comm": "app", "cores": 1.02, "cpu_s": 3.06, "threads_cpu_s": 3.055, "threads": 3,
                    "started": 0, "ended": 0, "voluntary": 300, "involuntary": 12,
                    "voluntary_per_s": 100.0, "involuntary_per_s": 4.0}],
     "threads": [{"pid": 7, "tid": 8, "comm": "encoder", "process": "app", "seen": "whole", "cores": 0.99,
                  "cpu_s": 2.97, "user_s": 2.9, "system_s": 0.07, "voluntary": 2, "involuntary": 10,
                  "voluntary_per_s": 0.667, "involuntary_per_s": 3.333, "wait_s": 0.05, "wait_per_s": 0.0167,
                  "wait_ratio": 0.0168, "timeslices": 12, "wait_us_per_slice": 4166.7, "runnable": 1.0}, ...],
     "busiest": {the listed thread that was runnable the largest part of the window},
     "most_delayed": {the listed thread with the most run-queue wait per second},
     "notes": ["one line each: threads that started or ended in the window, what could not be read"]}

"seen" is "whole" (there at both readings), "started" (appeared during the window: all its
counts are in it). Threads are listed busiest first, at most LISTED of them; the totals count all.
A process's cpu_s comes from /proc/PID/stat (clock ticks: threads that ended in the window are
in it), threads_cpu_s is the sum over its live threads (schedstat, ns); its switches are those
of its live threads.
Without schedstat (a kernel without CONFIG_SCHED_INFO) cpu comes from utime+stime and the wait
fields are null.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LISTED = 50
SOURCE = "/proc/PID/task/TID/{stat,status,schedstat}"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _stat_fields(text: str) -> tuple[str, list[str]] | None:
    """comm and the fields after it of a /proc stat line; the comm may hold spaces and ')'."""
    open_, close = text.find("("), text.rfind(")")
    if open_ < 0 or close < open_:
        return None
    return text[open_ + 1:close], text[close + 2:].split()


def _thread(task: Path) -> dict[str, Any] | None:
    """One reading of a thread, or None when it ended while being read."""
    parsed = _stat_fields(_read(task / "stat") or "")
    status = _read(task / "status")
    if parsed is None or status is None:
        return None
    comm, f = parsed
    try:
        row: dict[str, Any] = {"comm": comm, "start": int(f[19]), "utime": int(f[11]), "stime": int(f[12])}
    except (IndexError, ValueError):
        return None
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key == "voluntary_ctxt_switches":
            row["voluntary"] = int(value)
        elif key == "nonvoluntary_ctxt_switches":
            row["involuntary"] = int(value)
    sched = (_read(task / "schedstat") or "").split()
    if len(sched) >= 3 and all(x.isdigit() for x in sched[:3]):
        row["run_ns"], row["wait_ns"], row["slices"] = (int(x) for x in sched[:3])
    return row


def _process(pid: int) -> dict[str, Any] | None:
    parsed = _stat_fields(_read(PROC / str(pid) / "stat") or "")
    if parsed is None:
        return None
    comm, f = parsed
    try:
        out: dict[str, Any] = {"comm": comm, "start": int(f[19]), "ticks": int(f[11]) + int(f[12]), "threads": {}}
    except (IndexError, ValueError):
        return None
    try:
        tids = [t.name for t in (PROC / str(pid) / "task").iterdir() if t.name.isdigit()]
    except OSError as exc:
        out["error"] = f"cannot list /proc/{pid}/task ({exc.strerror})"
        return out
    for tid in tids:
        row = _thread(PROC / str(pid) / "task" / tid)
        if row is not None:
            out["threads"][int(tid)] = row
    return out


def snapshot(pids: list[int]) -> dict[str, Any]:
    """Every thread of the processes now, and when (CLOCK_MONOTONIC) and how long reading took."""
    begin = time.monotonic()
    procs = {pid: p for pid in pids if (p := _process(pid)) is not None}
    return {"time": begin, "read_s": time.monotonic() - begin, "processes": procs,
            "missing": [pid for pid in pids if pid not in procs]}


def _per_s(value: float | None, seconds: float) -> float | None:
    return round(value / seconds, 3) if value is not None and seconds > 0 else None


def _thread_delta(pid: int, tid: int, process: str, old: dict[str, Any] | None, new: dict[str, Any],
                  seconds: float) -> dict[str, Any]:
    base = old or {}
    seen = "whole" if old is not None else "started"

    def d(key: str) -> int | None:
        if key not in new:
            return None
        return max(new[key] - base.get(key, 0), 0)

    ticks = d("utime"), d("stime")
    run_ns, wait_ns, slices = d("run_ns"), d("wait_ns"), d("slices")
    cpu_s = run_ns / 1e9 if run_ns is not None else sum(t or 0 for t in ticks) / CLOCK_TICKS
    vol, invol = d("voluntary"), d("involuntary")
    wait_s = wait_ns / 1e9 if wait_ns is not None else None
    row: dict[str, Any] = {
        "pid": pid, "tid": tid, "comm": new["comm"], "process": process, "seen": seen,
        "cores": _per_s(cpu_s, seconds), "cpu_s": round(cpu_s, 6),
        "user_s": round((ticks[0] or 0) / CLOCK_TICKS, 3), "system_s": round((ticks[1] or 0) / CLOCK_TICKS, 3),
        "voluntary": vol, "involuntary": invol,
        "voluntary_per_s": _per_s(vol, seconds), "involuntary_per_s": _per_s(invol, seconds),
        "wait_s": round(wait_s, 6) if wait_s is not None else None,
        "wait_per_s": _per_s(wait_s, seconds),
        "wait_ratio": round(wait_s / cpu_s, 4) if wait_s is not None and cpu_s > 0 else None,
        "timeslices": slices,
        "wait_us_per_slice": round(1e6 * wait_s / slices, 1) if wait_s is not None and slices else None,
        # The part of the window the thread wanted a CPU: running, or runnable and kept waiting.
        "runnable": _per_s(cpu_s + (wait_s or 0.0), seconds),
    }
    return row


def difference(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """environment["threads"] from two snapshots (see the module's docstring)."""
    seconds = after["time"] - before["time"]
    rows: list[dict[str, Any]] = []
    processes: list[dict[str, Any]] = []
    notes: list[str] = []
    has_sched = False
    for pid, old in before["processes"].items():
        new = after["processes"].get(pid)
        if new is None or new["start"] != old["start"]:
            notes.append(f"pid {pid} ({old['comm']}) exited during the window: its threads are not counted")
            processes.append({"pid": pid, "comm": old["comm"], "exited": True})
            continue
        for p in (old, new):
            if "error" in p:
                notes.append(p["error"])
        mine = []
        for tid, t in new["threads"].items():
            prev = old["threads"].get(tid)
            if prev is not None and prev["start"] != t["start"]:
                prev = None  # the tid was reused by a new thread
            mine.append(_thread_delta(pid, tid, new["comm"], prev, t, seconds))
            has_sched = has_sched or "run_ns" in t
        ended = [tid for tid, t in old["threads"].items()
                 if tid not in new["threads"] or new["threads"][tid]["start"] != t["start"]]
        started = sum(r["seen"] == "started" for r in mine)
        # The process's utime+stime (clock ticks) count every thread, those that ended included.
        cpu = max(new["ticks"] - old["ticks"], 0) / CLOCK_TICKS
        vol = sum(r["voluntary"] or 0 for r in mine)
        invol = sum(r["involuntary"] or 0 for r in mine)
        if started or ended:
            notes.append(f"pid {pid} ({new['comm']}): {started} thread(s) started and {len(ended)} ended during the "
                         f"window; a started thread is counted from its start; the CPU time of an ended one is in "
                         f"the process's total, its context switches are not")
        processes.append({"pid": pid, "comm": new["comm"], "cores": _per_s(cpu, seconds), "cpu_s": round(cpu, 6),
                          "threads_cpu_s": round(sum(r["cpu_s"] for r in mine), 6),
                          "threads": len(mine), "started": started, "ended": len(ended),
                          "voluntary": vol, "involuntary": invol,
                          "voluntary_per_s": _per_s(vol, seconds), "involuntary_per_s": _per_s(invol, seconds)})
        rows.extend(mine)
    for pid in before.get("missing", []):
        notes.append(f"pid {pid}: /proc/{pid}/stat could not be read at the start: its threads are not counted")
    rows.sort(key=lambda r: (-(r["runnable"] or 0), -(r["cores"] or 0), r["tid"]))
    live = [p for p in processes if not p.get("exited")]
    cpu = sum(p["cpu_s"] for p in live)
    vol = sum(p["voluntary"] for p in live)
    invol = sum(p["involuntary"] for p in live)
    out: dict[str, Any] = {
        "source": SOURCE, "clock": "CLOCK_MONOTONIC",
        "start_s": round(before["time"], 6), "start_read_s": round(before["read_s"], 6),
        "end_s": round(after["time"], 6), "end_read_s": round(after["read_s"], 6),
        "window_s": round(seconds, 6), "schedstat": has_sched,
        "cores": _per_s(cpu, seconds), "cpu_s": round(cpu, 6), "voluntary": vol, "involuntary": invol,
        "voluntary_per_s": _per_s(vol, seconds), "involuntary_per_s": _per_s(invol, seconds),
        # CPU each wake-up buys: small means the threads mostly wait for each other or for I/O.
        "cpu_us_per_wakeup": round(1e6 * cpu / vol, 1) if vol else None,
        "thread_count": len(rows), "threads_listed": min(len(rows), LISTED),
        "processes": processes, "threads": rows[:LISTED],
        "busiest": rows[0] if rows else None,
        "most_delayed": max(rows, key=lambda r: (r["wait_per_s"] or 0, -r["tid"])) if has_sched and rows else None,
        "notes": notes,
    }
    if rows and not has_sched:
        notes.append("/proc/PID/task/TID/schedstat is not readable (a kernel without CONFIG_SCHED_INFO): "
                     "CPU time comes from utime+stime and run-queue waits are not known")
    return out


def unread(measured: dict[str, Any]) -> str | None:
    """One line when no thread could be measured, saying why; None when some were."""
    if measured["thread_count"]:
        return None
    why = "; ".join(measured["notes"][:2]) or "no thread of the targets could be read"
    return f"per-thread CPU time, context switches and run-queue waits not collected ({why}); the profile was recorded"


class Window:
    """The two readings around a recording: the first at the recording's start (the first
    progress call of the recorder, made once perf has enabled its events), the last when the
    requested duration is reached (or, if the recording stopped otherwise, when asked to finish)."""

    def __init__(self, pids: list[int], duration_s: float) -> None:
        self.pids = pids
        self.duration_s = duration_s
        self.first: dict[str, Any] | None = None
        self.last: dict[str, Any] | None = None

    def progress(self, elapsed: float) -> None:
        if self.first is None:
            self.first = snapshot(self.pids)
        elif self.last is None and elapsed >= self.duration_s:
            self.last = snapshot(self.pids)

    def finish(self) -> dict[str, Any] | None:
        """environment["threads"], or None if the recording never started."""
        if self.first is None:
            return None
        if self.last is None:
            self.last = snapshot(self.pids)
        return difference(self.first, self.last)
