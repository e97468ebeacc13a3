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

from diagnose.core.errors import DiagnoseError
from diagnose.core.escape import terminal as esc
from diagnose.core.messages import say
from diagnose.report.fit import Col, Named, fitted_table
from diagnose.report.json_report import parse_report
from diagnose.report.labels import colon, label, severity_label, texts, zh_punct
from diagnose.report.report_shape import check_report
from diagnose.report.rule_titles import rule_title

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


def _value(measure: str, v: Any, lang: str = "en") -> str:
    if v is None:
        return label("unknown", lang)
    if isinstance(v, bool) and lang != "en":  # fired:, fact: (English keeps true/false as the JSON has them)
        return label("x_yes" if v else "x_no", lang)
    if isinstance(v, dict) and isinstance(v.get("en"), str):
        v = v.get(lang) or v["en"]  # a fact that is a sentence per language (network.receive_buffer.origin)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and ("share" in measure or measure.startswith(("top_", "passes_through", "dominator"))):
        return f"{100 * v:.2f}%"
    if isinstance(v, float):
        return f"{v:.4g}"
    return esc(v)


def _group(group: str, lang: str) -> str:
    key = f"x_group_{group}"
    return label(key, lang) if key in texts() else esc(group)


def _conditions_table(rule: dict[str, Any], lang: str = "en") -> Table:
    L = lambda k: label(k, lang)  # noqa: E731
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for col in ("", L("x_condition"), L("x_measured"), L("x_test"), L("x_result")):
        t.add_column(col, overflow="fold")
    for c in rule.get("conditions", []):
        op = c.get("op")
        test = f"{esc(OPS.get(op, op))} {_value(c['measure'], c.get('threshold'), lang)}" if op else L("x_measured_only")
        passed = c.get("passed")
        result = Text(L("x_pass"), style="green") if passed is True else \
            Text(L("unknown"), style="yellow") if passed is None \
            else Text(L("x_fail") if c["group"] != "none" else L("x_no"), style="red")
        if c["group"] == "none" and passed is False:
            result = Text(L("x_pass_absent"), style="green")
        name = (f"，记为 {c['name']}" if lang == "zh" else f" as {c['name']}") if c.get("name") else ""
        measured = _value(c["measure"], c.get("value"), lang)
        if isinstance(c.get("subject"), str):
            measured += f" ({esc(c['subject'])})"
        t.add_row(Text(_group(c["group"], lang)), Text(esc(c["measure"] + name)), Text(measured),
                  Text(test), result)
    return t


def _status(status: str, lang: str) -> str:
    key = "x_" + status.replace("-", "_")
    return label(key, lang) if key in texts() else esc(status)


def _why_not(rule: dict[str, Any], lang: str) -> str:
    """Why the rule did not fire. The report keeps it in English; in Chinese it is said again from
    the condition that failed (the first `when` that failed or `none` that held), as the engine does."""
    text = esc(rule.get("why_not") or "", multiline=True)
    if lang != "zh" or not text:
        return text
    conds = rule.get("conditions", [])
    c = next((c for c in conds if (c["group"] == "when" and c.get("passed") is False)
              or (c["group"] == "none" and c.get("passed") is True)), None)
    if c is None:
        c = next((c for c in conds if c["group"] == "when" and c.get("passed") is None), None)
        return f"{esc(c['measure'])}：无法测量" if c is not None else _status(rule["status"], lang)
    cond = f"{esc(c['measure'])} = {_value(c['measure'], c.get('value'), lang)}"
    if c["group"] == "none":
        return f"被排除：{cond}"
    need = f"需要 {esc(OPS.get(c.get('op'), c.get('op')))} {_value(c['measure'], c.get('threshold'), lang)}"
    a, b = c.get("value"), c.get("threshold")
    gap = ""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if _value(c["measure"], a, "en").endswith("%"):
            gap = f"（{'差' if c.get('op') in ('gte', 'gt') else '超出'} {100 * abs(b - a):.2f} 个百分点）"
        else:
            gap = f"（相差 {abs(b - a):g}）"
    return f"{cond}，{need}{gap}"


