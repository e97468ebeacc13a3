"""The Markdown report, in English or Chinese: the sections of a hand-written analysis (overview,
hot functions and call chains, system-call overhead, components, assessment, findings with advice,
how to read the flame graph, verdict), every share with its sampling uncertainty. Every text from
the input goes through escape.markdown or escape.code: a name cannot break a table or inject HTML."""

from __future__ import annotations

from typing import Any

from diagnose.expert.analysis import Analysis
from diagnose.expert.components import component_breakdown
from diagnose.report.health import health
from diagnose.expert.finding_processes import for_text, processes_text
from diagnose.expert.recommend import is_check_only
from diagnose.model.thread_wide import top_inclusive_skipping
from diagnose.report import model
from diagnose.core.escape import code, fence
from diagnose.core.escape import markdown as _md
from diagnose.core.messages import say
from diagnose.report.labels import colon, label, severity_label, zh_punct
from diagnose.report.thread_table import thread_table
from diagnose.report.syscall_section import syscall_section
from diagnose.report.syscall_tables import count_table, missing_lines
from diagnose.report.offcpu_view import markdown_lines as offcpu_markdown
from diagnose.report.sockets import table as sockets_table
from diagnose.report.trees import tree_lines
from diagnose.report.verdict import verdict
from diagnose.model.stats import Share, wilson
from diagnose.core.texts import tr

TOP = 10


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _ci(share: Share) -> str:
    lo, hi = share.interval
    return f"{100 * lo:.1f}–{100 * hi:.1f}%"


def _cell(text: str) -> str:
    """Inline code in a table cell."""
    return code(text, cell=True)


class _Doc:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def table(self, header: list[str], rows: list[list[str]], align: list[str] | None = None) -> None:
        align = align or ["l"] * len(header)
        self.add("| " + " | ".join(header) + " |",
                 "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|")
        for r in rows:
            self.add("| " + " | ".join(r) + " |")
        self.add("")


