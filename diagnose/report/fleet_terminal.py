"""The many-captures report for a terminal: the captures (numbered), the findings by capture in
as many tables as it takes to fit the width (captures as columns #1, #2, ...), a legend, then
the merged profile's findings."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from diagnose.expert.fleet_result import Fleet
from diagnose.core.escape import terminal as esc
from diagnose.report.fleet_rows import (FindingRow, duration_text, finding_rows, letter, letters, number,
                                         share_cell, status)
from diagnose.report.labels import label, severity_label
from diagnose.report.terminal import SEVERITY_STYLE

CELL = 7  # "H 18.8%"
MAX_ID = 28


def render_fleet_terminal(fleet: Fleet, width: int = 100, color: bool = False) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, color_system="truecolor" if color else None,
                      highlight=False, soft_wrap=False, legacy_windows=False)
    console.print(Group(*_renderables(fleet, width)))
    return buf.getvalue()


def _renderables(fleet: Fleet, width: int) -> list[RenderableType]:
    lang = fleet.lang
    L = lambda key: label(key, lang)  # noqa: E731
    out: list[RenderableType] = [Text(L("fleet_title").format(n=len(fleet.captures)), style="bold")]
    caps = Table(title=L("fleet_captures"), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    caps.add_column("#", justify="right")
    caps.add_column(L("fleet_capture"), overflow="fold", ratio=1)
    caps.add_column(L("samples"), justify="right")
    caps.add_column(L("duration"), justify="right")
    caps.add_column(L("fleet_hz"), justify="right")
    caps.add_column(L("fleet_cores"), justify="right")
    caps.add_column(L("fleet_status"), overflow="fold", ratio=1)
    for c, name in zip(fleet.captures, fleet.labels):
        st = Text(status(c, lang), style="bold red" if not c.ok else "")
        if c.error:
            st.append(": " + esc(c.error))
        caps.add_row(f"#{c.index + 1}", Text(esc(name)), f"{c.total_samples:,}" if c.ok else "",
                     duration_text(c), number(c.frequency_hz, "g"), number(c.cores_used, ".2f"), st)
    out.append(caps)
    rows = finding_rows(fleet)
    if not rows:
        out.append(Text(L("fleet_none")))
    else:
        id_width = min(MAX_ID, max(len(r.id) for r in rows))
        per_table = max(1, (width - id_width - 1) // (CELL + 2))
        n = len(fleet.captures)
        for start in range(0, n, per_table):
            out.append(_findings_table(fleet, rows, range(start, min(n, start + per_table)), id_width,
                                       L("fleet_findings") if start == 0 else None))
        out.append(Text(L("fleet_legend").format(letters=letters(lang)), style="dim"))
    out.extend(_merged(fleet))
    return out


def _findings_table(fleet: Fleet, rows: list[FindingRow], columns: range, id_width: int,
                    title: str | None) -> Table:
    lang = fleet.lang
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    t.add_column(label("fleet_finding", lang), max_width=id_width, overflow="ellipsis", no_wrap=True)
    for i in columns:
        t.add_column(f"#{i + 1}", justify="right", min_width=CELL, no_wrap=True)
    for r in rows:
        cells: list[Text] = []
        for i in columns:
            f = r.cells[i]
            if f is None:
                cells.append(Text(""))
                continue
            sev = f["severity"]
            cells.append(Text(f"{letter(sev, lang)} {share_cell(f)}".strip(), style=SEVERITY_STYLE[sev]))
        t.add_row(Text(esc(r.id)), *cells)
    return t


def _merged(fleet: Fleet) -> list[RenderableType]:
    lang = fleet.lang
    L = lambda key: label(key, lang)  # noqa: E731
    if fleet.merged is None:
        return [Text(L("fleet_not_merged").format(why=esc(fleet.merge_refused or "")), style="yellow")]
    p = fleet.merged.profile
    out: list[RenderableType] = [
        Text(L("fleet_merged").format(samples=f"{p.total_samples:,}", n=len(fleet.merged_from)), style="bold"),
        Text(L("fleet_merged_note"), style="dim")]
    out.extend(Text(esc(note), style="yellow") for note in fleet.merge_notes)
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("#", justify="right")
    t.add_column(L("fleet_severity"))
    t.add_column(L("fleet_share"), justify="right")
    t.add_column(L("fleet_finding"), overflow="fold")
    t.add_column(L("fleet_title_col"), overflow="fold", ratio=1)
    for f in fleet.merged.findings:
        d = f.to_dict(lang)
        rank = f"{f.rank}." if f.explained_by is None else "↳"
        t.add_row(rank, Text(severity_label(f.severity, lang), style=SEVERITY_STYLE[f.severity]), share_cell(d),
                  Text(esc(f.id)), Text(esc(d["title"])))
    out.append(t if fleet.merged.findings else Text(L("no_findings")))
    return out
