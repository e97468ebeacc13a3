"""The evidence of a finding: the heaviest call chains through what its rule selects, the
functions that own (or pass) those samples, and the threads they ran on."""

from __future__ import annotations

import heapq
from typing import Any

from diagnose.expert.attribution import attribution
from diagnose.expert.facts import Measured, Measurements, category_selectors
from diagnose.expert.knowledge import Knowledge
from diagnose.expert.rules import Condition, Rule, Selector
from diagnose.model.profile import Profile

OWNED_MEASURES = ("owned_share", "top_owned_category")
# The heaviest stacks are walked for the examples shown; a capture with 100,000 unique stacks
# need not be walked whole for three.
EVIDENCE_STACKS = 5000


def evidence(profile: Profile, kb: Knowledge, m: Measurements, rule: Rule, prim: Condition | None,
             pm: Measured | None) -> tuple[dict[str, Any], list[int]]:
    sel = rule.evidence.get("selector")
    if sel is None and prim is not None:
        if isinstance(prim.arg, Selector):
            sel = prim.arg
            if prim.measure in ("top_category", "top_owned_category") and pm is not None and pm.subject:
                for cat, sub in category_selectors(kb, prim.arg):
                    c = kb.category_by_id[cat]
                    if (c.subject or c.id) == pm.subject or c.id == pm.subject:
                        sel = sub
                        break
        elif isinstance(prim.arg, dict):
            sel = prim.arg.get("via") or prim.arg.get("below") or prim.arg.get("to")
    if sel is None or sel not in m.bit:
        return {}, []
    owned = prim is not None and prim.measure in OWNED_MEASURES and rule.evidence.get("selector") is None
    p = profile
    n = p.stack_samples or 1
    fb, bit = m.key_bits, m.bit[sel]
    att = attribution(p, kb)
    owners = att.owners
    chains: dict[tuple[str, ...], int] = {}
    # The heaviest stacks hold the chains worth showing; a capture with 100,000 unique
    # stacks need not be walked whole for three examples.
    candidates = m.stacks_owned_by(sel) if owned else m.stacks_with(sel)
    heaviest = heapq.nsmallest(EVIDENCE_STACKS, candidates, key=lambda i: (-p.stacks[i].samples, i))
    name_of = [f.name for f in p.frames]
    for i in heaviest:
        s = p.stacks[i]
        if owned:
            first = max(owners[i].position, 0)
        else:
            first = next((j for j, f in enumerate(att.keys(i)) if fb[f] & bit), 0)
        chain = s.frames[max(0, first - 1):]
        if len(chain) > 14:  # its first 6 and last 7 frames are what is shown
            names = (*map(name_of.__getitem__, chain[:6]), "…", *map(name_of.__getitem__, chain[-7:]))
        else:
            names = tuple(map(name_of.__getitem__, chain))
        chains[names] = chains.get(names, 0) + s.samples
    top = sorted(chains.items(), key=lambda kv: (-kv[1], kv[0]))[: int(rule.evidence.get("stacks", 3))]
    inc, slf = p.inclusive_counts(), p.self_counts()
    limit = int(rule.evidence.get("functions", 5))
    if owned:
        # The frames that own the selection's samples, by how many they own.
        own: dict[int, int] = {}
        for i in candidates:
            s = p.stacks[i]
            f = s.frames[owners[i].position] if owners[i].position >= 0 else s.frames[-1]
            own[f] = own.get(f, 0) + s.samples
        frames = sorted(own, key=lambda f: (-own[f], f))
        funcs = [{"name": p.frames[f].name, "module": p.frames[f].module, "kind": p.frames[f].kind,
                  "owned_share": round(own[f] / n, 6), "inclusive_share": round(inc[f] / n, 6),
                  "self_share": round(slf[f] / n, 6)} for f in frames[:limit]]
    else:
        frames = sorted(m.frames_matching(sel), key=lambda f: -inc[f])
        funcs = [{"name": p.frames[f].name, "module": p.frames[f].module, "kind": p.frames[f].kind,
                  "inclusive_share": round(inc[f] / n, 6), "self_share": round(slf[f] / n, 6)}
                 for f in frames[:limit] if inc[f]]
    threads = []
    if pm is not None and pm.by_thread:
        for t, k in sorted(pm.by_thread.items(), key=lambda kv: -kv[1])[:5]:
            th = p.threads[t]
            threads.append({"comm": th.comm, "pid": th.pid, "tid": th.tid, "share": round(k / n, 6)})
    evidence = {"selector": sel.describe(), "counted": "owned" if owned else "inclusive",
                "stacks": [{"frames": list(c), "samples": k, "share": round(k / n, 6)} for c, k in top],
                "functions": funcs, "threads": threads}
    outline = [f for f in frames if inc[f] >= 0.005 * n][:50]
    return evidence, outline
