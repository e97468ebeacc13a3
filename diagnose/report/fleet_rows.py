"""The table every many-captures format shows: one row per finding that fired on any capture,
one cell per capture (severity and share, or nothing), and the words each format shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from diagnose.expert.fleet_result import CaptureResult, Fleet
from diagnose.report.labels import SEVERITY_LABEL, label
from diagnose.expert.rules import SEVERITIES


@dataclass
class FindingRow:
    id: str
    title: str
    cells: list[dict[str, Any] | None]  # per capture, in capture order

    @property
    def worst(self) -> str:
        return max((c["severity"] for c in self.cells if c), key=SEVERITIES.index)

    @property
    def fired(self) -> int:
        return sum(1 for c in self.cells if c)

    @property
    def quality_note(self) -> bool:
        return any("capture-quality" in (c.get("tags") or []) for c in self.cells if c)


def finding_rows(fleet: Fleet) -> list[FindingRow]:
    """Rows ordered by the worst severity any capture gave, then by how many captures it fired on,
    then by id; notes on the captures' quality (missing symbols, too few samples) last."""
    rows: dict[str, FindingRow] = {}
    n = len(fleet.captures)
    for c in fleet.captures:
        for f in c.findings:
            row = rows.get(f["id"])
            if row is None:
                row = rows[f["id"]] = FindingRow(f["id"], f["title"], [None] * n)
            row.cells[c.index] = f
    return sorted(rows.values(), key=lambda r: (r.quality_note, -SEVERITIES.index(r.worst), -r.fired, r.id))


def letter(severity: str, lang: str) -> str:
    return SEVERITY_LABEL[severity][lang][0] if lang in SEVERITY_LABEL[severity] else severity[0].upper()


def letters(lang: str) -> str:
    return ", ".join(f"{letter(s, lang)} {SEVERITY_LABEL[s].get(lang, s)}" for s in reversed(SEVERITIES))


def share_cell(f: dict[str, Any]) -> str:
    share = f.get("share")
    return "" if share is None else f"{100 * share:.1f}%"


def status(c: CaptureResult, lang: str) -> str:
    if not c.ok:
        return label("fleet_failed", lang)
    return label("fleet_truncated" if c.truncated else "fleet_ok", lang)


def duration_text(c: CaptureResult) -> str:
    return "" if c.duration_s is None else f"{c.duration_s:,.2f} s"


def number(x: float | None, fmt: str) -> str:
    return "" if x is None else format(x, fmt)
