"""Where the time goes by component (WebRTC core, codecs, network I/O, IPC, crypto, ...): each
sample counted once, in the component of the frame that owns it (diagnose.expert.attribution)."""

from __future__ import annotations

from dataclasses import dataclass

from diagnose.expert.attribution import attribution
from diagnose.expert.knowledge import Knowledge
from diagnose.model.profile import Profile, cores_used
from diagnose.model.stats import Share


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
    owners = attribution(profile, kb).owners
    by_comp: dict[str, int] = {}
    by_cat: dict[tuple[str, str], int] = {}
    for s, o in zip(profile.stacks, owners):
        if not s.frames:
            continue
        by_comp[o.component] = by_comp.get(o.component, 0) + s.samples
        key = (o.component, o.category.id if o.category else "-")
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
