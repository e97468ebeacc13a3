"""`diagnose explain`: a saved JSON report, re-rendered without the capture: how each finding was
reached (conditions, measured values, thresholds, derived facts, evidence, why each piece of
advice applies) and why a rule did not fire. A saved report is input like any other: every string
from it goes through escape.terminal."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from diagnose.errors import DiagnoseError
from diagnose.report.escape import terminal as esc
from diagnose.report.json_report import parse_report
from diagnose.report.labels import label, severity_label
from diagnose.report.report_shape import check_report

OPS = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<", "eq": "==", "ne": "!="}


def load_report(path: str) -> dict[str, Any]:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise DiagnoseError(f"{path}: no such file; pass a report written by `diagnose analyze --format json`") from None
    except OSError as exc:
        raise DiagnoseError(f"{path}: cannot read it ({exc.strerror}); check the path and permissions") from None
    hint = "write one with `diagnose analyze CAPTURE --format json -o report.json`"
    data = parse_report(raw, path, hint)
    check_report(data, path, hint)
    return data


def _t(d: dict[str, Any], key: str, lang: str) -> str:
    texts = d.get("texts", {})
    return esc((texts.get(lang) or {}).get(key) or d.get(key) or "", multiline=True)


def _value(measure: str, v: Any) -> str:
    if v is None:
        return "unknown"
    if isinstance(v, dict) and isinstance(v.get("en"), str):
        v = v["en"]  # a fact that is a sentence per language (network.receive_buffer.origin)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and ("share" in measure or measure.startswith(("top_", "passes_through", "dominator"))):
        return f"{100 * v:.2f}%"
    if isinstance(v, float):
        return f"{v:.4g}"
    return esc(v)


def _conditions_table(rule: dict[str, Any]) -> Table:
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for col in ("", "condition", "measured", "test", "result"):
        t.add_column(col, overflow="fold")
    for c in rule.get("conditions", []):
        op = c.get("op")
        test = f"{esc(OPS.get(op, op))} {_value(c['measure'], c.get('threshold'))}" if op else "(measured)"
        passed = c.get("passed")
        result = Text("pass", style="green") if passed is True else Text("unknown", style="yellow") if passed is None \
            else Text("fail" if c["group"] != "none" else "no", style="red")
        if c["group"] == "none" and passed is False:
            result = Text("pass (absent)", style="green")
        name = f" as {c['name']}" if c.get("name") else ""
        measured = _value(c["measure"], c.get("value"))
        if isinstance(c.get("subject"), str):
            measured += f" ({esc(c['subject'])})"
        t.add_row(Text(esc(c["group"])), Text(esc(c["measure"] + name)), Text(measured),
                  Text(test), result)
    return t


def finding_renderables(report: dict[str, Any], fid: str, lang: str) -> list[Any]:
    findings = report.get("findings") or []
    matches = [f for f in findings if f["id"] == fid or f"{f['id']}:{f.get('subject')}" == fid]
    if not matches:
        have = esc(", ".join(str(f["id"]) for f in findings)) or "none"
        raise DiagnoseError(f"no finding {fid!r} in this report (findings: {have}); "
                            f"for a rule that did not fire use --rule {fid}")
    f = matches[0]
    out: list[Any] = []
    head = Text()
    head.append(f" {severity_label(f['severity'], lang)} ", style="bold white on red" if f["severity"] in ("high", "critical")
                else "bold")
    head.append(f" {_t(f, 'title', lang)}", style="bold")
    if f.get("subject"):
        head.append(f" [{esc(f['subject'])}]", style="magenta")
    head.append(esc(f"\n{f['id']} · rank {f.get('rank')} · score {f['score']} · confidence {f['confidence']}",
                    multiline=True), style="dim")
    if f.get("explained_by"):
        head.append(f"\n{label('explained_by', lang)}: {esc(f['explained_by'])}", style="dim")
    if f.get("explains"):
        head.append(f"\n{label('explains', lang)}: {esc(', '.join(map(str, f['explains'])))}", style="dim")
    head.append("\n\n" + _t(f, "summary", lang))
    if _t(f, "explanation", lang):
        head.append("\n\n" + _t(f, "explanation", lang))
    if f.get("severity_capped_because"):
        head.append(f"\n\n({esc(f['severity_capped_because'], multiline=True)})", style="yellow")
    out.append(Panel(head, title="Finding", title_align="left", box=box.ROUNDED))
    rule = next((r for r in (report.get("evaluation") or {}).get("rules", []) if r["id"] == f["id"]), None)
    if rule is not None:
        out.append(Panel(_conditions_table(rule), title=Text(f"How it was reached ({esc(rule.get('source'))})"),
                         title_align="left", box=box.ROUNDED))
        if rule.get("derived"):
            out.append(Text(f"derived facts: {esc(', '.join(map(str, rule['derived'])))}", style="dim"))
    facts = (report.get("evaluation") or {}).get("facts") or {}
    if facts:
        out.append(Text("facts known after evaluation: " + esc(", ".join(f"{k}={v}" for k, v in facts.items())),
                        style="dim"))
    ev = f.get("evidence") or {}
    if ev.get("stacks"):
        body = Text()
        for s in ev["stacks"]:
            body.append(f"{100 * s['share']:.2f}% ({s['samples']} samples)\n", style="bold")
            body.append("  " + " → ".join(esc(x) for x in s["frames"]) + "\n")
        out.append(Panel(body, title=Text(f"{label('evidence', lang)}: call chains through {esc(ev.get('selector', ''))}"),
                         title_align="left", box=box.ROUNDED))
    if ev.get("functions"):
        owned = ev.get("counted") == "owned"
        t = Table(box=box.SIMPLE_HEAD, title="functions that own these samples" if owned else "matching functions",
                  title_justify="left")
        for col in ("function", "module", *(("owned",) if owned else ()), "inclusive", "self"):
            t.add_column(col, overflow="fold")
        for fn in ev["functions"]:
            cells = [f"{100 * fn['owned_share']:.2f}%"] if owned else []
            t.add_row(Text(esc(fn["name"])), Text(esc(fn["module"].rsplit("/", 1)[-1])), *cells,
                      f"{100 * fn['inclusive_share']:.2f}%", f"{100 * fn['self_share']:.2f}%")
        out.append(t)
    recs = Text()
    for rec in f.get("recommendations", []):
        recs.append(f"• [{esc(rec['kind'])}] {_t(rec, 'title', lang)}\n", style="bold green")
        if rec["kind"] == "sysctl":
            cur = rec.get("current")
            recs.append(f"  {esc(rec['key'])}: {esc(cur) if cur is not None else label('not_recorded', lang)} → "
                        f"{esc(rec['value'])} ({esc(rec.get('mode'))})\n")
            recs.append(f"  {label('apply', lang)}: {esc(rec['apply'][0])}\n  {label('persist', lang)}: "
                        f"{esc(' && '.join(rec['persist']))}\n", style="green")
        if _t(rec, "where", lang):
            recs.append(f"  {label('where', lang)}: {_t(rec, 'where', lang)}\n", style="dim")
        estimate = (rec.get("texts", {}).get(lang) or {}).get("estimate")
        if isinstance(estimate, str) and estimate:  # counted calls (diagnose run): the saving
            recs.append(f"  {label('estimate', lang)}: {esc(estimate)} ({label('assumption', lang)}: "
                        f"{_t(rec, 'assumption', lang)})\n", style="green")
        recs.append(f"  why it applies: {_t(rec, 'why', lang)}\n")
        if rec.get("sources"):
            recs.append("  sources: " + esc("; ".join(str(s.get("title", s["id"])) for s in rec["sources"])) + "\n",
                        style="dim")
    for rec in f.get("not_helpful", []):
        what = f"sysctl {esc(rec['key'])}" if rec["kind"] == "sysctl" else _t(rec, "title", lang)
        why = _t(rec, "why_here", lang) or esc(rec.get("why_not_helpful", ""), multiline=True)
        recs.append(f"✗ {what}: {why}\n", style="red")
    for rec in (ev.get("already_satisfied") or []):
        recs.append(f"✓ sysctl {esc(rec.get('key'))}: {esc(rec.get('current'))} ≥ {esc(rec.get('value'))} "
                    f"({label('already_ok', lang)})\n", style="dim")
    for w in f.get("withheld") or []:
        if w.get("status") == "already-in-effect" and w["id"] in {r.get("id") for r in ev.get("already_satisfied") or []}:
            continue  # shown above
        recs.append(f"– {_t(w, 'title', lang)} ({label('withheld_' + w['status'].replace('-', '_'), lang)}): "
                    f"{_t(w, 'why', lang)}\n",
                    style="dim")
    if recs.plain:
        out.append(Panel(recs, title="Recommendations", title_align="left", box=box.ROUNDED))
    return out


def rule_renderables(report: dict[str, Any], rid: str, lang: str) -> list[Any]:
    rules = (report.get("evaluation") or {}).get("rules", [])
    rule = next((r for r in rules if r["id"] == rid), None)
    if rule is None:
        have = esc(", ".join(str(r["id"]) for r in rules))
        raise DiagnoseError(f"no rule {rid!r} was evaluated in this report (rules: {have})")
    head = Text()
    head.append(esc(f"{rule['id']} ({rule.get('pack')}, {rule.get('source')}): "), style="bold")
    status = esc(rule["status"])
    head.append(status, style="green" if status == "fired" else "yellow")
    if status == "fired":
        head.append(esc(f" — score {rule.get('score')}, severity {rule.get('severity')}; see --finding {rid}"))
    elif rule.get("why_not"):
        head.append("\nwhy not: ", style="bold")
        head.append(esc(rule["why_not"], multiline=True))
    return [Panel(Group(head, _conditions_table(rule)), title=Text(esc(rule.get("title") or rid)), title_align="left",
                  box=box.ROUNDED)]


def overview_renderables(report: dict[str, Any], lang: str) -> list[Any]:
    out: list[Any] = []
    cap = report.get("capture", {})
    freq, dur = cap.get("frequency_hz"), cap.get("duration_s")
    out.append(Text(esc(f"{cap.get('source')}: {cap.get('total_samples')} samples, "
                        f"{f'{freq} Hz' if freq is not None else 'frequency unknown'}, "
                        f"{f'{dur} s' if dur is not None else 'duration unknown'}"), style="bold"))
    findings = report.get("findings") or []
    t = Table(box=box.SIMPLE_HEAD, title=label("findings", lang), title_justify="left")
    for col in ("#", "severity", "finding", "score", "conf.", "summary"):
        t.add_column(col, overflow="fold")
    for f in findings:
        name = ("  ↳ " if f.get("explained_by") else "") + esc(f["id"]) + (f" [{esc(f['subject'])}]" if f.get("subject")
                                                                            else "")
        t.add_row(esc(f.get("rank")), severity_label(f["severity"], lang), Text(name), f"{f['score']:.0f}",
                  f"{f['confidence']:.2f}", Text(_t(f, "summary", lang)))
    out.append(t if findings else Text(label("no_findings", lang)))
    rules = (report.get("evaluation") or {}).get("rules", [])
    quiet = [r for r in rules if r["status"] != "fired"]
    if quiet:
        q = Table(box=box.SIMPLE_HEAD, title="Rules that did not fire", title_justify="left")
        q.add_column("rule")
        q.add_column("status")
        q.add_column("why not", overflow="fold")
        for r in quiet:
            q.add_row(Text(esc(r["id"])), Text(esc(r["status"])), Text(esc(r.get("why_not") or "", multiline=True)))
        out.append(q)
    for note in (report.get("evaluation") or {}).get("notes", []):
        out.append(Text(f"note: {esc(note, multiline=True)}", style="dim"))
    return out


def render_explain(report: dict[str, Any], finding: str | None, rule: str | None, lang: str, width: int,
                   color: bool) -> str:
    if finding:
        parts = finding_renderables(report, finding, lang)
    elif rule:
        parts = rule_renderables(report, rule, lang)
    else:
        parts = overview_renderables(report, lang)
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, color_system="truecolor" if color else None,
                      highlight=False, soft_wrap=False)
    console.print(Group(*parts))
    return buf.getvalue()
