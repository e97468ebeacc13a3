"""The rich terminal summary of an analysis, rendered to a string. Every text from the input (names,
paths, rule pack texts) goes through escape.terminal: no control character reaches the terminal."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from diagnose.analysis import Analysis
from diagnose.finding_processes import for_text, processes_text
from diagnose.recommend import is_check_only
from diagnose.report import model, offcpu_view
from diagnose.report.escape import terminal as esc
from diagnose.report.labels import label, severity_label, zh_punct
from diagnose.report.syscall_tables import CountTable, count_table, missing_lines
from diagnose.report.sockets import table as sockets_table
from diagnose.report.trees import tree_lines
from diagnose.stats import pct
from diagnose.messages import say
from diagnose.texts import tr

TOP_FUNCTIONS = model.TOP_FUNCTIONS
TOP_GROUPS = model.TOP_GROUPS
_ci, _cores, _module_label = model.ci_text, model.cores_text, model.module_label


def overview_rows(analysis: Analysis) -> list[tuple[str, str]]:
    """The overview's (label, text) rows: the report model's, which every format shows."""
    return [(name, text) for _, name, text in model.overview_rows(analysis)]


def _components_table(analysis: Analysis) -> Table | None:
    kb = analysis.knowledge
    if kb is None:
        return None
    from diagnose.components import component_breakdown

    lang = analysis.lang
    t = Table(title=label("t_by_component", lang), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column(label("component", lang), overflow="fold", ratio=2)
    t.add_column(label("col_share", lang), justify="right")
    t.add_column(label("col_ci95", lang), justify="right", style="dim")
    t.add_column(label("col_cores", lang), justify="right")
    t.add_column(label("largest", lang), overflow="fold", ratio=3, style="dim")
    for r in component_breakdown(analysis.profile, kb):
        parts = ", ".join(f"{tr(kb.category_by_id[c].title, lang)} {pct(sh.value)}" for c, sh in r.categories[:3])
        t.add_row(Text(esc(tr(r.title, lang))), pct(r.share.value), _ci(r.share), _cores(r.cores), Text(esc(parts)))
    return t


def _function_table(title: str, rows, which: str, denominator: int, lang: str = "en") -> Table:
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, expand=False)
    t.add_column("#", justify="right", style="dim")
    t.add_column(label("col_function", lang), overflow="fold", ratio=3)
    t.add_column(label("col_module", lang), style="cyan", overflow="fold", ratio=1)
    main_col, other = ("col_self_pct", "col_incl_pct") if which == "self" else ("col_incl_pct", "col_self_pct")
    t.add_column(label(main_col, lang), justify="right")
    t.add_column(label("col_ci95", lang), justify="right", style="dim")
    t.add_column(label("col_samples", lang), justify="right")
    t.add_column(label(other, lang), justify="right", style="dim")
    for i, r in enumerate(rows, 1):
        main, second = (r.self, r.inclusive) if which == "self" else (r.inclusive, r.self)
        name = Text(esc(r.name))
        if r.kind == "kernel":
            name.append(" [k]", style="yellow")
        t.add_row(str(i), name, Text(esc(_module_label(r.module))), pct(main.value), _ci(main), f"{main.k:,}",
                  pct(second.value))
    return t


def _group_table(title: str, rows, head: str, with_cores: bool,
                 extra: tuple[str, list[str]] | None = None, lang: str = "en") -> Table:
    """Rows of shares with their intervals; `extra`: a last column (header, one value per row)."""
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column(head, overflow="fold")
    t.add_column(label("col_share", lang), justify="right")
    t.add_column(label("col_ci95", lang), justify="right", style="dim")
    t.add_column(label("col_samples", lang), justify="right")
    if with_cores:
        t.add_column(label("col_cores", lang), justify="right")
    if extra is not None:
        t.add_column(extra[0], overflow="fold", style="dim", ratio=2)
    for i, r in enumerate(rows):
        cells: list[str | Text] = [Text(esc(r.label)), pct(r.share.value), _ci(r.share), f"{r.share.k:,}"]
        if with_cores:
            cells.append(_cores(r.cores))
        if extra is not None:
            cells.append(Text(esc(extra[1][i])))
        t.add_row(*cells)
    return t


def _thread_table(analysis: Analysis, rows) -> Table:
    lang = analysis.lang
    kb = analysis.knowledge
    roles = [kb.role_text(str(r.key.get("comm", "")), lang) or "" for r in rows] if kb is not None else []
    extra = (label("role", lang), roles) if any(roles) else None
    return _group_table(label("t_by_thread", lang), rows, label("t_thread_col", lang), True, extra, lang)


def _health_line(analysis: Analysis) -> Text:
    from diagnose.health import health

    line = Text(label("health", analysis.lang) + ": ", style="bold")
    line.append(esc(health(analysis)["text"][analysis.lang]))
    return line


def _measured_threads(analysis: Analysis) -> Group | None:
    from diagnose.report.thread_table import thread_table

    table = thread_table(analysis)
    if table is None:
        return None
    t = Table(title=table.title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for name, align in zip(table.header, table.align):
        t.add_column(name, justify="right" if align == "r" else "left", overflow="fold")
    for row in table.rows:
        t.add_row(*(Text(esc(c)) for c in row))
    return Group(t, *(Text(esc(n, multiline=True), style="dim") for n in table.notes))
def _sockets(analysis: Analysis) -> list:
    """The targets' sockets over the recording, with the namespace's UDP counters under them."""
    shown = sockets_table(analysis)
    if shown is None:
        return []
    title, header, rows, notes = shown
    t = Table(title=esc(title), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for i, h in enumerate(header):
        t.add_column(esc(h), overflow="fold", justify="left" if i in (0, 5) else "right", ratio=3 if i == 0 else None,
                     no_wrap=i not in (0, 5))
    for r in rows:
        t.add_row(*(Text(esc(c)) for c in r))
    return [t, *(Text(esc(n, multiline=True), style="dim") for n in notes)]


SEVERITY_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "bold yellow", "low": "cyan",
                  "info": "dim"}


def _rec_line(rec: dict, lang: str) -> Text:
    t = Text("  • ")
    texts = rec.get("texts", {}).get(lang, {}) or rec.get("texts", {}).get("en", {})
    if rec["kind"] == "sysctl":
        key, value = esc(rec["key"]), esc(rec.get("value"))
        t.append(f"sysctl {key}", style="bold")
        cur = rec.get("current")
        if is_check_only(rec):
            t.append(": " + (label("keep_default", lang).format(value=value) if rec.get("value") is not None
                             else label("check_only", lang)))
            t.append(f"   sysctl {key}", style="green")
            return t
        t.append(f": {esc(cur)} → {value}" if cur is not None else f": → {value} ({label('not_recorded', lang)})")
        t.append(f"   {esc(rec['apply'][0])}", style="green")
    else:
        t.append(esc(texts.get("title", rec.get("title", ""))), style="bold")
        where = texts.get("where") or rec.get("where")
        if where:
            t.append(f" — {esc(where)}", style="dim")
        if for_text(rec):
            t.append(f" [{label('for_processes', lang)} {esc(for_text(rec))}]", style="cyan")
    if texts.get("estimate"):  # counted calls (diagnose run): what the change would save
        t.append(f"\n      ≈ {esc(texts['estimate'])}", style="green")
        t.append(f" ({label('assumption', lang)}: {esc(texts.get('assumption', ''))})", style="dim")
    return t


def _count_table(counted: CountTable) -> list:
    t = Table(title=esc(counted.title), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for head, align in zip(counted.header, counted.align):
        t.add_column(head, justify="right" if align == "r" else "left", overflow="fold")
    for row in counted.rows:
        t.add_row(*(Text(esc(cell)) for cell in row))
    return [t, *(Text(esc(n), style="dim") for n in counted.notes)]


def findings_renderable(analysis: Analysis) -> Panel | None:
    if analysis.evaluation is None:
        return None
    lang = analysis.lang
    body = Text()
    if not analysis.findings:
        body.append(label("no_findings", lang) + "\n")
    for f in analysis.findings:
        nested = f.explained_by is not None
        indent = "    " if nested else ""
        body.append(indent + (f"↳ {label('explained_by', lang)} {esc(f.explained_by)}: " if nested else f"{f.rank}. "))
        body.append(f" {severity_label(f.severity, lang)} ", style=SEVERITY_STYLE[f.severity])
        body.append(" " + esc(tr(f.title, lang)), style="bold")
        if f.subject:
            body.append(f" [{esc(f.subject)}]", style="bold magenta")
        body.append(f"  ({esc(f.id)}; {label('score', lang)} {f.score:.0f}, "
                    f"{label('confidence', lang)} {f.confidence:.2f})\n", style="dim")
        body.append(indent + "   " + esc(tr(f.summary, lang), multiline=True) + "\n")
        if f.processes:
            body.append(indent + f"   {label('from_processes', lang)}: {esc(processes_text(f.processes))}\n", style="cyan")
        if f.capped:
            body.append(indent + f"   ({label('severity_capped', lang)}: {esc(say(f.capped, lang))})\n", style="dim")
        if not nested:
            if f.recommendations:
                body.append(indent + f"   {label('do', lang)}:\n", style="green")
                for rec in f.recommendations:
                    body.append(indent + " ")
                    body.append(_rec_line(rec, lang))
                    body.append("\n")
            if f.not_helpful:
                body.append(indent + f"   {label('not_helpful', lang)}:\n", style="red")
                for rec in f.not_helpful:
                    texts = rec.get("texts", {}).get(lang, {})
                    what = f"sysctl {rec['key']}" if rec["kind"] == "sysctl" else texts.get("title", rec["title"])
                    why = texts.get("why_here") or rec.get("why_not_helpful", "")
                    body.append(f"{indent}    ✗ {esc(what)}: {esc(why, multiline=True)}\n")
        body.append("\n")
    for note in analysis.evaluation.notes:
        body.append(f"{label('x_note', lang)}{': ' if lang == 'en' else '：'}{esc(say(note, lang), multiline=True)}\n",
                    style="dim")
    return Panel(body, title=label("findings", lang), title_align="left", box=box.ROUNDED)


def renderables(analysis: Analysis) -> list:
    p, s = analysis.profile, analysis.summary
    out: list = []
    ov = Table.grid(padding=(0, 2))
    ov.add_column(style="bold")
    ov.add_column(overflow="fold")
    for k, v in overview_rows(analysis):
        ov.add_row(k, Text(esc(v)))
    lang = analysis.lang
    L = lambda k: label(k, lang)  # noqa: E731
    out.append(Panel(ov, title=L("overview"), title_align="left", box=box.ROUNDED))
    out.append(_health_line(analysis))
    for line in missing_lines(analysis):
        out.append(Text(f"{L('not_measured')}: {esc(line)}", style="dim"))
    panel = findings_renderable(analysis)
    if panel is not None:
        out.append(panel)
    if p.stack_samples == 0:
        cap = p.capture
        if cap.total_samples == 0:
            why = L("t_no_samples")
        else:
            why = L("t_no_stacks").format(n=f"{cap.total_samples:,}")
        out.append(Text(why, style="bold"))
    else:
        note = Text(L("t_shares_note").format(n=f"{p.stack_samples:,}"), style="dim")
        out.append(note)
        out.append(_function_table(L("t_self_title"),
                                   s.top_self(TOP_FUNCTIONS), "self", p.stack_samples, lang))
        out.append(_function_table(L("t_incl_title"),
                                   s.top_inclusive(TOP_FUNCTIONS), "incl", p.stack_samples, lang))
        sides = [type(r)(L(r.label), r.share, r.cores, r.key) for r in s.kernel_user]  # kernel, user
        split = _group_table(L("t_kernel_user_title"), sides, L("t_side"), True, lang=lang)
        out.append(split)
        out.append(Text(L("t_in_kernel").format(v=f"{pct(s.in_kernel.value)} ({_ci(s.in_kernel)})"), style="dim"))
        modules = [type(r)(_module_label(r.label) or r.label, r.share, r.cores, r.key) for r in s.modules[:TOP_GROUPS]]
        out.append(_group_table(L("t_by_module"), modules, L("module"), True, lang=lang))
        components = _components_table(analysis)
        if components is not None:
            out.append(components)
        out.append(_thread_table(analysis, s.threads[:TOP_GROUPS]))
        measured = _measured_threads(analysis)
        if measured is not None:
            out.append(measured)
        counted = count_table(analysis)
        if counted is not None:
            out.extend(_count_table(counted))
        if s.trees:
            lines = Text()
            for tree in s.trees:
                for prefix, node_text, kind in tree_lines(analysis, tree):
                    lines.append(prefix, style="dim")
                    lines.append(esc(node_text), style="yellow" if kind == "kernel" else "")
                    lines.append("\n")
                lines.append("\n")
            out.append(Panel(lines, title=L("t_chains"), title_align="left", box=box.ROUNDED))
    out.extend(offcpu_view.terminal_renderables(analysis))  # its own section, never in the shares above
    out.extend(_sockets(analysis))  # measured beside the stacks: shown even without samples
    if analysis.extra.get("flamegraph"):
        out.append(Text(f"{L('flamegraph_file')}: {esc(str(analysis.extra['flamegraph']))}"))
    for w in p.capture.warnings:
        out.append(Text(f"{L('warning')}{esc(say(w, lang), multiline=True)}", style="yellow"))
    return out


def render_terminal(analysis: Analysis, width: int = 110, color: bool = False) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, color_system="truecolor" if color else None,
                      highlight=False, soft_wrap=False, legacy_windows=False)
    console.print(Group(*renderables(analysis)))
    return zh_punct(buf.getvalue(), analysis.lang)
