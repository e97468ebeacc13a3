"""The call graph: a networkx DiGraph, one node per frame, one edge per caller->callee pair.

Node attributes: name, module, kind, self_samples, inclusive_samples. Edge attribute: samples,
the number of samples whose stack has that caller directly above that callee. Every count is
taken once per sample, also under recursion. Questions about paths ("is B below A in the same
stack?") go to Profile.samples_below, which reads the stacks: reachability in this graph
over-counts wherever call contexts merge.

With min_samples, only the functions with at least that many inclusive samples are nodes, and
with max_nodes only that many of them, those with the most inclusive samples (ties by frame
order); only the edges between nodes are kept. `analyze` builds it over at most 1,000 functions
with 0.5% of the samples or more (what the call-chain trees can start from), so that a capture
of a million unique functions, or a call chain 100,000 frames deep, does not make as many nodes.
"""

from __future__ import annotations

import heapq

import networkx as nx

from diagnose.model.profile import Profile


ANALYZE_MAX_NODES = 1000


def build_call_graph(profile: Profile, min_samples: int = 0, max_nodes: int | None = None) -> nx.DiGraph:
    g = nx.DiGraph(total_samples=profile.total_samples, stack_samples=profile.stack_samples)
    inclusive, self_ = profile.inclusive_counts(), profile.self_counts()
    frames = profile.frames
    nodes: range | list[int] = range(len(frames))
    if min_samples > 0:
        nodes = [i for i, k in enumerate(inclusive) if k >= min_samples]
    if max_nodes is not None and len(nodes) > max_nodes:
        nodes = sorted(heapq.nsmallest(max_nodes, nodes, key=lambda i: (-inclusive[i], i)))
    g.add_nodes_from(
        (i, {"name": frames[i].name, "module": frames[i].module, "kind": frames[i].kind,
             "self_samples": self_[i], "inclusive_samples": inclusive[i]})
        for i in nodes
    )
    keep = None if isinstance(nodes, range) else frozenset(nodes)
    edges: dict[tuple[int, int], int] = {}
    for s in profile.stacks:
        fr = s.frames
        if len(fr) < 2:
            continue
        if keep is not None:
            if keep.isdisjoint(fr):
                continue
            fr = tuple(f if f in keep else -1 for f in fr)  # -1: a function left out
        pairs = zip(fr, fr[1:])
        if len(set(fr)) != len(fr):
            pairs = set(pairs)  # type: ignore[assignment]
        n = s.samples
        for pair in pairs:
            edges[pair] = edges.get(pair, 0) + n
    edges = {pair: c for pair, c in edges.items() if -1 not in pair}
    g.add_edges_from((a, b, {"samples": c}) for (a, b), c in edges.items())
    return g


def check_call_graph(g: nx.DiGraph) -> None:
    """Invariants the tests assert: nothing exceeds the samples it could come from."""
    total = g.graph["stack_samples"]
    for node, data in g.nodes(data=True):
        assert 0 <= data["self_samples"] <= data["inclusive_samples"] <= total, node
    for a, b, data in g.edges(data=True):
        assert 0 < data["samples"] <= min(g.nodes[a]["inclusive_samples"], g.nodes[b]["inclusive_samples"]), (a, b)
