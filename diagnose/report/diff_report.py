"""Rendering a comparison of two captures: terminal (rich), Markdown, and JSON (schema diagnose.diff/v1;
fields are only ever added, never renamed or removed). Names and paths go through escape.terminal
and escape.markdown."""

from __future__ import annotations

import io
import json
import shutil
import sys
from typing import Any

from diagnose import __version__
from diagnose.core.errors import DiagnoseError
from diagnose.core.escape import markdown as _md
from diagnose.core.escape import terminal as esc
from diagnose.expert.diff import Change, Comparison, Delta, FindingChange, FindingInfo, Side
from diagnose.report.labels import colon, label, severity_label, texts, zh_punct

SCHEMA = "diagnose.diff/v1"
FORMATS = ("terminal", "json", "markdown")
ALIASES = {"md": "markdown", "text": "terminal"}
TOP_FUNCTIONS = 25


def render_diff(cmp: Comparison, fmt: str, to_terminal: bool = False, width: int | None = None,
                lang: str = "en") -> str:
    fmt = ALIASES.get(fmt, fmt)
    if fmt == "json":
        return json.dumps(diff_dict(cmp, lang), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    if fmt == "markdown":
        return render_markdown(cmp, lang)
    if fmt == "terminal":
        color = to_terminal and sys.stdout.isatty()
        w = width or (shutil.get_terminal_size((110, 40)).columns if to_terminal else 110)
        return render_terminal(cmp, w, color, lang)
    raise DiagnoseError(f"unknown --format {fmt!r}; choose one of: {', '.join(FORMATS)}")


# -- shared wording ------------------------------------------------------------------------

def _r(x: float | None, digits: int = 6) -> float | None:
    return None if x is None else round(x, digits)


def _base(module: str) -> str:
    return module.rsplit("/", 1)[-1]


def _pp(d: Delta) -> str:
    lo, hi = d.ci
    return f"{100 * d.value:+.1f} pp ({100 * lo:+.1f} .. {100 * hi:+.1f})"


def _dcores(d: Delta) -> str:
    lo, hi = d.ci
    return f"{d.value:+.3f} ({lo:+.3f} .. {hi:+.3f})"


def _short(d: Delta, scale: float, digits: int) -> str:
    lo, hi = d.ci
    return f"{scale * d.value:+.{digits}f} [{scale * lo:+.{digits}f}, {scale * hi:+.{digits}f}]"


def _cores(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def _label(c: Change, lang: str) -> str:
    if c.kind == "component":
        return c.title.get(lang) or c.title.get("en") or c.name
    return c.name


def _verdict(c: Change, lang: str = "en") -> str:
    if c.significant:
        return label("d_grew" if c.direction == "grew" else "d_shrank", lang)
    if c.primary == "cores" and c.share is not None and c.share.significant:
        # The share moved because something else changed; the CPU time itself did not, measurably.
        return label("d_share_grew_only" if c.share.value > 0 else "d_share_shrank_only", lang)
    return label("d_within_noise", lang)


def _share_only(c: Change) -> bool:
    return not c.significant and c.primary == "cores" and c.share is not None and c.share.significant


def method_text(cmp: Comparison, lang: str = "en") -> str:
    measure = label("d_measure_cores" if cmp.primary == "cores" else "d_measure_shares", lang)
    return label("d_method", lang).format(measure=measure, alpha=f"{cmp.alpha:g}", pp=f"{100 * cmp.min_share:g}",
                                          cores=f"{cmp.min_cores:g}")


def _side_line(name: str, s: Side, lang: str = "en") -> str:
    origin = label(f"d_origin_{s.origin}", lang) if f"d_origin_{s.origin}" in texts() else s.origin
    parts = [label("d_side", lang).format(name=name, source=s.source, origin=origin, n=f"{s.stack_samples:,}")]
    if s.duration_s:
        parts.append(f"{s.duration_s:.1f} s")
    if s.exposure:
        parts.append(label("d_cores", lang).format(v=f"{s.stack_samples / s.exposure:.2f}"))
    if s.event:
        parts.append(s.event)
    return ("，" if lang == "zh" else ", ").join(parts)


def _finding_text(f: FindingChange, lang: str = "en") -> str:
    subject = f" ({f.subject})" if f.subject else ""
    info = f.after or f.before
    title = f"{colon(lang)}{info.title}" if info and info.title else ""
    if f.status == "persists":
        assert f.before is not None and f.after is not None
        sev = severity_label(f.after.severity, lang)
        if f.before.severity != f.after.severity:
            sev = f"{severity_label(f.before.severity, lang)} -> {sev}"
        return label("d_persists", lang).format(id=f"{f.id}{subject}", before=f"{f.before.score:.0f}",
                                                after=f"{f.after.score:.0f}", severity=sev) + title
    assert info is not None
    return label(f"d_{f.status}", lang).format(id=f"{f.id}{subject}", score=f"{info.score:.0f}",
                                               severity=severity_label(info.severity, lang)) + title


# -- JSON ----------------------------------------------------------------------------------

def _delta(d: Delta | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {"delta": _r(d.value), "ci95": [_r(d.ci[0]), _r(d.ci[1])], "p": d.p, "p_adjusted": d.p_adjusted,
            "significant": d.significant}


def _change(c: Change, lang: str) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": c.kind, "name": c.name}
    if c.kind == "function":
        out["module"] = c.module
        if c.inclusive:
            out["inclusive_share"] = {"before": _r(c.inclusive[0]), "after": _r(c.inclusive[1])}
    if c.kind == "component":
        out["title"] = _label(c, lang)
    out.update({
        "before": {"samples": c.before.samples, "share": _r(c.before.share), "cores": _r(c.before.cores)},
        "after": {"samples": c.after.samples, "share": _r(c.after.share), "cores": _r(c.after.cores)},
        "share_change": _delta(c.share), "cores_change": _delta(c.cores),
        "significant": c.significant, "direction": c.direction if c.significant else "within-noise",
    })
    return out


def _side(s: Side) -> dict[str, Any]:
    return {"source": s.source, "origin": s.origin, "event": s.event, "stack_samples": s.stack_samples,
            "frequency_hz": s.frequency_hz, "duration_s": _r(s.duration_s),
            "cores_used": _r(s.stack_samples / s.exposure) if s.exposure else None}


def diff_dict(cmp: Comparison, lang: str = "en") -> dict[str, Any]:
    def side(i: FindingInfo | None) -> dict[str, Any] | None:
        return None if i is None else {"severity": i.severity, "score": round(i.score, 1), "title": i.title,
                                       "summary": i.summary}

    def finding(f: FindingChange) -> dict[str, Any]:
        return {"id": f.id, "subject": f.subject, "status": f.status, "before": side(f.before),
                "after": side(f.after), "score_change": _r(f.score_change, 1)}

    return {
        "schema": SCHEMA,
        "tool": {"name": "diagnose", "version": __version__},
        "before": _side(cmp.before),
        "after": _side(cmp.after),
        "primary_measure": cmp.primary,
        "method": {
            "compared": "self samples (functions), self samples by component (components)",
            "interval": "95%: Newcombe hybrid score (shares), MOVER from Poisson score intervals (cores)",
            "test": "pooled two-proportion z-test (shares), conditional binomial test of Poisson rates (cores)",
            "multiple_comparisons": f"Holm-Bonferroni per table and measure, family-wise alpha {cmp.alpha:g}",
            "min_change_share": cmp.min_share, "min_change_cores": cmp.min_cores,
            "text": method_text(cmp),
        },
        "total": {"before_cores": _r(cmp.total.before.cores), "after_cores": _r(cmp.total.after.cores),
                  "cores_change": _delta(cmp.total.cores)},
        "significant": {"components": len(cmp.significant(cmp.components)),
                        "functions": len(cmp.significant(cmp.functions))},
        "components": [_change(c, lang) for c in cmp.components],
        "functions": [_change(c, lang) for c in cmp.functions],
        "findings": [finding(f) for f in cmp.findings],
        "notes": cmp.notes,
        # why the two captures may compare badly: [{kind, before, after, text}] (diagnose.expert.diff_warnings)
        "warnings": [w.to_dict(lang) for w in cmp.warnings],
    }


def _notes(cmp: Comparison) -> list[str]:
    """The notes a reader sees beside the warnings: those the warnings do not already say (the
    JSON keeps every note)."""
    said = {w.kind for w in cmp.warnings}
    return [n for n in cmp.notes if not ("event" in said and n.startswith("the captures sampled different events"))
            and not ("frequency" in said and n.startswith("sampling frequencies differ"))]


# -- Markdown ------------------------------------------------------------------------------

def _md_table(rows: list[Change], cmp: Comparison, lang: str, with_module: bool) -> list[str]:
    L = lambda k: label(k, lang)  # noqa: E731
    head = ["", L("d_md_module")] if with_module else [""]
    cols = [*head, L("d_md_before"), L("d_md_after"), L("d_md_dshare")]
    if cmp.primary == "cores":
        cols += [L("d_md_before_cores"), L("d_md_after_cores"), L("d_md_dcores")]
    cols.append(L("d_verdict"))
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for c in rows:
        cells = [_md(_label(c, lang))] + ([_md(_base(c.module))] if with_module else [])
        cells += [f"{100 * c.before.share:.2f}%", f"{100 * c.after.share:.2f}%", _pp(c.share) if c.share else "–"]
        if cmp.primary == "cores":
            cells += [_cores(c.before.cores), _cores(c.after.cores), _dcores(c.cores) if c.cores else "–"]
        verdict = _verdict(c, lang)
        cells.append(f"**{verdict}**" if c.significant else verdict)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(cmp: Comparison, lang: str = "en") -> str:
    L = lambda k: label(k, lang)  # noqa: E731
    before, after = L("d_before"), L("d_after")
    out = [f"# {L('d_title')}", "", f"- {_md(_side_line(before[:1].upper() + before[1:], cmp.before, lang))}",
           f"- {_md(_side_line(after[:1].upper() + after[1:], cmp.after, lang))}"]
    t = cmp.total
    if t.cores is not None:
        verdict = L("d_significant") if t.cores.significant else L("d_within_noise")
        out.append("- " + L("d_cpu_used").format(before=f"{t.before.cores:.3f}", after=f"{t.after.cores:.3f}",
                                                 change=_dcores(t.cores)) + f" ({verdict})")
    out += [f"- **{_md(L('warning').strip())}** {_md(w.text(lang))}" for w in cmp.warnings]
    out += [f"- {L('d_note')}{colon(lang)}{_md(n)}" for n in _notes(cmp)]
    out += ["", f"## {L('d_components')}", ""] + _md_table(cmp.components, cmp, lang, False)
    sig = cmp.significant(cmp.functions)
    out += ["", f"## {L('d_functions')}", ""]
    if sig:
        out += _md_table(sig[:TOP_FUNCTIONS], cmp, lang, True)
        if len(sig) > TOP_FUNCTIONS:
            out += ["", L("d_md_more").format(n=len(sig) - TOP_FUNCTIONS)]
    else:
        out.append(L("d_no_function"))
    rest = len(cmp.functions) - len(sig)
    if rest:
        out += ["", L("d_md_rest").format(n=rest)]
    out += ["", f"## {L('d_findings')}", ""]
    out += [f"- {_md(_finding_text(f, lang))}" for f in cmp.findings] or [L("d_no_findings")]
    out += ["", f"## {L('d_method_title')}", ""]
    if any(_share_only(c) for c in cmp.components + cmp.functions):
        out += [_md(L("d_share_only")), ""]
    out += [_md(method_text(cmp, lang)), ""]
    return "\n".join(out)


# -- terminal ------------------------------------------------------------------------------

def render_terminal(cmp: Comparison, width: int = 110, color: bool = False, lang: str = "en") -> str:
    # rich: loaded only when this runs
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, color_system="standard" if color else None,
                      highlight=False, emoji=False)
    L = lambda k: label(k, lang)  # noqa: E731
    console.print(Text(L("d_title"), style="bold"))
    # rich: loaded only when this runs
    from diagnose.report.fit import hanging

    for key, side in ((L("d_before"), cmp.before), (L("d_after") + (" " if lang == "en" else ""), cmp.after)):
        line = esc(_side_line(key, side, lang))
        head, _, rest = line.partition(colon(lang))
        grid = Table.grid()
        grid.add_column(no_wrap=True)
        grid.add_column()
        grid.add_row(head + colon(lang), hanging(Text(rest), width - cell_len(head + colon(lang))))
        console.print(grid)
    t = cmp.total
    if t.cores is not None and t.before.cores is not None and t.after.cores is not None:
        verdict = L("d_significant") if t.cores.significant else L("d_within_noise")
        console.print(Text(L("d_cpu_used").format(before=f"{t.before.cores:.3f}", after=f"{t.after.cores:.3f}",
                                                  change=_dcores(t.cores)) + f" [{verdict}]"))
    for w in cmp.warnings:
        console.print(hanging(Text(f"{L('warning')}{esc(w.text(lang))}", style="bold yellow"), width))
    for n in _notes(cmp):
        console.print(hanging(Text(f"{L('d_note')}{colon(lang)}{esc(n)}", style="yellow"), width))

    def table(title: str, rows: list[Change], with_module: bool) -> Table:
        # rich: loaded only when this runs
        from diagnose.report.fit import Col, Named, fitted_table

        styles = [("red" if c.direction == "grew" else "green") if c.significant else "dim" for c in rows]
        names = [Named(esc(_label(c, lang))) if with_module else Text(esc(_label(c, lang))) for c in rows]
        cols = [Col(L("d_name"), "name" if with_module else "prose", min_width=20, comfort=28, cells=names),
                Col(L("d_verdict"), "prose", cells=[Text(_verdict(c, lang), style=st) for c, st in zip(rows, styles)])]
        if with_module:
            cols.append(Col(L("d_md_module"), "name", style="cyan", min_width=14, max_lines=1, keep=False,
                            cells=[Named(esc(_base(c.module))) for c in rows]))
        cols.append(Col(L("d_share"), justify="right",
                        cells=[f"{100 * c.before.share:.1f}→{100 * c.after.share:.1f}%" for c in rows]))
        # With cores the primary measure, the share's interval is left to the JSON and Markdown.
        cols.append(Col(L("d_pp") if cmp.primary == "cores" else L("d_pp_ci"), justify="right",
                        cells=["–" if c.share is None else f"{100 * c.share.value:+.1f}" if cmp.primary == "cores"
                               else _short(c.share, 100, 1) for c in rows]))
        if cmp.primary == "cores":
            cols.append(Col(L("d_cores_col"), justify="right", keep=False,
                            cells=[f"{_cores(c.before.cores)}→{_cores(c.after.cores)}" for c in rows]))
            cols.append(Col(L("d_dcores"), justify="right", cells=[_short(c.cores, 1, 3) if c.cores else "–"
                                                                   for c in rows]))
        return fitted_table(title, cols, width)

    console.print()
    console.print(table(L("d_components"), cmp.components, False))
    sig = cmp.significant(cmp.functions)
    if sig:
        console.print(table(L("d_functions"), sig[:TOP_FUNCTIONS], True))
        if len(sig) > TOP_FUNCTIONS:
            console.print(Text(L("d_more").format(n=len(sig) - TOP_FUNCTIONS)))
    else:
        console.print(Text(L("d_no_function")))
    rest = len(cmp.functions) - len(sig)
    if rest:
        console.print(Text(L("d_rest").format(n=rest), style="dim"))
    console.print()
    console.print(Text(L("d_findings"), style="bold"))
    for f in cmp.findings:
        grid = Table.grid()
        grid.add_column(width=2)
        grid.add_column()
        grid.add_row("", hanging(Text(esc(_finding_text(f, lang))), width - 2))
        console.print(grid)
    if not cmp.findings:
        console.print(Text("  " + L("d_no_findings")))
    console.print()
    if any(_share_only(c) for c in cmp.components + cmp.functions):
        console.print(Text(L("d_share_only"), style="dim"))
    console.print(Text(method_text(cmp, lang), style="dim"))
    return zh_punct(buf.getvalue(), lang)