def finding_renderables(report: dict[str, Any], fid: str, lang: str) -> list[Any]:
    findings = report.get("findings") or []
    matches = [f for f in findings if f["id"] == fid or f"{f['id']}:{f.get('subject')}" == fid]
    if not matches:
        have = esc(", ".join(str(f["id"]) for f in findings)) or "none"
        raise DiagnoseError(f"no finding {fid!r} in this report (findings: {have}); "
                            f"for a rule that did not fire use --rule {fid}")
    f = matches[0]
    L, C = (lambda k: label(k, lang)), colon(lang)  # noqa: E731
    out: list[Any] = []
    head = Text()
    head.append(f" {severity_label(f['severity'], lang)} ", style="bold white on red" if f["severity"] in ("high", "critical")
                else "bold")
    head.append(f" {_t(f, 'title', lang)}", style="bold")
    if f.get("subject"):
        head.append(f" [{esc(f['subject'])}]", style="magenta")
    head.append(esc(f"\n{f['id']} · {L('x_rank')} {f.get('rank')} · {L('score')} {f['score']} · "
                    f"{L('confidence')} {f['confidence']}", multiline=True), style="dim")
    if f.get("explained_by"):
        head.append(f"\n{label('explained_by', lang)}: {esc(f['explained_by'])}", style="dim")
    if f.get("explains"):
        head.append(f"\n{label('explains', lang)}: {esc(', '.join(map(str, f['explains'])))}", style="dim")
    head.append("\n\n" + _t(f, "summary", lang))
    if _t(f, "explanation", lang):
        head.append("\n\n" + _t(f, "explanation", lang))
    if f.get("severity_capped_because"):
        head.append(f"\n\n({esc(say(f['severity_capped_because'], lang), multiline=True)})", style="yellow")
    out.append(Panel(head, title=L("x_finding"), title_align="left", box=box.ROUNDED))
    rule = next((r for r in (report.get("evaluation") or {}).get("rules", []) if r["id"] == f["id"]), None)
    if rule is not None:
        out.append(Panel(_conditions_table(rule, lang), title=Text(f"{L('x_how')} ({esc(rule.get('source'))})"),
                         title_align="left", box=box.ROUNDED))
        if rule.get("derived"):
            out.append(Text(f"{L('x_derived')}{C}{esc(', '.join(map(str, rule['derived'])))}", style="dim"))
    facts = (report.get("evaluation") or {}).get("facts") or {}
    if facts:
        out.append(Text(L("x_facts") + C + esc(", ".join(f"{k}={v}" for k, v in facts.items())),
                        style="dim"))
    ev = f.get("evidence") or {}
    if ev.get("stacks"):
        body = Text()
        for s in ev["stacks"]:
            body.append(f"{100 * s['share']:.2f}% ({L('n_samples').format(n=s['samples'])})\n", style="bold")
            body.append("  " + " → ".join(esc(x) for x in s["frames"]) + "\n")
        out.append(Panel(body, title=Text(L("evidence") + C + L("x_chains_through").format(
                                              selector=esc(ev.get("selector", "")))),
                         title_align="left", box=box.ROUNDED))
    if ev.get("functions"):
        owned = ev.get("counted") == "owned"
        t = Table(box=box.SIMPLE_HEAD, title=L("x_owning") if owned else L("x_matching"), title_justify="left")
        for col in (L("col_function"), L("col_module"), *((L("x_owned"),) if owned else ()), L("x_inclusive"),
                    L("x_self")):
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
            recs.append(f"  {L('where')}{C}{_t(rec, 'where', lang)}\n", style="dim")
        estimate = (rec.get("texts", {}).get(lang) or {}).get("estimate")
        if isinstance(estimate, str) and estimate:  # counted calls (diagnose run): the saving
            recs.append(f"  {label('estimate', lang)}: {esc(estimate)} ({label('assumption', lang)}: "
                        f"{_t(rec, 'assumption', lang)})\n", style="green")
        recs.append(f"  {L('x_why_applies')}{C}{_t(rec, 'why', lang)}\n")
        if rec.get("sources"):
            titles = [esc(str(s.get("title", s["id"]))) for s in rec["sources"]]
            if lang == "zh":  # titles of cited documents, in their own language
                titles = [f"《{t}》" for t in titles]
            recs.append(f"  {L('x_sources')}{C}" + ("" if lang == "zh" else "; ").join(titles) + "\n", style="dim")
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
        out.append(Panel(recs, title=L("x_recommendations"), title_align="left", box=box.ROUNDED))
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
    head.append(_status(status, lang), style="green" if status == "fired" else "yellow")
    if status == "fired":
        sev = rule.get("severity")
        head.append(" — " + label("x_see_finding", lang).format(
            score=f"{rule['score']:.1f}" if isinstance(rule.get("score"), (int, float)) else esc(rule.get("score")),
            id=esc(rid),
            severity=severity_label(sev, lang) if sev in ("critical", "high", "medium", "low", "info") else esc(sev)))
    elif rule.get("why_not"):
        head.append("\n" + label("x_why_not", lang) + colon(lang), style="bold")
        head.append(_why_not(rule, lang))
    title = rule.get("title")
    if isinstance(title, dict):  # a title in each language (reports written since the titles were)
        title = title.get(lang) or title.get("en")
    title = _rule_title(report, rid, lang) or title
    return [Panel(Group(head, _conditions_table(rule, lang)), title=Text(esc(title or rid)), title_align="left",
                  box=box.ROUNDED)]


