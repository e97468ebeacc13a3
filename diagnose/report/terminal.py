"""The rich terminal summary of an analysis, rendered to a string. Every text from the input (names,
paths, rule pack texts) goes through escape.terminal: no control character reaches the terminal."""

from __future__ import annotations

import io

from rich.cells import cell_len
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from diagnose.core.escape import terminal as esc
from diagnose.core.messages import say
from diagnose.core.texts import tr
from diagnose.expert.analysis import Analysis
from diagnose.expert.components import component_breakdown
from diagnose.model.stats import pct
from diagnose.model.thread_wide import top_inclusive_skipping
from diagnose.report import model, offcpu_view
from diagnose.report.fit import Col, Named, fitted_table, hanging, middle_ellipsis, titled_panel
from diagnose.report.health import health
from diagnose.report.labels import colon, label, zh_punct
from diagnose.report.syscall_section import syscall_section
from diagnose.report.sockets import table as sockets_table
from diagnose.report.syscall_tables import CountTable, count_table, missing_lines
from diagnose.report.terminal_findings import SEVERITY_STYLE, findings_renderable, verdict_renderable
from diagnose.report.thread_table import thread_table
from diagnose.report.trees import tree_lines

__all__ = ["SEVERITY_STYLE", "render_terminal", "renderables", "overview_rows"]

TOP_FUNCTIONS = model.TOP_FUNCTIONS
TOP_GROUPS = model.TOP_GROUPS
_ci, _cores, _module_label = model.ci_text, model.cores_text, model.module_label


def overview_rows(analysis: Analysis) -> list[tuple[str, str]]:
    """The overview's (label, text) rows: the report model's, which every format shows."""
    return [(name, text) for _, name, text in model.overview_rows(analysis)]


def _labelled(key: str, text: Text, width: int, style: str = "") -> Table:
    """`key: text`, the text's wrapped lines hanging under its first word."""
    grid = Table.grid()
    grid.add_column(no_wrap=True)
    grid.add_column()
    grid.add_row(Text(key, style=style or "bold"), hanging(text, width - cell_len(key)))
    return grid


def _components_table(analysis: Analysis, width: int) -> Table | None:
    kb = analysis.knowledge
    if kb is None:
        return None

    lang = analysis.lang
    L = lambda k: label(k, lang)  # noqa: E731
    rows = component_breakdown(analysis.profile, kb)
    parts = [", ".join(f"{tr(kb.category_by_id[c].title, lang)} {pct(sh.value)}" for c, sh in r.categories[:3])
             for r in rows]
    cols = [Col(L("component"), "prose", cells=[Text(esc(tr(r.title, lang))) for r in rows]),
            Col(L("col_share"), justify="right", cells=[pct(r.share.value) for r in rows]),
            Col(L("col_ci95"), justify="right", style="dim", cells=[_ci(r.share) for r in rows]),
            Col(L("col_cores"), justify="right", cells=[_cores(r.cores) for r in rows]),
            Col(L("largest"), "prose", style="dim", keep=False, cells=[Text(esc(x)) for x in parts])]
    return fitted_table(L("t_by_component"), cols, width)


def _function_table(title: str, rows, which: str, width: int, lang: str = "en") -> Table:
    L = lambda k: label(k, lang)  # noqa: E731
    main_col, other = ("col_self_pct", "col_incl_pct") if which == "self" else ("col_incl_pct", "col_self_pct")
    pick = (lambda r: (r.self, r.inclusive)) if which == "self" else (lambda r: (r.inclusive, r.self))
    cols = [Col("#", justify="right", style="dim", cells=[str(i) for i in range(1, len(rows) + 1)]),
            Col(L("col_function"), "name", min_width=24,
                cells=[Named(esc(r.name), " [k]" if r.kind == "kernel" else "", "yellow") for r in rows]),
            Col(L("col_module"), "name", style="cyan", min_width=16, max_lines=1,
                cells=[Named(esc(_module_label(r.module))) for r in rows]),
            Col(L(main_col), justify="right", cells=[pct(pick(r)[0].value) for r in rows]),
            Col(L("col_ci95"), justify="right", style="dim", cells=[_ci(pick(r)[0]) for r in rows]),
            Col(L("col_samples"), justify="right", keep=False, cells=[f"{pick(r)[0].k:,}" for r in rows]),
            Col(L(other), justify="right", style="dim", keep=False, cells=[pct(pick(r)[1].value) for r in rows])]
    return fitted_table(title, cols, width)


def _group_table(title: str, rows, head: str, with_cores: bool, width: int,
                 extra: tuple[str, list[str]] | None = None, lang: str = "en") -> Table:
    """Rows of shares with their intervals; `extra`: a last column of words (header, one value per row)."""
    cols = [Col(head, "name", min_width=16, max_lines=1, cells=[Named(esc(r.label)) for r in rows]),
            Col(label("col_share", lang), justify="right", cells=[pct(r.share.value) for r in rows]),
            Col(label("col_ci95", lang), justify="right", style="dim", cells=[_ci(r.share) for r in rows]),
            Col(label("col_samples", lang), justify="right", cells=[f"{r.share.k:,}" for r in rows])]
    if with_cores:
        cols.append(Col(label("col_cores", lang), justify="right", cells=[_cores(r.cores) for r in rows]))
    if extra is not None:
        cols.append(Col(extra[0], "prose", style="dim", keep=False, cells=[Text(esc(x)) for x in extra[1]]))
    return fitted_table(title, cols, width)


