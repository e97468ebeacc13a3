"""What the reports show of off-CPU time: the "off_cpu" part of environment.json and of the JSON
report (field names are a contract), each blocking stack in one line."""

from __future__ import annotations

import re
from typing import Any

from diagnose.expert.offcpu import EVENT, OffCpu
from diagnose.expert.offcpu_reasons import ALL

_SCHEDULER = re.compile(r"^(__)?schedule(_.*)?$|^preempt_schedule.*|^io_schedule.*|^finish_task_switch.*")

TOP_STACKS = 20
TOP_THREADS = 50
STACK_FRAMES = 40


def stack_summary(frames: list[dict[str, Any]]) -> str:
    """A blocking stack in one line: its wait function in the kernel (below the scheduler) and
    the user-space frames that made the call, innermost first."""
    kernel = [f["name"] for f in frames if f.get("kind") == "kernel" and not _SCHEDULER.match(f["name"])]
    user = [f["name"] for f in frames if f.get("kind") != "kernel" and f["name"] != "[unknown]"]
    parts = kernel[:1] + user[:3]
    text = " ← ".join(parts) if parts else (frames[0]["name"] if frames else "?")
    return text + (" ← …" if len(user) > 3 else "")


def summary(off: OffCpu, folded_file: str | None = None, flamegraph_file: str | None = None,
            top_stacks: int = TOP_STACKS) -> dict[str, Any]:
    """The off_cpu part of environment.json and of the JSON report (field names are a contract)."""
    start, end = off.window_start_ns, off.window_end_ns
    window_s = (end - start) / 1e9 if start is not None and end is not None and end > start else None
    threads = sorted(off.threads.values(), key=lambda t: (-t.blocked_ns, t.tid))
    total = sum(t.blocked_ns for t in threads)
    reasons: dict[str, list[int]] = {}
    for (_tid, _stack, reason), (ns, n) in off.stacks.items():
        r = reasons.setdefault(reason, [0, 0])
        r[0] += ns
        r[1] += n
    top: dict[int, dict[str, Any]] = {}
    rows = []
    for (tid, stack, reason), (ns, n) in sorted(off.stacks.items(), key=lambda kv: (-kv[1][0], kv[0][0])):
        t = off.threads[tid]
        frames = [{"name": off.frames[f].name, "module": off.frames[f].module,
                   "kind": "kernel" if off.frames[f].kernel else "user"} for f in stack[:STACK_FRAMES]]
        row = {"pid": t.pid, "tid": t.tid, "comm": t.comm, "reason": reason, "seconds": _s(ns), "waits": n,
               "share_of_thread": round(ns / t.blocked_ns, 6) if t.blocked_ns else None,
               "summary": stack_summary(frames), "frames": frames, "frame_count": len(stack),
               "began_before_window": (tid, stack, reason) in off.began_before}
        top.setdefault(tid, row)
        if len(rows) < top_stacks:
            rows.append(row)
    return {
        "recorded": True,
        "event": EVENT,
        "window": {"clock": "CLOCK_MONOTONIC", "start_s": _s(start), "end_s": _s(end),
                   "duration_s": round(window_s, 6) if window_s is not None else None},
        "blocked_s": _s(total),
        "by_reason": [{"reason": r, "seconds": _s(v[0]), "waits": v[1],
                       "share": round(v[0] / total, 6) if total else None}
                      for r, v in sorted(reasons.items(), key=lambda kv: (-kv[1][0], ALL.index(kv[0])))],
        "threads": [{"pid": t.pid, "tid": t.tid, "comm": t.comm, "blocked_s": _s(t.blocked_ns),
                     "blocked_share_of_window": round(t.blocked_ns / 1e9 / window_s, 6) if window_s else None,
                     "waits": t.waits, "preempted_s": _s(t.preempted_ns), "preemptions": t.preemptions,
                     "by_reason": {r: _s(v) for r, v in sorted(t.by_reason.items(), key=lambda kv: -kv[1])},
                     "top_stack": _brief(top.get(t.tid))}
                    for t in threads[:TOP_THREADS]],
        "thread_count": len(threads),
        "stacks": rows,
        "stack_count": len(off.stacks),
        "switch_outs": off.switch_outs,
        "lost_events": off.lost,
        "unreadable_lines": off.bad_lines,
        "folded": folded_file,
        "flamegraph": flamegraph_file,
    }


def _brief(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {k: row[k] for k in ("reason", "seconds", "waits", "summary")}


def _s(ns: int | None) -> float | None:
    return None if ns is None else round(ns / 1e9, 6)
