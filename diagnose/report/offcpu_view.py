"""The off-CPU section of the reports (diagnose run --off-cpu): where the threads waited, per
thread and per blocking stack, in seconds of the recording window; its own tables, apart from
the CPU shares, in the terminal and Markdown reports (English and Chinese). The data is the
"off_cpu" summary of a run folder's environment.json (diagnose.expert.offcpu_summary.summary)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from diagnose.core.escape import code, fence
from diagnose.core.escape import markdown as md
from diagnose.core.escape import terminal as esc
from diagnose.expert.offcpu_reasons import reason_text

if TYPE_CHECKING:
    from diagnose.expert.analysis import Analysis

TOP_THREADS = 10
TOP_STACKS = 8

TEXTS: dict[str, dict[str, str]] = {
    "title": {"en": "Off-CPU time: where the threads waited (not part of the CPU shares)",
              "zh": "离 CPU 时间：线程在哪里等待（不计入 CPU 占比）"},
    "not_recorded": {"en": "Off-CPU time not recorded: {why}", "zh": "未录制离 CPU 时间：{why}"},
    "window": {"en": "{event} over {window} s ({switches:,} switches out, {rate} per second); blocked {blocked} s "
                     "in all: {reasons}",
               "zh": "{event}，窗口 {window} 秒（切出 {switches:,} 次，每秒 {rate} 次）；共阻塞 {blocked} 秒：{reasons}"},
    "intro": {"en": "Seconds each thread spent blocked (switched out, not runnable) within the window, by the reason "
                    "its stack shows; preempted is time runnable but waiting for a CPU. A thread blocked for the whole "
                    "window shows the window's length.",
              "zh": "每个线程在窗口内处于阻塞（被切出且不可运行）的秒数，按其调用栈显示的原因划分；被抢占指可运行但在等待 CPU 的时间。"
                    "整个窗口都阻塞的线程显示为窗口长度。"},
    "thread": {"en": "thread", "zh": "线程"},
    "role": {"en": "role", "zh": "角色"},
    "blocked": {"en": "blocked s", "zh": "阻塞秒数"},
    "of_window": {"en": "of window", "zh": "占窗口"},
    "waits": {"en": "waits", "zh": "等待次数"},
    "preempted": {"en": "preempted s", "zh": "被抢占秒数"},
    "reason": {"en": "main reason", "zh": "主要原因"},
    "stack": {"en": "top blocking stack (wait ← callers)", "zh": "最主要的阻塞栈（等待点 ← 调用者）"},
    "stacks_title": {"en": "Blocking stacks, longest first", "zh": "阻塞栈（按时间从长到短）"},
    "seconds": {"en": "seconds", "zh": "秒"},
    "why": {"en": "reason", "zh": "原因"},
    "flamegraph": {"en": "Off-CPU flame graph (widths are microseconds blocked)",
                   "zh": "离 CPU 火焰图（宽度为阻塞的微秒数）"},
    "s": {"en": "s", "zh": "秒"},
    "at_start": {"en": "kernel stack read when the recording began: the thread was already blocked",
                 "zh": "录制开始时读取的内核栈：该线程当时已处于阻塞"},
    "lost": {"en": "perf lost {n:,} records: waits around them are missing or cut short",
             "zh": "perf 丢失了 {n:,} 条记录：其前后的等待缺失或被截短"},
}


def text(key: str, lang: str) -> str:
    entry = TEXTS[key]
    return entry.get(lang) or entry["en"]


def off_cpu(analysis: Analysis) -> dict[str, Any] | None:
    """The off-CPU summary of the capture, or None when it has none (not a --off-cpu run)."""
    data = (analysis.profile.capture.environment or {}).get("off_cpu")
    return data if isinstance(data, dict) else None


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def _sec(x: Any) -> str:
    v = _num(x)
    return "–" if v is None else f"{v:.3f}"


def _pct(x: Any) -> str:
    v = _num(x)
    return "–" if v is None else f"{100 * v:.1f}%"


def _list(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key)
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


def headline(data: dict[str, Any], lang: str) -> str:
    """One line: the window, how many switches, blocked time in all and by reason."""
    window = data.get("window") if isinstance(data.get("window"), dict) else {}
    unit = text("s", lang)
    reasons = ", ".join(f"{reason_text(str(r.get('reason')), lang)} {_sec(r.get('seconds'))} {unit} "
                        f"({_pct(r.get('share'))})" for r in _list(data, "by_reason")) or "–"
    switches = data.get("switch_outs") if isinstance(data.get("switch_outs"), int) else 0
    rate = _num(data.get("switch_outs_per_s"))
    return text("window", lang).format(event=str(data.get("event") or "sched:sched_switch"),
                                       window=_sec(window.get("duration_s")), switches=switches,
                                       rate="–" if rate is None else f"{rate:,.0f}", blocked=_sec(data.get("blocked_s")),
                                       reasons=reasons)


def thread_rows(analysis: Analysis, data: dict[str, Any]) -> list[list[str]]:
    """thread, role, blocked s, share of window, waits, preempted s, main reason, top stack."""
    kb, lang = analysis.knowledge, analysis.lang
    rows = []
    for t in _list(data, "threads")[:TOP_THREADS]:
        comm = str(t.get("comm", "?"))
        by_reason = t.get("by_reason") if isinstance(t.get("by_reason"), dict) else {}
        blocked = _num(t.get("blocked_s")) or 0.0
        main = max(by_reason.items(), key=lambda kv: _num(kv[1]) or 0.0, default=None)
        reason = f"{reason_text(str(main[0]), lang, short=True)} {_pct((_num(main[1]) or 0.0) / blocked if blocked else None)}" \
            if main else "–"
        top = t.get("top_stack") if isinstance(t.get("top_stack"), dict) else {}
        role = (kb.role_text(comm, lang) or "") if kb is not None else ""
        rows.append([f"{comm} [{t.get('tid')}]", role, _sec(t.get("blocked_s")), _pct(t.get("blocked_share_of_window")),
                     f"{t.get('waits', 0):,}" if isinstance(t.get("waits"), int) else "–", _sec(t.get("preempted_s")),
                     reason, str(top.get("summary") or "–")])
    return rows


def stack_rows(data: dict[str, Any], lang: str) -> list[list[str]]:
    """#, thread, reason, seconds, waits, stack."""
    return [[str(i), f"{s.get('comm', '?')} [{s.get('tid')}]", reason_text(str(s.get("reason")), lang, short=True),
             _sec(s.get("seconds")), f"{s.get('waits', 0):,}" if isinstance(s.get("waits"), int) else "–",
             str(s.get("summary") or "–")]
            for i, s in enumerate(_list(data, "stacks")[:TOP_STACKS], 1)]