def _thread_table(analysis: Analysis, rows, width: int) -> Table:
    lang = analysis.lang
    kb = analysis.knowledge
    roles = [kb.role_text(str(r.key.get("comm", "")), lang) or "" for r in rows] if kb is not None else []
    extra = (label("role", lang), roles) if any(roles) else None
    return _group_table(label("t_by_thread", lang), rows, label("t_thread_col", lang), True, width, extra, lang)


def _health_line(analysis: Analysis, width: int) -> Table:
    return _labelled(label("health", analysis.lang) + colon(analysis.lang),
                     Text(esc(health(analysis)["text"][analysis.lang])), width)


def _plain_table(title: str, header: list[str], align: list[str], rows: list[list[str]], width: int,
                 words: tuple[int, ...] = (), droppable: tuple[int, ...] = ()) -> Table:
    """A table of cells already in words: the first column a name (or words, if listed in `words`),
    the columns in `words` wrapped at spaces, the others fixed; `droppable` go first when narrow."""
    cols = []
    for i, (head, a) in enumerate(zip(header, align)):
        cells = [Text(esc(r[i])) for r in rows]
        kind = "prose" if i in words else "name" if i == 0 else "fixed"
        cols.append(Col(esc(head), kind, justify="right" if a == "r" else "left", min_width=16,
                        keep=i not in droppable, cells=[Named(c.plain) for c in cells] if kind == "name" else cells))
    return fitted_table(esc(title), cols, width)


def _notes(notes: list[str], width: int) -> list[Text]:
    return [hanging(Text(esc(n, multiline=True), style="dim"), width) for n in notes]


def _measured_threads(analysis: Analysis, width: int) -> Group | None:
    table = thread_table(analysis)
    if table is None:
        return None
    words = (1,) if len(table.header) > 7 else ()  # the role column, when there is one
    return Group(_plain_table(table.title, table.header, table.align, table.rows, width, words),
                 *_notes(table.notes, width))


def _sockets(analysis: Analysis, width: int) -> list:
    """The targets' sockets over the recording, with the namespace's UDP counters under them."""
    shown = sockets_table(analysis)
    if shown is None:
        return []
    title, header, rows, notes = shown
    align = ["l" if i in (0, 5) else "r" for i in range(len(header))]
    return [_plain_table(title, header, align, rows, width, (0, 5), (2, 6)), *_notes(notes, width)]


def _count_table(counted: CountTable, width: int) -> list:
    return [_plain_table(counted.title, counted.header, counted.align, counted.rows, width), *_notes(counted.notes, width)]


def _chains(analysis: Analysis, width: int) -> Panel:
    """The call-chain trees; a name too long for its line is shortened in the middle."""
    lang = analysis.lang
    inner = width - 4
    lines = Text(no_wrap=True, overflow="crop")
    for tree in analysis.summary.trees:
        for prefix, node_text, kind in tree_lines(analysis, tree):
            name, _, share = node_text.rpartition(" (")
            room = inner - cell_len(prefix) - cell_len(share) - 2
            lines.append(prefix, style="dim")
            lines.append(middle_ellipsis(esc(name), max(8, room)) + f" ({share}",
                         style="yellow" if kind == "kernel" else "")
            lines.append("\n")
        lines.append("\n")
    lines.rstrip()
    return titled_panel(lines, label("t_chains_short", lang), width, note=label("t_chains_note", lang))


def _inclusive(analysis: Analysis, width: int) -> list:
    """The inclusive list without the frames on (nearly) every stack of their thread, and a line
    naming those it skipped."""
    lang = analysis.lang
    rows, skipped = top_inclusive_skipping(analysis.summary, TOP_FUNCTIONS)
    out: list = [_function_table(label("t_incl_title", lang), rows, "incl", width, lang)]
    if skipped:
        names = ", ".join(f"{esc(r.name)} {pct(r.inclusive.value)}" for r in skipped)
        out.append(hanging(Text(label("t_incl_skipped", lang).format(n=len(skipped), names=names), style="dim"),
                           width))
    return out


