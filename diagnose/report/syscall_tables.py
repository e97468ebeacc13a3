"""The counted system calls (diagnose.expert.syscall_costs) as a table the terminal and Markdown reports
both show, and the lines saying which measured facts a capture lacks (diagnose.expert.measured_facts)."""

from __future__ import annotations

from dataclasses import dataclass

from diagnose.expert.analysis import Analysis
from diagnose.expert.measured_facts import missing
from diagnose.report.labels import label
from diagnose.expert.syscall_costs import Costs, costs

TOP_CALLS = 12
TOP_THREADS = 2


@dataclass(frozen=True)
class CountTable:
    title: str
    header: list[str]
    rows: list[list[str]]
    align: list[str]
    notes: list[str]


def _us(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}" if x < 100 else f"{x:,.0f}"


def _cost(value: float | None, ci: tuple[float, float] | None, lang: str) -> str:
    if value is None:
        # No sample caught the call: only its upper bound is known.
        return label("sc_below", lang).format(hi=_us(ci[1])) if ci else "–"
    return f"{_us(value)} ({_us(ci[0])}–{_us(ci[1])})" if ci else _us(value)


def count_table(analysis: Analysis) -> CountTable | None:
    """The counted calls, most made first; None when the capture has no counts."""
    if analysis.knowledge is None:
        return None
    c: Costs | None = costs(analysis.profile, analysis.knowledge, analysis.profile.capture.environment)
    if c is None:
        return None
    lang = analysis.lang
    s = c.stored
    busiest: dict[str, list[tuple[int, str, int]]] = {}
    for t in s.get("threads", []):
        for name, k in t.get("by_call", {}).items():
            busiest.setdefault(name, []).append((k, t.get("comm", ""), t["tid"]))
    rows = []
    for cc in c.calls[:TOP_CALLS]:
        threads = sorted(busiest.get(cc.name, []), reverse=True)[:TOP_THREADS]
        rows.append([cc.name, f"{cc.calls:,}", f"{cc.calls_per_s or 0:,.0f}", _cost(cc.cpu_us_per_call, cc.cpu_us_ci95, lang),
                     "–" if c.inferred else _cost(cc.entry_exit_us_per_call, cc.entry_exit_ci95, lang),
                     ", ".join(f"{comm}/{tid} {k / c.window_s:,.0f}" for k, comm, tid in threads)])
    other = (s.get("other") or {}).get("calls_per_s") or 0
    notes = [label("sc_total", lang).format(total=f"{s['total']:,}", rate=f"{s.get('total_per_s') or 0:,.0f}",
                                           other=f"{other:,.0f}"),
             label("sc_how", lang), *s.get("notes", [])]
    return CountTable(label("sc_title", lang).format(s=f"{c.window_s:.2f}", method=s.get("method", "perf stat")),
                      [label(k, lang) for k in ("sc_call", "sc_calls", "sc_rate", "sc_us", "sc_entry", "sc_threads")],
                      rows, ["l", "r", "r", "r", "r", "l"], notes)


def missing_lines(analysis: Analysis) -> list[str]:
    """One line per group of measured facts the capture lacks, with how to get it."""
    return [m.texts.get(analysis.lang) or m.texts["en"] for m in missing(analysis.profile.capture.environment)]
