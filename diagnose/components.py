"""Where the time goes by component (WebRTC core, codecs, network I/O, IPC, crypto, ...): each
sample counted once, by the component of the function it was sampled in (its leaf frame)."""

from __future__ import annotations

from dataclasses import dataclass

from diagnose.knowledge import Knowledge
from diagnose.profile import Profile, cores_used
from diagnose.stats import Share


@dataclass(frozen=True)
class ComponentRow:
    id: str
    title: dict[str, str]
    color: str
    share: Share
    cores: float | None
    categories: tuple[tuple[str, Share], ...]  # the component's categories, largest first


def component_breakdown(profile: Profile, kb: Knowledge) -> list[ComponentRow]:
    n = profile.stack_samples
    cats = kb.classify(profile)
    by_comp: dict[str, int] = {}
    by_cat: dict[tuple[str, str], int] = {}
    for s in profile.stacks:
        if not s.frames:
            continue
        leaf = s.frames[-1]
        cat = cats[leaf]
        comp = kb.component_of(profile.frames[leaf], cat)
        by_comp[comp] = by_comp.get(comp, 0) + s.samples
        key = (comp, cat.id if cat else "-")
        by_cat[key] = by_cat.get(key, 0) + s.samples
    cap = profile.capture
    rows = []
    for comp, k in sorted(by_comp.items(), key=lambda kv: (-kv[1], kv[0])):
        c = kb.components.get(comp)
        sub = sorted(((cat, Share(v, n)) for (cc, cat), v in by_cat.items() if cc == comp and cat != "-"),
                     key=lambda x: -x[1].k)
        rows.append(ComponentRow(comp, c.title if c else {"en": comp, "zh": comp}, c.color if c else "#999999",
                                 Share(k, n), cores_used(k, cap.frequency_hz, cap.duration_s), tuple(sub)))
    return rows