def render_markdown(analysis: Analysis) -> str:
    lang = analysis.lang
    L = lambda k: label(k, lang)  # noqa: E731
    p, s = analysis.profile, analysis.summary
    cap = p.capture
    n = p.stack_samples
    d = _Doc()
    d.add(f"# {L('report_title')}", "")
    health_text = health(analysis)["text"][lang]  # `diagnose run` in it is a command: shown as code
    d.add(f"**{L('health')}:** " + "".join(code(p) if i % 2 else _md(p) for i, p in enumerate(health_text.split("`"))),
          "")

    # 1. overview
    d.add(f"## 1. {L('overview')}", "")
    code_rows = ("event", "recorded_with")
    rows = [[name, _cell(cap.source) + f" ({_md(cap.format)})" if key == "source" else
             _cell(text) if key in code_rows else _md(text)] for key, name, text in model.overview_rows(analysis)]
    d.table(["", ""], rows)
    not_measured = missing_lines(analysis)
    if not_measured:
        # `diagnose run ...` in a line is a command: shown as code.
        d.add(f"**{L('not_measured')}:**", "",
              *("- " + "".join(code(p) if i % 2 else _md(p) for i, p in enumerate(line.split("`"))) for line in not_measured),
              "")
    if s.threads:
        d.add(*_group_table(L("t_by_thread"), L("t_thread_col"), s.threads[:model.TOP_GROUPS], lang,
                            _roles(analysis, s.threads[:model.TOP_GROUPS])))
    measured = thread_table(analysis)
    if measured is not None:
        d.add(f"**{_md(measured.title)}**", "")
        d.table(measured.header, [[_md(c) for c in r] for r in measured.rows], measured.align)
        d.add(*(f"- {_md(n)}" for n in measured.notes), *([""] if measured.notes else []))
    sockets = sockets_table(analysis)
    if sockets is not None:
        title, header, rows_, notes = sockets
        d.add(f"**{_md(title)}**", "")
        d.table([_md(h) for h in header], [[_md(c) for c in r] for r in rows_], ["l", "r", "r", "r", "r", "l", "r"])
        d.add(*(f"- {_md(n)}" for n in notes), *([""] if notes else []))
    if n:
        sides = [type(r)(L(r.label), r.share, r.cores, r.key) for r in s.kernel_user]  # kernel, user
        d.add(*_group_table(L("t_kernel_user_title"), L("t_side"), sides, lang))
        d.add(L("t_in_kernel").format(v=f"{_pct(s.in_kernel.value)} ({model.ci_text(s.in_kernel)})"), "")
        modules = [type(r)(model.module_label(r.label) or r.label, r.share, r.cores, r.key)
                   for r in s.modules[:model.TOP_GROUPS]]
        d.add(*_group_table(L("t_by_module"), L("module"), modules, lang))
        hw = 100 * (wilson(int(0.1 * n), n)[1] - wilson(int(0.1 * n), n)[0]) / 2
        d.add("_" + L("uncertainty").format(n=f"{n:,}", hw=f"{hw:.1f}") + "_", "")

    # 2. hot functions and chains
    d.add(f"## 2. {L('hot_functions')}", "")
    if n:
        # The inclusive list skips the frames on (nearly) every stack of their thread, as the terminal's.
        inclusive, skipped = top_inclusive_skipping(s, model.TOP_FUNCTIONS)
        for key, which, rows_ in (("by_self", "self", s.top_self(model.TOP_FUNCTIONS)),
                                  ("by_inclusive", "incl", inclusive)):
            d.add(f"### {L(key)}", "")
            body = []
            main_col, other_col = ("col_self_pct", "col_incl_pct") if which == "self" else ("col_incl_pct", "col_self_pct")
            for i, r in enumerate(rows_, 1):
                main, second = (r.self, r.inclusive) if which == "self" else (r.inclusive, r.self)
                body.append([str(i), _cell(r.name) + (" (kernel)" if r.kind == "kernel" else ""),
                             _md(model.module_label(r.module)), _pct(main.value), model.ci_text(main),
                             model.samples_text(main.k), _pct(second.value)])
            d.table(["#", L("function"), L("module"), L(main_col), L("col_ci95"), L("col_samples"), L(other_col)], body,
                    ["r", "l", "l", "r", "r", "r", "r"])
            if which == "incl" and skipped:
                names = ", ".join(f"{_cell(r.name)} {_pct(r.inclusive.value)}" for r in skipped)
                d.add("_" + L("t_incl_skipped").format(n=len(skipped), names=names) + "_", "")
        if s.trees:
            d.add(f"### {L('chains')}", "")
            chains: list[str] = []
            for t in s.trees:
                chains.extend([*(prefix + text for prefix, text, _ in tree_lines(analysis, t)), ""])
            d.add(*fence(chains[:-1]), "")

    kb = analysis.knowledge
    # 3. system calls
    d.add(f"## 3. {L('syscalls')}", "", L("syscalls_intro"), "")
    section = syscall_section(analysis)
    if section is not None:
        if section.totals:
            first, *rest = section.totals
            d.add(f"- {first[0]}: **{first[1]}** ({first[2]})", *(f"- {k}: {v} ({ci})" for k, v, ci in rest), "")
            if section.inferred:
                d.add(L("syscalls_inferred"), "")
            d.table(section.header, [[_cell(r.name), r.direction, r.share, r.entry_exit, r.loopback, r.work,
                                      ", ".join(_cell(c) for c in r.callers)] for r in section.rows],
                    ["l", "l", "r", "r", "r", "r", "l"])
        else:
            d.add(L("no_syscalls"), "")
    counted = count_table(analysis)
    if counted is not None:
        d.add(f"### {_md(counted.title)}", "")
        d.table(counted.header, [[code(r[0]), *(_md(c) for c in r[1:])] for r in counted.rows], counted.align)
        d.add(*(_md(n) + "  " for n in counted.notes), "")

    # 4. components
    d.add(f"## 4. {L('components')}", "", L("components_intro"), "")
    if kb is not None and n:
        body = []
        for r in component_breakdown(p, kb):
            parts = ", ".join(f"{_md(tr(kb.category_by_id[c].title, lang))} {_pct(sh.value)}" for c, sh in r.categories[:3])
            body.append([_md(tr(r.title, lang)), _pct(r.share.value), model.ci_text(r.share),
                         model.samples_text(r.share.k), model.cores_text(r.cores), parts])
        d.table([L("component"), L("col_share"), L("col_ci95"), L("col_samples"), L("col_cores"), L("largest")], body,
                ["l", "r", "r", "r", "r", "l"])
    d.add(*offcpu_markdown(analysis))  # where the threads waited: its own section, never in the shares

    # 5. assessment
    d.add(f"## 5. {L('assessment')}", "")
    top_level = [f for f in analysis.findings if f.explained_by is None and "capture-quality" not in f.tags]
    d.add(f"### {L('attention')}", "")
    if top_level:
        for f in top_level:
            d.add(f"- **{severity_label(f.severity, lang)}** {_md(tr(f.title, lang))}"
                  f"{' (' + _md(f.subject) + ')' if f.subject else ''}: {_md(tr(f.summary, lang))}")
    else:
        d.add(f"- {L('no_findings')}")
    d.add("", f"### {L('healthy')}", "")
    healthy = model.healthy_items(analysis)
    for item in healthy:
        d.add("- " + "".join(code(part) if i % 2 else _md(part) for i, part in enumerate(item.text(lang).split("`"))))
    if not healthy:
        d.add(f"- {_md(model.healthy_empty_text(analysis))}")
    d.add("")

    # 6. findings and recommendations
    d.add(f"## 6. {L('recommendations')}", "")
    if not analysis.findings:
        d.add(L("no_findings"), "")
    commands: list[str] = []
    for f in analysis.findings:
        if f.explained_by is not None:
            continue
        _finding(d, f, analysis, lang, commands)
    if commands:
        d.add(L("paste"), "", *fence(list(dict.fromkeys(commands)), "bash"), "")
    if analysis.evaluation is not None and analysis.evaluation.notes:
        d.add(f"**{L('notes')}:**", "", *(f"- {_md(say(note, lang))}" for note in analysis.evaluation.notes), "")

    # 7. flame graph
    d.add(f"## 7. {L('flamegraph')}", "", L("flamegraph_text"), "")
    if analysis.extra.get("flamegraph"):
        d.add(f"[{L('flamegraph_file')}]({_link(str(analysis.extra['flamegraph']))})", "")
    elif not analysis.extra.get("flamegraph_embedded"):
        make = L("flamegraph_make").split("`")
        make[1] = make[1].replace("{input}", cap.source)
        d.add("".join(code(part) if i % 2 else _md(part) for i, part in enumerate(make)), "")

    # 8. verdict
    d.add(f"## 8. {L('verdict')}", "")
    d.add(*_verdict(analysis, lang), "")
    if cap.warnings:
        d.add(f"**{L('warnings')}{colon(lang).rstrip()}**", "", *(f"- {_md(say(w, lang))}" for w in cap.warnings), "")
    d.add("---", f"_{L('generated_by')}_", "")
    return zh_punct("\n".join(d.lines), lang)


