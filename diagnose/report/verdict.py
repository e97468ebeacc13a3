"""The verdict every report ends with, as data: the main cost (the first finding that is neither
a note on the capture nor explained by another), what else stands out, the first step to take and
what is not worth doing. The Markdown and terminal reports render it each their own way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from diagnose.core.messages import say
from diagnose.core.report_words import label
from diagnose.core.texts import tr

if TYPE_CHECKING:
    from diagnose.expert.analysis import Analysis


@dataclass
class Verdict:
    cpu: str | None = None  # where the CPU goes: the largest components and the hottest function
    main: str | None = None  # the main finding's summary; None: no problem stands out
    then: list[str] = field(default_factory=list)  # the next findings' titles (with their subject)
    advice: str | None = None  # the main finding's first recommendation
    avoid: list[str] = field(default_factory=list)  # what would not help, for the main findings
    notes: list[str] = field(default_factory=list)  # without a main finding: the evaluation's notes


def verdict(analysis: Analysis, lang: str) -> Verdict:
    top = [f for f in analysis.findings if f.explained_by is None and "capture-quality" not in f.tags
           and f.severity != "info"]
    cpu = where_the_cpu_goes(analysis, lang)
    if not top:
        notes = analysis.evaluation.notes if analysis.evaluation else []
        return Verdict(cpu=cpu, notes=[say(x, lang) for x in notes])
    first = top[0]
    out = Verdict(cpu=cpu, main=tr(first.summary, lang))
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


def where_the_cpu_goes(analysis: Analysis, lang: str) -> str | None:
    """The two largest components (the component table's numbers) and the hottest function by
    self time (the first row of that table): what a reader of the verdict alone should know even
    when no rule covers it (a checksum, the application's own code). None without samples."""
    p, kb, summary = analysis.profile, analysis.knowledge, analysis.summary
    if not p.stack_samples or kb is None or summary is None:
        return None
    from diagnose.expert.components import component_breakdown
    from diagnose.report.model import module_label

    parts = [f"{tr(row.title, lang)} {100 * row.share.value:.2f}%" for row in component_breakdown(p, kb)[:2]]
    text = ("、" if lang == "zh" else ", ").join(parts)
    hottest = summary.top_self(1)
    if hottest and hottest[0].self.k:
        f = hottest[0]
        # As the hottest-functions table shows it: the module by its file name, the kernel as
        # [kernel]; a function without a symbol is already named by its module ([libfoo.so]).
        module = module_label(f.module)
        key = "verdict_hottest" if module and p.frames[f.frame].named else "verdict_hottest_unnamed"
        name = f.name + (" [k]" if f.kind == "kernel" else "")
        text += label(key, lang).format(name=name, module=module, share=f"{100 * f.self.value:.2f}%")
    return text
