"""The call graph: a networkx DiGraph, one node per frame, one edge per caller->callee pair.

Node attributes: name, module, kind, self_samples, inclusive_samples. Edge attribute: samples,
the number of samples whose stack has that caller directly above that callee. Every count is
taken once per sample, also under recursion. Questions about paths ("is B below A in the same
stack?") go to Profile.samples_below, which reads the stacks: reachability in this graph
over-counts wherever call contexts merge.
"""

from __future__ import annotations

import networkx as nx

from diagnose.profile import Profile


def build_call_graph(profile: Profile) -> nx.DiGraph:
    g = nx.DiGraph(total_samples=profile.total_samples, stack_samples=profile.stack_samples)
    inclusive, self_ = profile.inclusive_counts(), profile.self_counts()
    g.add_nodes_from(
        (i, {"name": f.name, "module": f.module, "kind": f.kind,
             "self_samples": self_[i], "inclusive_samples": inclusive[i]})
        for i, f in enumerate(profile.frames)
    )
    edges: dict[tuple[int, int], int] = {}
    for s in profile.stacks:
        fr = s.frames
        if len(fr) < 2:
            continue
        pairs = zip(fr, fr[1:])
        if len(set(fr)) != len(fr):
            pairs = set(pairs)  # type: ignore[assignment]
        n = s.samples
        for pair in pairs:
            edges[pair] = edges.get(pair, 0) + n
    g.add_edges_from((a, b, {"samples": c}) for (a, b), c in edges.items())
    return g


def check_call_graph(g: nx.DiGraph) -> None:
    """Invariants the tests assert: nothing exceeds the samples it could come from."""
    total = g.graph["stack_samples"]
    for node, data in g.nodes(data=True):
        assert 0 <= data["self_samples"] <= data["inclusive_samples"] <= total, node
    for a, b, data in g.edges(data=True):
        assert 0 < data["samples"] <= min(g.nodes[a]["inclusive_samples"], g.nodes[b]["inclusive_samples"]), (a, b)
