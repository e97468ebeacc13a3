"""The verdict every report ends with, as data: the main cost (the first finding that is neither
a note on the capture nor explained by another), what else stands out, the first step to take and
what is not worth doing. The Markdown and terminal reports render it each their own way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from diagnose.core.messages import say
from diagnose.core.texts import tr

if TYPE_CHECKING:
    from diagnose.expert.analysis import Analysis


@dataclass
class Verdict:
    main: str | None = None  # the main finding's summary; None: no problem stands out
    then: list[str] = field(default_factory=list)  # the next findings' titles (with their subject)
    advice: str | None = None  # the main finding's first recommendation
    avoid: list[str] = field(default_factory=list)  # what would not help, for the main findings
    notes: list[str] = field(default_factory=list)  # without a main finding: the evaluation's notes


def verdict(analysis: Analysis, lang: str) -> Verdict:
    top = [f for f in analysis.findings if f.explained_by is None and "capture-quality" not in f.tags
           and f.severity != "info"]
    if not top:
        notes = analysis.evaluation.notes if analysis.evaluation else []
        return Verdict(notes=[say(x, lang) for x in notes])
    first = top[0]
    out = Verdict(main=tr(first.summary, lang))
    out.then = [tr(f.title, lang) + (f" ({f.subject})" if f.subject else "") for f in top[1:4]]
    if first.recommendations:
        rec = first.recommendations[0]
        t = rec.get("texts", {}).get(lang) or {}
        out.advice = f"sysctl {rec['key']}" if rec["kind"] == "sysctl" else t.get("title", rec["title"])
    # What would not help, for any of the main findings (the fix people reach for first).
    out.avoid = list(dict.fromkeys(f"sysctl {r['key']}" if r["kind"] == "sysctl" else
                                   (r.get("texts", {}).get(lang) or {}).get("title", r["title"])
                                   for f in top[:3] for r in f.not_helpful))
    return out