def _rule_title(report: dict[str, Any], rid: str, lang: str) -> str | None:
    """The rule's title in `lang`: from the finding of the same rule, else from the rule packs."""
    f = next((f for f in report.get("findings") or [] if f.get("id") == rid), None)
    if f is not None and _t(f, "title", lang):
        return _t(f, "title", lang)
    if lang == "en":
        return None

    return rule_title(rid, lang)


def overview_renderables(report: dict[str, Any], lang: str, width: int = 110) -> list[Any]:
    out: list[Any] = []
    cap = report.get("capture", {})
    freq, dur = cap.get("frequency_hz"), cap.get("duration_s")
    out.append(Text(esc(label("x_overview", lang).format(
        source=cap.get("source"), n=cap.get("total_samples"),
        hz=f"{freq} Hz" if freq is not None else label("x_freq_unknown", lang),
        s=f"{dur} s" if dur is not None else label("x_dur_unknown", lang))), style="bold"))
    findings = report.get("findings") or []

    def name(f: dict[str, Any]) -> Named:
        return Named(("↳ " if f.get("explained_by") else "") + esc(f["id"]),
                     f" [{esc(f['subject'])}]" if f.get("subject") else "", "magenta")

    # An explained finding is shown under its cause, marked ↳ and not numbered again.
    t = fitted_table(label("findings", lang), [
        Col("#", justify="right", cells=["" if f.get("explained_by") else esc(f.get("rank")) for f in findings]),
        Col(label("x_severity", lang), cells=[severity_label(f["severity"], lang) for f in findings]),
        Col(label("x_finding_col", lang), "name", min_width=max((len(f["id"]) + 2 for f in findings), default=8),
            max_lines=2, cells=[name(f) for f in findings]),
        Col(label("score", lang), justify="right", keep=False, cells=[f"{f['score']:.0f}" for f in findings]),
        Col(label("x_conf", lang), justify="right", keep=False, cells=[f"{f['confidence']:.2f}" for f in findings]),
        Col(label("x_summary", lang), "prose", comfort=30, cells=[Text(_t(f, "summary", lang)) for f in findings]),
    ], width)
    out.append(t if findings else Text(label("no_findings", lang)))
    rules = (report.get("evaluation") or {}).get("rules", [])
    quiet = [r for r in rules if r["status"] != "fired"]
    if quiet:
        q = fitted_table(label("x_quiet", lang), [
            Col(label("x_rule", lang), "name", min_width=max(len(r["id"]) for r in quiet), max_lines=1,
                cells=[Named(esc(r["id"])) for r in quiet]),
            Col(label("x_status", lang), "prose", cells=[Text(_status(r["status"], lang)) for r in quiet]),
            Col(label("x_why_not", lang), "prose", cells=[Text(_why_not(r, lang)) for r in quiet])], width)
        out.append(q)
    for note in (report.get("evaluation") or {}).get("notes", []):
        out.append(Text(f"{label('x_note', lang)}{colon(lang)}{esc(say(note, lang), multiline=True)}", style="dim"))
    return out


def render_explain(report: dict[str, Any], finding: str | None, rule: str | None, lang: str, width: int,
                   color: bool) -> str:
    if finding:
        parts = finding_renderables(report, finding, lang)
    elif rule:
        parts = rule_renderables(report, rule, lang)
    else:
        parts = overview_renderables(report, lang, width)
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, color_system="truecolor" if color else None,
                      highlight=False, soft_wrap=False)
    console.print(Group(*parts))
    return zh_punct(buf.getvalue(), lang)


def miss_text(miss: Any, lang: str) -> str:
    """An unmet expectation of a rule-pack test case (ruletest.Miss) in the report's language;
    why a rule did not fire is said as `explain --rule` says it."""
    if lang != "zh":
        return miss.text()
    L = lambda k: label(k, lang)  # noqa: E731
    if miss.kind == "not-fired":
        why = _why_not(miss.trace, lang) if miss.trace else L("r_no_such_rule")
        return L("r_miss_not_fired").format(rule=miss.subject, why=why)
    if miss.kind == "severity":
        got = "、".join(f"{f}（{severity_label(sev, lang)}）" for f, sev in miss.above)
        return L("r_miss_severity").format(rule=severity_label(miss.subject, lang), got=got)
    return L(f"r_miss_{miss.kind.replace('-', '_')}").format(rule=miss.subject, got=miss.got or L("r_none"))
