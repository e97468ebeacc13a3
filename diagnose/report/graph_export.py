"""The call graph that `diagnose graph` draws: the networkx call graph of diagnose.model.callgraph pruned
to what matters and annotated for a reader.

Nodes are functions with at least `node_threshold` % of the samples (with a call chain) in their
stack, at most ANALYZE_MAX_NODES of them (those with the most inclusive samples); edges are
caller -> callee pairs between kept functions taken in at least `edge_threshold` % of the
samples. Every count is once per sample, also under recursion (an edge: the samples in which the
caller called the callee directly). A node's colour is that of its component in the attribution
model (diagnose.expert.attribution), the one the flame graph and the component table use: the
component the flame graph colours this function's boxes in, by the most samples. Functions in
the frames of a finding are marked with the findings' ids.

Node ids are "f" + the frame id. Attributes are of the types GraphML holds (text, int, float,
bool), never None.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING

import networkx as nx

from diagnose.expert.attribution import APPLICATION, KERNEL, attribution
from diagnose.model.callgraph import ANALYZE_MAX_NODES, build_call_graph
from diagnose.report.graph_options import GraphOptions
from diagnose.expert.knowledge import Knowledge, builtin_knowledge
from diagnose.model.profile import Profile
from diagnose.model.stats import Share

if TYPE_CHECKING:
    from diagnose.expert.analysis import Analysis

MAX_NODES = ANALYZE_MAX_NODES
UNKNOWN_COLOR = "#999999"


def min_samples_for(percent: float, n: int) -> int:
    """The fewest samples whose share of n is at least `percent` %, exactly (no float rounding),
    and at least 1: a function or call without samples is never drawn."""
    return max(1, math.ceil(Fraction(str(percent)) * n / 100))


def export_graph(analysis: Analysis, opts: GraphOptions) -> tuple[nx.DiGraph, list[str]]:
    """The pruned, annotated call graph and the warnings about what it leaves out."""
    profile = analysis.profile
    kb = analysis.knowledge or builtin_knowledge()
    n = profile.stack_samples
    warnings: list[str] = []
    node_min = min_samples_for(opts.node_threshold, n)
    edge_min = min_samples_for(opts.edge_threshold, n)
    inc = profile.inclusive_counts()
    above = sum(1 for k in inc if k >= node_min)
    if above > MAX_NODES:
        warnings.append(f"{above:,} functions have {opts.node_threshold:g}% of the samples or more; the graph keeps "
                        f"the {MAX_NODES:,} with the most inclusive samples (raise --node-threshold to choose)")
    base = build_call_graph(profile, min_samples=node_min, max_nodes=MAX_NODES)
    keep = set(base.nodes)
    components = node_components(profile, kb, keep)
    marks: dict[int, list[str]] = {}
    for f in analysis.findings:
        for fid in f.frames:
            if fid in keep and f.id not in marks.setdefault(fid, []):
                marks[fid].append(f.id)
    g = nx.DiGraph(source=profile.capture.source, total_samples=profile.total_samples, stack_samples=n,
                   node_threshold=float(opts.node_threshold), edge_threshold=float(opts.edge_threshold),
                   node_min_samples=node_min, edge_min_samples=edge_min, functions_above_threshold=above)
    for i, data in base.nodes(data=True):
        cid = components.get(i, "")
        comp = kb.components.get(cid)
        slf, incl = Share(data["self_samples"], n), Share(data["inclusive_samples"], n)
        g.add_node(f"f{i}", name=data["name"], module=data["module"], kind=data["kind"],
                   self_samples=slf.k, inclusive_samples=incl.k,
                   self_share=_r(slf.value), inclusive_share=_r(incl.value),
                   self_ci95_low=_r(slf.interval[0]), self_ci95_high=_r(slf.interval[1]),
                   inclusive_ci95_low=_r(incl.interval[0]), inclusive_ci95_high=_r(incl.interval[1]),
                   component=cid, component_title=(comp.title.get(opts.lang) or comp.title["en"]) if comp else cid,
                   color=comp.color if comp else UNKNOWN_COLOR,
                   findings=",".join(marks.get(i, [])), marked=bool(marks.get(i)))
    dropped = 0
    for a, b, data in base.edges(data=True):
        k = data["samples"]
        if k < edge_min:
            dropped += 1
            continue
        g.add_edge(f"f{a}", f"f{b}", samples=k, share=_r(k / n if n else 0.0))
    g.graph["edges_below_threshold"] = dropped
    return g, warnings


def node_components(profile: Profile, kb: Knowledge, frames: set[int]) -> dict[int, str]:
    """For each of `frames`: the component the flame graph colours its boxes in (the owner of a
    sample whose stack would end there, diagnose.expert.attribution.Walk), the one with the most
    samples over the stacks that hold it (the outermost occurrence, once per sample); ties by
    component id."""
    if not frames:
        return {}
    att = attribution(profile, kb)
    pf = profile.frames
    base, special = att.facts.base, att.facts.special
    kinds = {i: (KERNEL if pf[i].kind == "kernel" else APPLICATION) for i in frames}
    tally: dict[tuple[int, str], int] = {}
    for s in profile.stacks:
        fr = s.frames
        if frames.isdisjoint(fr):
            continue
        n = s.samples
        seen: set[int] = set()
        last = len(fr) - 1
        while fr[last] not in frames:
            last -= 1
        if not special.isdisjoint(fr):
            # Claims and contextual categories: the attribution's own walk.
            walk = att.walk()
            for pos in range(last + 1):
                f = fr[pos]
                walk.step(f, pos)
                if f in frames and f not in seen:
                    seen.add(f)
                    k = (f, walk.component(pf[f]))
                    tally[k] = tally.get(k, 0) + n
            continue
        # The plain case, as Walk has it: the deepest recognised frame so far, a catch-all only
        # if nothing else is recognised, else kernel or application by the frame itself.
        deepest = fallback = None
        for f in fr[: last + 1]:
            cat = base[f]
            if cat is not None:
                if cat.fallback:
                    fallback = cat.component
                else:
                    deepest = cat.component
            if f in kinds and f not in seen:
                seen.add(f)
                k = (f, deepest or fallback or kinds[f])
                tally[k] = tally.get(k, 0) + n
    votes: dict[int, dict[str, int]] = {}
    for (f, cid), k in tally.items():
        votes.setdefault(f, {})[cid] = k
    return {f: min(v, key=lambda c: (-v[c], c)) for f, v in votes.items()}


def _r(x: float) -> float:
    return round(x, 6)