def _roles(analysis: Analysis, rows: list[Any]) -> list[str] | None:
    kb = analysis.knowledge
    roles = [kb.role_text(str(r.key.get("comm", "")), analysis.lang) or "" for r in rows] if kb is not None else []
    return roles if any(roles) else None


def _group_table(title: str, head: str, rows: list[Any], lang: str, extra: list[str] | None = None) -> list[str]:
    """A table of shares (the terminal's columns): name, share, 95% interval, samples, cores[, role]."""
    d = _Doc()
    d.add(f"**{_md(title)}**", "")
    header = [head, label("col_share", lang), label("col_ci95", lang), label("col_samples", lang), label("col_cores", lang)]
    body = [[_md(r.label), _pct(r.share.value), model.ci_text(r.share), model.samples_text(r.share.k),
             model.cores_text(r.cores)] for r in rows]
    if extra is not None:
        header.append(label("role", lang))
        for row, text in zip(body, extra):
            row.append(_md(text))
    d.table(header, body, ["l", "r", "r", "r", "r", "l"][:len(header)])
    return d.lines


def _link(path: str) -> str:
    """A file path as a Markdown link destination (spaces, brackets and parentheses encoded)."""
    return "".join(f"%{ord(c):02X}" if c in " ()<>[]" or ord(c) < 0x20 else c for c in path)


