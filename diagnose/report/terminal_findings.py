"""The findings panel and the verdict block of the terminal report. Every line that wraps hangs
under the start of its own text (the number, the bullet and the arrow stay alone in their
column), and a word longer than the line (a name, a path) is wrapped at its boundaries
(report.fit). Every text from the input goes through escape.terminal."""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from rich.console import Group
from rich.table import Table
from rich.text import Text

from diagnose.core.escape import terminal as esc
from diagnose.core.messages import say
from diagnose.core.texts import tr
from diagnose.expert.analysis import Analysis
from diagnose.expert.finding_processes import for_text, processes_text
from diagnose.expert.recommend import is_check_only
from diagnose.report.fit import hanging, titled_panel
from diagnose.report.health import health
from diagnose.report.labels import colon, label, severity_label
from diagnose.report.verdict import verdict

SEVERITY_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "bold yellow", "low": "cyan",
                  "info": "dim"}


class _Hang:
    """Rows of (marker, text): the marker in a column of its own, the text wrapped under itself."""

    def __init__(self, width: int, marker_width: int) -> None:
        self.width, self.marker_width = width, marker_width
        self.grid = Table.grid(padding=0)
        self.grid.add_column(width=marker_width, no_wrap=True)
        self.grid.add_column(width=max(8, width - marker_width))

    @property
    def inner(self) -> int:
        return max(8, self.width - self.marker_width)

    def add(self, marker: str, body: Any, style: str | None = None) -> None:
        if isinstance(body, (str, Text)):
            body = hanging(body if isinstance(body, Text) else Text(body, style=style or ""), self.inner)
        self.grid.add_row(Text(marker, style=style or ""), body)


def _rec_text(rec: dict[str, Any], lang: str) -> tuple[Text, Text | None]:
    """A recommendation's line, and its estimate line (counted calls of diagnose run) or None."""
    t = Text()
    texts = rec.get("texts", {}).get(lang, {}) or rec.get("texts", {}).get("en", {})
    if rec["kind"] == "sysctl":
        key, value = esc(rec["key"]), esc(rec.get("value"))
        t.append(f"sysctl {key}", style="bold")
        cur = rec.get("current")
        if is_check_only(rec):
            t.append(": " + (label("keep_default", lang).format(value=value) if rec.get("value") is not None
                             else label("check_only", lang)))
            t.append(f"   sysctl {key}", style="green")
            return t, None
        t.append(f": {esc(cur)} → {value}" if cur is not None else f": → {value} ({label('not_recorded', lang)})")
        t.append(f"   {esc(rec['apply'][0])}", style="green")
    else:
        t.append(esc(texts.get("title", rec.get("title", ""))), style="bold")
        where = texts.get("where") or rec.get("where")
        if where:
            t.append(f" — {esc(where)}", style="dim")
        if for_text(rec):
            t.append(f" [{label('for_processes', lang)} {esc(for_text(rec))}]", style="cyan")
    if texts.get("estimate"):
        est = Text(f"≈ {esc(texts['estimate'])}", style="green")
        est.append(f" ({label('assumption', lang)}: {esc(texts.get('assumption', ''))})", style="dim")
        return t, est
    return t, None


def _head(f: Any, lang: str, explained: bool) -> Text:
    head = Text()
    if explained:
        head.append(f"{label('explained_by', lang)} {esc(f.explained_by)}: ")
    head.append(f" {severity_label(f.severity, lang)} ", style=SEVERITY_STYLE[f.severity])
    head.append(" " + esc(tr(f.title, lang)), style="bold")
    if f.subject:
        head.append(f" [{esc(f.subject)}]", style="bold magenta")
    head.append(f" ({esc(f.id)}; {label('score', lang)} {f.score:.0f}, "
                f"{label('confidence', lang)} {f.confidence:.2f})", style="dim")
    return head


