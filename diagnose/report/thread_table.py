"""The table of measured threads in the terminal and Markdown reports: the threads `diagnose run`
read from /proc (diagnose.capture.threadstat), busiest first, with their role, the cores they used, the
part of the window they were runnable, their run-queue wait and their context switches per second.
Cells are plain text; each renderer escapes them its own way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from diagnose.report.labels import label
from diagnose.expert.thread_facts import measured, number, thread_rows

if TYPE_CHECKING:
    from diagnose.expert.analysis import Analysis

TOP = 10


@dataclass(frozen=True)
class ThreadTable:
    title: str
    header: list[str]
    align: list[str]  # "l" or "r" per column
    rows: list[list[str]]
    notes: list[str]


def _num(x: Any, fmt: str) -> str:
    n = number(x)
    return "–" if n is None else format(n, fmt)


def _pct(x: Any) -> str:
    n = number(x)
    return "–" if n is None else f"{100 * n:.1f}%"


def thread_table(analysis: Analysis, top: int = TOP) -> ThreadTable | None:
    """None when the capture has no thread statistics (not a `diagnose run` folder, or turned off)."""
    threads = measured(analysis.profile.capture.environment)
    if threads is None:
        return None
    lang = analysis.lang
    L = lambda k: label(k, lang)  # noqa: E731
    rows = thread_rows(threads)[:top]
    kb = analysis.knowledge
    roles = [(kb.role_text(str(r["comm"]), lang) if kb is not None else None) or "" for r in rows]
    body = [[f"{r['comm']} {r.get('pid')}/{r.get('tid')}", _num(r.get("cores"), ".3f"), _pct(r.get("runnable")),
             _pct(r.get("wait_per_s")), _num(r.get("wait_us_per_slice"), ",.0f") + (" µs" if number(
                 r.get("wait_us_per_slice")) is not None else ""),
             _num(r.get("voluntary_per_s"), ",.0f"), _num(r.get("involuntary_per_s"), ",.0f")] for r in rows]
    header = [L("th_thread"), L("th_cores"), L("th_runnable"), L("th_wait"), L("th_wait_slice"), L("th_vol"),
              L("th_invol")]
    align = ["l", "r", "r", "r", "r", "r", "r"]
    if any(roles):  # the role column only when a name says one
        header.insert(1, L("role"))
        align.insert(1, "l")
        for row, text in zip(body, roles):
            row.insert(1, text)
    notes = [n for n in threads.get("notes") or [] if isinstance(n, str)]
    count = number(threads.get("thread_count"))
    if count is not None and count > len(body):
        notes.append(L("th_more").format(n=int(count) - len(body)))
    return ThreadTable(L("th_title").format(window=f"{number(threads['window_s']):.2f}"), header, align, body, notes)
