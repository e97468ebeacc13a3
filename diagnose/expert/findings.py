"""Findings: what a fired rule reports, how it is scored (a 0-100 curve anchored at the rule's
info and warn limits), its severity (from the score, capped by the rule), and the ranking by the
displayed score, with generic findings nested under the specific ones that explain them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from diagnose.expert.rules import SEVERITIES



def score_curve(value: float, info: float, warn: float) -> float:
    """0 at 0, 25 at the info limit, 75 at the warn limit, towards 100 beyond (as JMC rules do)."""
    if value <= 0 or info <= 0:
        return 0.0
    if warn <= info:
        warn = info * 2
    if value < info:
        return 25.0 * value / info
    if value < warn:
        return 25.0 + 50.0 * (value - info) / (warn - info)
    return 75.0 + 25.0 * (1.0 - math.exp(-(value - warn) / (warn - info)))


def severity_for(score: float, cap: str) -> str:
    level = "critical" if score >= 90 else "high" if score >= 75 else "medium" if score >= 50 \
        else "low" if score >= 25 else "info"
    return SEVERITIES[min(SEVERITIES.index(level), SEVERITIES.index(cap))]


@dataclass
class Finding:
    id: str
    title: dict[str, str]
    severity: str
    score: float
    confidence: float
    summary: dict[str, str]
    explanation: dict[str, str]
    subject: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    recommendations: list[dict[str, Any]] = field(default_factory=list)
    not_helpful: list[dict[str, Any]] = field(default_factory=list)
    explained_by: str | None = None
    explains: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    gain: float = 0.0
    rank: int = 0
    rule_source: str = ""
    capped: str | None = None
    # Recommendations of the rule not offered here, each with why (not for this stack, already
    # in effect, no evidence for it).
    withheld: list[dict[str, Any]] = field(default_factory=list)
    # In a capture of several processes: [{pid, comm, samples, share}] of the finding's samples
    # (diagnose.expert.finding_processes); [] otherwise.
    processes: list[dict[str, Any]] = field(default_factory=list)
    # The samples its main measurement counted (what `processes` divides), when counted per thread.
    samples: int | float | None = None
    # Set when the rule fired on one process's samples alone, not on the merged capture
    # (diagnose.expert.per_process): {pid, comm, samples, why}.
    process: dict[str, Any] | None = None
    # The share of the samples (with a call chain) the finding measured: its primary measurement
    # (what its gain is computed from); None when it rests on no share of samples (a count the
    # kernel made, such as datagram drops).
    share: float | None = None

    @property
    def quality_note(self) -> bool:
        """A note on the capture itself (too few samples, unnamed frames): it saves no CPU."""
        return "capture-quality" in self.tags

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "title": self.title.get(lang) or self.title["en"],
            "severity": self.severity,
            "score": round(self.score, 1),
            "confidence": round(self.confidence, 3),
            "rank": self.rank,
            "summary": self.summary.get(lang) or self.summary["en"],
            "explanation": self.explanation.get(lang) or self.explanation.get("en", ""),
            "explained_by": self.explained_by,
            "explains": self.explains,
            "values": self.values,
            "evidence": self.evidence,
            "recommendations": self.recommendations,
            "not_helpful": self.not_helpful,
            "tags": self.tags,
            "gain": round(self.gain, 6),
            "share": None if self.share is None else round(self.share, 6),
            "severity_capped_because": self.capped,
            "rule_source": self.rule_source,
            "withheld": self.withheld,
            "processes": self.processes,
            "samples": self.samples,
            "process": self.process,
            "texts": {l: {"title": self.title.get(l, ""), "summary": self.summary.get(l, ""),
                          "explanation": self.explanation.get(l, "")} for l in ("en", "zh")},
        }


def rank(findings: list[Finding]) -> list[Finding]:
    """Top-level findings by the score the reports show (then confidence, then expected gain),
    notes on the capture itself last; each followed by the generic findings it explains. Only
    top-level findings are numbered (1, 2, 3, ...); an explained finding carries the number of
    the finding that explains it and is shown under it."""
    by_id = {f.id: f for f in findings}
    key = lambda f: (f.quality_note, -round(f.score, 1), -round(f.confidence, 3), -f.gain, f.id)  # noqa: E731
    top = sorted((f for f in findings if f.explained_by is None or f.explained_by not in by_id), key=key)
    ordered: list[Finding] = []

    def place(f: Finding, number: int) -> None:
        f.rank = number
        ordered.append(f)
        for child in sorted((c for c in findings if c.explained_by == f.id and c not in ordered), key=key):
            place(child, number)

    for i, f in enumerate(top, 1):
        place(f, i)
    return ordered
