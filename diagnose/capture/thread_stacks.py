"""The state of the recorded threads when an off-CPU recording begins, read from /proc: each
thread's state and the kernel stack it waits in (or its wchan), for the waits that began before
the recording (diagnose.expert.offcpu takes them as its at_start)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_PROC_FRAME = re.compile(r"^\[<[0-9a-fx]+>\]\s+([^+\s]+)")


def snapshot_threads(pids: Iterable[int], proc: Path = Path("/proc")) -> dict[int, dict[str, Any]]:
    """tid -> {pid, comm, state, stack}: each thread's state (/proc/PID/task/TID/stat) and, when
    the kernel shows it (root), its kernel stack (/proc/PID/task/TID/stack, innermost first),
    else the function it waits in (wchan)."""
    out: dict[int, dict[str, Any]] = {}
    for pid in pids:
        try:
            tids = [int(t.name) for t in (proc / str(pid) / "task").iterdir() if t.name.isdigit()]
        except OSError:
            continue
        for tid in tids:
            task = proc / str(pid) / "task" / str(tid)
            try:
                stat = (task / "stat").read_text(errors="replace")
            except OSError:
                continue
            close = stat.rfind(")")
            comm = stat[stat.find("(") + 1:close]
            state = stat[close + 2:close + 3] or "?"
            out[tid] = {"pid": pid, "comm": comm, "state": state, "stack": _kernel_stack(task)}
    return out


def _kernel_stack(task: Path) -> list[str]:
    try:
        lines = (task / "stack").read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    names = [m.group(1) for m in map(_PROC_FRAME.match, lines) if m is not None]
    if names:
        return names
    try:
        wchan = (task / "wchan").read_text(errors="replace").strip()
    except OSError:
        return []
    return [wchan] if wchan and wchan != "0" else []