def _body(rows: _Hang, f: Any, lang: str, explained: bool) -> None:
    """The lines under a finding's head, in the text column of `rows`."""
    rows.add("", esc(tr(f.summary, lang), multiline=True))
    if f.processes:
        rows.add("", Text(f"{label('from_processes', lang)}{colon(lang)}{esc(processes_text(f.processes))}",
                          style="cyan"))
    if f.capped:
        rows.add("", Text(f"({label('severity_capped', lang)}{colon(lang)}{esc(say(f.capped, lang))})", style="dim"))
    if explained:
        return
    if f.recommendations:
        rows.add("", Text(f"{label('do', lang)}:", style="green"))
        recs = _Hang(rows.inner, 2)
        for rec in f.recommendations:
            line, estimate = _rec_text(rec, lang)
            recs.add("• ", line)
            if estimate is not None:
                recs.add("", estimate)
        rows.add("", recs.grid)
    if f.not_helpful:
        rows.add("", Text(f"{label('not_helpful', lang)}:", style="red"))
        nots = _Hang(rows.inner, 2)
        for rec in f.not_helpful:
            texts = rec.get("texts", {}).get(lang, {})
            what = f"sysctl {rec['key']}" if rec["kind"] == "sysctl" else texts.get("title", rec["title"])
            why = texts.get("why_here") or rec.get("why_not_helpful", "")
            nots.add("✗ ", Text(f"{esc(what)}: {esc(why, multiline=True)}"))
        rows.add("", nots.grid)


def findings_renderable(analysis: Analysis, width: int) -> Any | None:
    """The findings, numbered 1, 2, 3, ... in the order of the report (each explained finding
    under its cause, marked ↳ and not numbered)."""
    if analysis.evaluation is None:
        return None
    lang = analysis.lang
    inner = width - 4  # the panel's borders and padding
    ids = {f.id for f in analysis.findings}
    top = [f for f in analysis.findings if f.explained_by is None or f.explained_by not in ids]
    marker = len(f"{len(top)}. ")
    parts: list[Any] = []
    if not analysis.findings:
        parts.append(Text(label("no_findings", lang)))
    for number, f in enumerate(top, 1):
        rows = _Hang(inner, marker)
        rows.add(f"{number}.", _head(f, lang, False))
        _body(rows, f, lang, False)
        for g in analysis.findings:
            if g.explained_by == f.id:
                sub = _Hang(rows.inner, 2)
                sub.add("↳ ", _head(g, lang, True))
                _body(sub, g, lang, True)
                rows.add("", sub.grid)
        parts.extend([rows.grid, Text("")])
    for note in analysis.evaluation.notes:
        parts.append(hanging(Text(f"{label('x_note', lang)}{colon(lang)}{esc(say(note, lang), multiline=True)}",
                                  style="dim"), inner))
    while parts and isinstance(parts[-1], Text) and not parts[-1].plain:
        parts.pop()
    return titled_panel(Group(*parts), label("findings", lang), width)


def verdict_renderable(analysis: Analysis, width: int) -> Any:
    """The health line, the main cost, what else stands out, the first step and what is not worth
    doing: the Markdown report's verdict (report.verdict), as a panel closing the report."""
    lang = analysis.lang
    v = verdict(analysis, lang)
    L = lambda k: label(k, lang)  # noqa: E731
    end = "。" if lang == "zh" else "."
    entries: list[tuple[str, str]] = [(L("health"), health(analysis)["text"][lang])]
    if v.cpu:
        entries.append((L("verdict_cpu"), v.cpu + end))
    if v.main is None:
        entries.append(("", L("verdict_none")))
        entries.extend(("", n) for n in v.notes)
    else:
        entries.append((L("verdict_main"), v.main))
        if v.then:
            entries.append((L("verdict_then"), ("；" if lang == "zh" else "; ").join(v.then) + end))
        if v.advice:
            entries.append((L("verdict_advice"), v.advice + end))
        if v.avoid:
            entries.append((L("verdict_avoid"), ("、" if lang == "zh" else ", ").join(v.avoid) + end))
    grid = Table.grid(padding=0)
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column()

    keys = [k + colon(lang) if k else "" for k, _ in entries]
    key_width = max(cell_len(k) for k in keys)
    for key, (_, text) in zip(keys, entries):
        grid.add_row(key, hanging(Text(esc(text, multiline=True)), width - 4 - key_width))
    return titled_panel(grid, L("verdict"), width)
