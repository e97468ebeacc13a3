"""The many-captures report in Markdown: the captures, one table of findings by capture (the
captures as columns #1, #2, ...), a legend, and the merged profile's findings."""

from __future__ import annotations

from diagnose.expert.fleet_result import Fleet
from diagnose.core.escape import code, markdown as md
from diagnose.report.fleet_rows import duration_text, finding_rows, letter, letters, number, share_cell, status
from diagnose.report.labels import label, severity_label


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def render_fleet_markdown(fleet: Fleet) -> str:
    lang = fleet.lang
    L = lambda key: label(key, lang)  # noqa: E731
    out = [f"# {L('fleet_title').format(n=len(fleet.captures))}", "", f"## {L('fleet_captures')}", ""]
    out.append(_row(["#", L("fleet_capture"), L("samples"), L("duration"), L("fleet_hz"), L("fleet_cores"),
                     L("fleet_status")]))
    out.append(_row(["---:", "---", "---:", "---:", "---:", "---:", "---"]))
    for c, name in zip(fleet.captures, fleet.labels):
        st = md(status(c, lang)) + (": " + md(c.error) if c.error else "")
        out.append(_row([f"#{c.index + 1}", code(name, cell=True), f"{c.total_samples:,}" if c.ok else "",
                         duration_text(c), number(c.frequency_hz, "g"), number(c.cores_used, ".2f"), st]))
    if fleet.skipped:
        out += ["", f"{L('fleet_skipped')}:", ""]
        out += [f"- {code(path)}: {md(why)}" for path, why in fleet.skipped]
    out += ["", f"## {L('fleet_findings')}", ""]
    rows = finding_rows(fleet)
    if not rows:
        out.append(L("fleet_none"))
    else:
        out.append(_row([L("fleet_finding"), *(f"#{c.index + 1}" for c in fleet.captures)]))
        out.append(_row(["---", *("---:" for _ in fleet.captures)]))
        for r in rows:
            cells = ["" if f is None else f"{letter(f['severity'], lang)} {share_cell(f)}".strip() for f in r.cells]
            out.append(_row([f"{code(r.id, cell=True)} {md(r.title)}", *cells]))
        out += ["", md(L("fleet_legend").format(letters=letters(lang)))]
    out += ["", "## " + (L("fleet_merged").format(samples=f"{fleet.merged.profile.total_samples:,}",
                                                    n=len(fleet.merged_from)) if fleet.merged is not None
                        else L("fleet_not_merged").format(why=md(fleet.merge_refused or ""))), ""]
    if fleet.merged is not None:
        out += [md(L("fleet_merged_note")), ""]
        out += [f"- {md(note)}" for note in fleet.merge_notes]
        if fleet.merge_notes:
            out.append("")
        if not fleet.merged.findings:
            out.append(L("no_findings"))
        else:
            out.append(_row(["#", L("fleet_severity"), L("fleet_share"), L("fleet_finding"), L("fleet_title_col")]))
            out.append(_row(["---:", "---", "---:", "---", "---"]))
            for f in fleet.merged.findings:
                d = f.to_dict(lang)
                rank = f"{f.rank}" if f.explained_by is None else "↳"
                out.append(_row([rank, severity_label(f.severity, lang), share_cell(d), code(f.id, cell=True),
                                 md(d["title"])]))
    return "\n".join(out) + "\n"
