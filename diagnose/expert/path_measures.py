"""Measurements of call paths that a rule may ask for: questions a frame's or a selection's share
cannot answer, because they are about what lies between two frames on the way down a stack.

- passes_through: of the samples in which a `to` frame is called (at any depth) below a `from`
  frame, the share in which every such call goes through a `via` frame in between: "every
  sampled path from read() to the data copy passes through the Unix socket code".
- dominator: the function that every sampled path from the thread roots to a selection passes
  through, nearest to it (its immediate dominator in the graph of those paths): the one place
  to change to touch all of a hot subtree.

Both read the stacks of the profile (each sample counted once), never reachability in the
merged call graph, which over-counts wherever call contexts merge. Each costs one pass over the
stacks (dominator: plus a networkx dominator search over the frames of the matching stacks,
linear in their number), as below_share does.
"""

from __future__ import annotations

from collections.abc import Iterator

from diagnose.expert.facts import Measured, Measurements
from diagnose.expert.rules import Selector

NO_PATH_NOTE = "no sample calls a `to` frame below a `from` frame"
# The virtual root and sink of the dominator search (frame ids are 0 and up).
_ROOT, _SINK = -1, -2


def passes_through(m: Measurements, from_: Selector, to: Selector, via: Selector) -> Measured:
    """The share of from->to samples in which every from->to call goes through `via`. The
    samples behind the value are those that pass; unknown (None) when no sample has a `to`
    frame below a `from` frame, or when a selection is kernel code in a profile without kernel
    frames."""
    for sel in (from_, to, via):
        unseen = m._unseen(sel)
        if unseen is not None:
            return unseen
    bf, bt, bv = m.bit[from_], m.bit[to], m.bit[via]
    fb, keys = m.key_bits, m.att.keys
    reached = through = 0
    by: dict[int, float] = {}
    for si, (s, mask) in enumerate(zip(m.profile.stacks, m.stack_bits)):
        if not (mask & bf and mask & bt):
            continue
        verdict = _through(keys(si), fb, bf, bt, bv)
        if verdict is None:
            continue
        reached += s.samples
        if verdict:
            through += s.samples
            by[s.thread] = by.get(s.thread, 0) + s.samples
    if not reached:
        return Measured(None, 0, {}, note=NO_PATH_NOTE)
    return Measured(through / reached, through, by)


def _through(frames: tuple[int, ...], fb: list[int], bf: int, bt: int, bv: int) -> bool | None:
    """For one stack (root first): None when no `to` frame is below a `from` frame; else whether
    a `via` frame lies strictly between every `to` frame and the nearest `from` frame above it
    (which covers every from/to pair: a farther `from` only lengthens the path)."""
    seen_from = via_since = False
    paired = False
    for f in frames:
        b = fb[f]
        if seen_from and b & bt:
            if not via_since:
                return False
            paired = True
        if b & bf:
            seen_from, via_since = True, False
        elif seen_from and b & bv:
            via_since = True
    return True if paired else None


def dominator(m: Measurements, of: Selector) -> Measured:
    """The function nearest to the `of` selection through which every sampled path to it passes:
    the immediate dominator of a sink (fed by the outermost `of` frame of each stack) in the
    graph of the stack prefixes above those frames (contracted to the functions every one of
    them holds), rooted at a virtual root feeding each stack's outermost frame. Its name is the
    subject; the value is the share of all samples with call chains whose stack holds it (its
    inclusive share). A path through the graph is not
    always a sampled path, so the graph's dominator is a dominator of every sampled path (never
    one that some sample avoids), possibly farther up than the nearest one. Unknown when no
    stack reaches the selection, or when every path reaches it from a different root frame."""
    unseen = m._unseen(of)
    if unseen is not None:
        return unseen
    bo = m.bit[of]
    common: dict[int, int] = {}  # frame -> samples of the matching stacks that hold it above the selection
    reached = 0
    for prefix, n in _prefixes(m, bo):
        for f in set(prefix):
            common[f] = common.get(f, 0) + n
        reached += n
    if not reached:
        return Measured(None, 0, {}, note="no sample reaches the selection")
    # Only a function in every such stack can dominate; the graph is made of those alone (a path
    # contracted to them is still a path), so its size is bounded by the shortest stack.
    keep = {f for f, k in common.items() if k == reached}
    import networkx as nx  # here: 0.19 s to import, and only a rule with a dominator condition needs it

    g = nx.DiGraph()
    g.add_node(_ROOT)
    for prefix, _ in _prefixes(m, bo):
        prev = _ROOT
        for f in prefix:
            if f in keep and f != prev:
                g.add_edge(prev, f)
                prev = f
        g.add_edge(prev, _SINK)
    idom = nx.immediate_dominators(g, _ROOT)[_SINK]
    if idom == _ROOT:
        return Measured(None, 0, {}, note="the paths to the selection share no function: "
                                         "it is reached from different places")
    name = m.profile.frames[idom].name
    k = m.profile.inclusive_counts()[idom]
    return Measured(m.share(k), k, None, subject=name)


def _prefixes(m: Measurements, bit: int) -> Iterator[tuple[list[int], int]]:
    """For each stack holding a frame of the selection: its frames above the outermost one (real
    frame ids, root first), and its samples."""
    fb, keys, real = m.key_bits, m.att.keys, m.att.real
    for si, (s, mask) in enumerate(zip(m.profile.stacks, m.stack_bits)):
        if not mask & bit:
            continue
        prefix: list[int] = []
        for f in keys(si):
            if fb[f] & bit:
                break
            prefix.append(real(f))
        yield prefix, s.samples