def _syscalls(analysis: Analysis, width: int) -> list:
    """The system-call overhead section, as the Markdown report's (report.syscall_section)."""
    section = syscall_section(analysis)
    if section is None:
        return []
    lang = analysis.lang
    if not section.totals:
        return [hanging(Text(label("no_syscalls", lang), style="dim"), width)]
    totals = "; ".join(f"{k} {v} ({ci})" for k, v, ci in section.totals)
    out: list = [hanging(Text(f"{label('syscalls', lang)}{colon(lang)}{totals}"), width)]
    if section.inferred:
        out.append(hanging(Text(label("syscalls_inferred", lang), style="dim"), width))
    rows = section.rows
    h = section.header
    cols = [Col(h[0], "name", min_width=12, max_lines=1, cells=[Named(esc(r.name)) for r in rows]),
            Col(h[1], keep=False, cells=[r.direction for r in rows]),
            Col(h[2], justify="right", cells=[r.share for r in rows]),
            Col(h[3], justify="right", cells=[r.entry_exit for r in rows]),
            Col(h[4], justify="right", keep=False, cells=[r.loopback for r in rows]),
            Col(h[5], justify="right", cells=[r.work for r in rows]),
            Col(label("caller_short", lang), "name", min_width=16, max_lines=2, cells=[Named(esc(", ".join(r.callers)))
                                                                          for r in rows])]
    out.append(fitted_table(None, cols, width))
    return out


def _healthy(analysis: Analysis, width: int) -> list:
    """What is healthy (model.healthy_items), as the Markdown's assessment says it."""
    if analysis.evaluation is None:
        return []
    lang = analysis.lang
    items = [item.text(lang).replace("`", "") for item in model.healthy_items(analysis)]
    if not items:
        items = [model.healthy_empty_text(analysis)]
    out: list = [Text(label("healthy", lang), style="bold green")]
    out.extend(_labelled("- ", Text(esc(t), style="green"), width, "green") for t in items)
    return out


def renderables(analysis: Analysis, width: int = 110) -> list:
    p, s = analysis.profile, analysis.summary
    out: list = []
    lang = analysis.lang
    L = lambda k: label(k, lang)  # noqa: E731
    ov = Table.grid(padding=(0, 2))
    ov.add_column(style="bold", no_wrap=True)
    ov.add_column()
    rows = overview_rows(analysis)
    value_width = width - 4 - 2 - max(cell_len(k) for k, _ in rows)
    for k, v in rows:
        ov.add_row(k, hanging(Text(esc(v)), value_width))
    out.append(titled_panel(ov, L("overview"), width))
    out.append(_health_line(analysis, width))
    for line in missing_lines(analysis):
        out.append(_labelled(L("not_measured") + colon(lang), Text(esc(line), style="dim"), width, "dim"))
    panel = findings_renderable(analysis, width)
    if panel is not None:
        out.append(panel)
    out.extend(_healthy(analysis, width))
    if p.stack_samples == 0:
        cap = p.capture
        if cap.total_samples == 0:
            why = L("t_no_samples")
        else:
            why = L("t_no_stacks").format(n=f"{cap.total_samples:,}")
        out.append(Text(why, style="bold"))
    else:
        out.append(hanging(Text(L("t_shares_note").format(n=f"{p.stack_samples:,}"), style="dim"), width))
        out.append(_function_table(L("t_self_title"), s.top_self(TOP_FUNCTIONS), "self", width, lang))
        out.extend(_inclusive(analysis, width))
        sides = [type(r)(L(r.label), r.share, r.cores, r.key) for r in s.kernel_user]  # kernel, user
        out.append(_group_table(L("t_kernel_user_title"), sides, L("t_side"), True, width, lang=lang))
        out.append(hanging(Text(L("t_in_kernel").format(v=f"{pct(s.in_kernel.value)} ({_ci(s.in_kernel)})"),
                                style="dim"), width))
        out.extend(_syscalls(analysis, width))
        modules = [type(r)(_module_label(r.label) or r.label, r.share, r.cores, r.key) for r in s.modules[:TOP_GROUPS]]
        out.append(_group_table(L("t_by_module"), modules, L("module"), True, width, lang=lang))
        components = _components_table(analysis, width)
        if components is not None:
            out.append(components)
        out.append(_thread_table(analysis, s.threads[:TOP_GROUPS], width))
        measured = _measured_threads(analysis, width)
        if measured is not None:
            out.append(measured)
        counted = count_table(analysis)
        if counted is not None:
            out.extend(_count_table(counted, width))
        if s.trees:
            out.append(_chains(analysis, width))
    out.extend(offcpu_view.terminal_renderables(analysis))  # its own section, never in the shares above
    out.extend(_sockets(analysis, width))  # measured beside the stacks: shown even without samples
    if analysis.extra.get("flamegraph"):
        out.append(hanging(Text(f"{L('flamegraph_file')}{colon(lang)}{esc(str(analysis.extra['flamegraph']))}"),
                           width))
    for w in p.capture.warnings:
        out.append(hanging(Text(f"{L('warning')}{esc(say(w, lang), multiline=True)}", style="yellow"), width))
    if analysis.evaluation is not None:
        out.append(verdict_renderable(analysis, width))
    return out


def render_terminal(analysis: Analysis, width: int = 110, color: bool = False) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, color_system="truecolor" if color else None,
                      highlight=False, soft_wrap=False, legacy_windows=False)
    console.print(Group(*renderables(analysis, width)))
    return zh_punct(buf.getvalue(), analysis.lang)