def _rec_lines(rec: dict[str, Any], lang: str, commands: list[str]) -> list[str]:
    t = rec.get("texts", {}).get(lang) or rec.get("texts", {}).get("en", {})
    if rec["kind"] == "sysctl":
        if is_check_only(rec):
            # Not a change to make: the kernel default (or no single right value); check it.
            what = label("keep_default", lang).format(value=rec["value"]) if rec.get("value") is not None else \
                label("check_only", lang)
            check = "sysctl " + rec["key"]
            return [f"- {code('sysctl ' + rec['key'])}: {_md(what)} — {_md(t.get('why', rec['why']))}",
                    f"  - {label('check', lang)}: {code(check)}"]
        cur = rec.get("current")
        now = f"{label('current', lang)} {cur} → {rec['value']}" if cur is not None else \
            f"→ {rec['value']} ({label('not_recorded', lang)})"
        commands.extend([*rec["apply"], *rec["persist"]])
        return [f"- {code('sysctl ' + rec['key'])}: {_md(now)} — {_md(t.get('why', rec['why']))}",
                f"  - {label('apply', lang)}: {code(rec['apply'][0])}; {label('persist', lang)}: "
                f"{code(' && '.join(rec['persist']))}"]
    line = f"- **{_md(t.get('title', rec['title']))}**"
    if rec.get("stack"):
        line += f" [{_md(rec['stack'])}]"
    if t.get("where"):
        line += f" ({label('where', lang)}: {_md(t['where'])})"
    if for_text(rec):
        line += f" ({label('for_processes', lang)} {_md(for_text(rec))})"
    out = [line + f" — {_md(t.get('why', rec['why']))}"]
    if t.get("estimate"):  # counted calls (diagnose run): what the change would save
        out.append(f"  - **{label('estimate', lang)}:** {_md(t['estimate'])} ({label('assumption', lang)}: "
                   f"{_md(t.get('assumption', ''))})")
    for c in rec.get("commands", [])[:3]:
        out.append(f"  - {code(c)}")
    return out


def _finding(d: _Doc, f: Any, analysis: Analysis, lang: str, commands: list[str]) -> None:
    subject = f" ({_md(f.subject)})" if f.subject else ""
    d.add(f"### {f.rank}. [{severity_label(f.severity, lang)}] {_md(tr(f.title, lang))}{subject} — {code(f.id)}", "")
    d.add(_md(tr(f.summary, lang)), "")
    if f.processes:
        d.add(f"_{label('from_processes', lang)}: {_md(processes_text(f.processes))}_", "")
    if f.explanation:
        d.add(_md(tr(f.explanation, lang)), "")
    d.add(f"_{label('score', lang)} {f.score:.0f}, {label('confidence', lang)} {f.confidence:.2f}_", "")
    ev = f.evidence.get("stacks") or []
    if ev:
        d.add(f"**{label('evidence', lang)}:**", "")
        for st in ev[:2]:
            d.add(f"- {_pct(st['share'])}: " + " → ".join(code(x) for x in st["frames"][-8:]))
        d.add("")
    if f.recommendations:
        d.add(f"**{label('do', lang)}:**", "")
        for rec in f.recommendations:
            d.add(*_rec_lines(rec, lang, commands))
        d.add("")
    if f.not_helpful:
        d.add(f"**{label('not_helpful', lang)}:**", "")
        for rec in f.not_helpful:
            t = rec.get("texts", {}).get(lang) or {}
            what = f"sysctl {rec['key']}" if rec["kind"] == "sysctl" else t.get("title", rec["title"])
            d.add(f"- ~~{_md(what)}~~ ({label('would_not_help', lang)}): {_md(t.get('why_here') or rec.get('why_not_helpful', ''))}")
        d.add("")
    explained = [g for g in analysis.findings if g.explained_by == f.id]
    if explained:
        d.add(f"**{label('explains', lang)}:**", "")
        for g in explained:
            d.add(f"- [{severity_label(g.severity, lang)}] {_md(tr(g.title, lang))} — {code(g.id)}: "
                  f"{_md(tr(g.summary, lang))}")
        d.add("")


def _verdict(analysis: Analysis, lang: str) -> list[str]:
    v = verdict(analysis, lang)
    cpu = [f"**{label('verdict_cpu', lang)}:** {_md(v.cpu)}{'。' if lang == 'zh' else '.'}", ""] if v.cpu else []
    if v.main is None:
        return cpu + [label("verdict_none", lang)] + [f"- {_md(x)}" for x in v.notes]
    lines = cpu + [f"**{label('verdict_main', lang)}:** {_md(v.main)}"]
    if v.then:
        lines += ["", f"**{label('verdict_then', lang)}:** " + "; ".join(_md(x) for x in v.then) + "."]
    if v.advice:
        lines += ["", f"**{label('verdict_advice', lang)}:** {_md(v.advice)}."]
    if v.avoid:
        lines += ["", f"**{label('verdict_avoid', lang)}:** {_md(', '.join(v.avoid))}."]
    return lines
