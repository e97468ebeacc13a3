"""The per-thread scheduler statistics of a `diagnose run` folder (environment["threads"], written
by diagnose.capture.threadstat) as rules and reports read them back: only values of the types threadstat
writes count (a damaged or hand-edited file reads as "not measured", never as an error), and the
threads the rules name are given their role from knowledge/threads.yaml, in each language."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diagnose.expert.knowledge import Knowledge

LANGS = ("en", "zh")
# Threads the rules name (environment["threads"][key]).
NAMED = ("busiest", "most_delayed")


def number(x: Any) -> float | None:
    """A finite number, else None (a bool, a text, NaN, an int too large for a float)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    try:
        value = float(x)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def text(x: Any) -> str | None:
    return x if isinstance(x, str) else None


def measured(env: dict[str, Any] | None) -> dict[str, Any] | None:
    """environment["threads"] when it holds a usable measurement (a positive window, some thread
    measured), else None."""
    threads = (env or {}).get("threads") if isinstance(env, dict) else None
    if not isinstance(threads, dict):
        return None
    window, count = number(threads.get("window_s")), number(threads.get("thread_count"))
    # No thread measured (every target exited in the window): nothing to report as measured.
    return threads if window is not None and window > 0 and count else None


def thread_rows(threads: dict[str, Any]) -> list[dict[str, Any]]:
    """The listed threads that have a name, busiest first as stored."""
    rows = threads.get("threads")
    return [r for r in rows if isinstance(r, dict) and text(r.get("comm")) is not None] if isinstance(rows, list) else []


def thread_label(row: dict[str, Any]) -> str:
    """"encoder (pid 7, tid 8)"."""
    ids = [f"{k} {row[k]}" for k in ("pid", "tid") if number(row.get(k)) is not None]
    return f"{row.get('comm')}" + (f" ({', '.join(ids)})" if ids else "")


def role(kb: Knowledge | None, row: dict[str, Any]) -> dict[str, str]:
    """What the thread does, from its name; else which process it belongs to."""
    comm = str(row.get("comm"))
    if kb is not None and kb.thread_role(comm) is not None:
        return {lang: kb.role_text(comm, lang) or "" for lang in LANGS}
    process = text(row.get("process")) or "?"
    return {"en": f"a thread of {process} (no known role by its name)",
            "zh": f"{process} 的线程（名称未对应已知角色）"}


def with_roles(env: dict[str, Any], kb: Knowledge | None) -> dict[str, Any]:
    """The environment the rules read: environment["threads"]'s named threads get "label" and a
    localised "role"; "targets" names the recorded processes. Unchanged without thread statistics."""
    threads = measured(env)
    if threads is None:
        return env
    view = dict(threads)
    for key in NAMED:
        row = threads.get(key)
        if isinstance(row, dict) and text(row.get("comm")) is not None:
            view[key] = {**row, "label": thread_label(row), "role": role(kb, row)}
    procs = [p for p in threads.get("processes") or [] if isinstance(p, dict) and text(p.get("comm")) is not None]
    if procs:
        names = ", ".join(f"{p['comm']} (pid {p.get('pid')})" for p in procs[:6])
        more = len(procs) - 6
        view["targets"] = {"en": names + (f" and {more} more" if more > 0 else ""),
                           "zh": names + (f" 等另外 {more} 个进程" if more > 0 else "")}
    return {**env, "threads": view}