def stack_frames(data: dict[str, Any], lang: str, limit: int = 3) -> list[tuple[str, list[str]]]:
    """The longest blocking stacks in full (innermost first): (heading, frame lines)."""
    out = []
    for s in _list(data, "stacks")[:limit]:
        frames = [f"{f.get('name')}{' [k]' if f.get('kind') == 'kernel' else ''}" for f in _list(s, "frames")]
        note = f" ({text('at_start', lang)})" if s.get("began_before_window") is True else ""
        out.append((f"{s.get('comm', '?')} [{s.get('tid')}] · {reason_text(str(s.get('reason')), lang, short=True)} · "
                    f"{_sec(s.get('seconds'))} {text('s', lang)}{note}", frames))
    return out


# -- terminal ------------------------------------------------------------------------------------

def terminal_renderables(analysis: Analysis) -> list[Any]:
    """The section for the terminal report (empty when the capture has no off-CPU data)."""
    # rich: loaded only when this runs
    from rich import box
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    data = off_cpu(analysis)
    if data is None:
        return []
    lang = analysis.lang
    if data.get("recorded") is not True:
        return [Text(esc(text("not_recorded", lang).format(why=data.get("why") or "–")), style="yellow")]
    body = Text(esc(headline(data, lang)) + "\n")
    body.append(esc(text("intro", lang)), style="dim")
    lost = data.get("lost_events")
    if isinstance(lost, int) and lost:
        body.append("\n" + esc(text("lost", lang).format(n=lost)), style="yellow")
    out: list[Any] = [Panel(body, title=text("title", lang), title_align="left", box=box.ROUNDED)]
    rows = thread_rows(analysis, data)
    roles = any(r[1] for r in rows)
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for key, justify in (("thread", "left"), ("role", "left"), ("blocked", "right"), ("of_window", "right"),
                         ("waits", "right"), ("preempted", "right"), ("reason", "left"), ("stack", "left")):
        if key != "role" or roles:
            t.add_column(text(key, lang), justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        t.add_row(*(Text(esc(c)) for i, c in enumerate(row) if i != 1 or roles))
    out.append(t)
    s = Table(title=text("stacks_title", lang), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for key, justify in (("#", "right"), ("thread", "left"), ("why", "left"), ("seconds", "right"),
                         ("waits", "right"), ("stack", "left")):
        s.add_column("#" if key == "#" else text(key, lang), justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in stack_rows(data, lang):
        s.add_row(*(Text(esc(c)) for c in row))
    out.append(s)
    return out


# -- Markdown ------------------------------------------------------------------------------------

def markdown_lines(analysis: Analysis) -> list[str]:
    """The section for the Markdown report (nothing when the capture has no off-CPU data); it
    links the off-CPU flame graph when written beside the report (in the run folder)."""
    data = off_cpu(analysis)
    if data is None:
        return []
    lang = analysis.lang
    out = [f"## {text('title', lang)}", ""]
    if data.get("recorded") is not True:
        return [*out, md(text("not_recorded", lang).format(why=data.get("why") or "–")), ""]
    out += [md(headline(data, lang)), "", f"_{md(text('intro', lang))}_", ""]
    lost = data.get("lost_events")
    if isinstance(lost, int) and lost:
        out += [f"**{md(text('lost', lang).format(n=lost))}**", ""]
    rows = thread_rows(analysis, data)
    keep = [i for i in range(8) if i != 1 or any(r[1] for r in rows)]  # the role column only when a thread has one
    header = [text(k, lang) for k in ("thread", "role", "blocked", "of_window", "waits", "preempted", "reason", "stack")]
    align = ["---", "---", "---:", "---:", "---:", "---:", "---", "---"]
    out += ["| " + " | ".join(header[i] for i in keep) + " |", "|" + "|".join(align[i] for i in keep) + "|"]
    for row in rows:
        cells = [md(c) for c in row[:-1]] + [code(row[-1], cell=True) if row[-1] != "–" else "–"]
        out.append("| " + " | ".join(cells[i] for i in keep) + " |")
    out += ["", f"**{text('stacks_title', lang)}**", "",
            "| # | " + " | ".join(text(k, lang) for k in ("thread", "why", "seconds", "waits", "stack")) + " |",
            "|---:|---|---|---:|---:|---|"]
    for row in stack_rows(data, lang):
        out.append("| " + " | ".join([*(md(c) for c in row[:-1]), code(row[-1], cell=True)]) + " |")
    out.append("")
    for heading, frames in stack_frames(data, lang):
        out += [md(heading), "", *fence(frames), ""]
    link = data.get("flamegraph")
    if analysis.extra.get("flamegraph") and isinstance(link, str):
        out += [f"[{text('flamegraph', lang)}]({link})", ""]
    return out
