"""The boxes of a flame graph: the stacks of a profile merged by call path from the root (all ->
process -> thread name -> frames), with boxes too narrow to see folded together. Rendering lives
in diagnose.report.flamegraph."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from diagnose.profile import Profile

NodeKind = Literal["root", "process", "thread", "user", "kernel", "narrow"]
KINDS: tuple[NodeKind, ...] = ("root", "process", "thread", "user", "kernel", "narrow")


@dataclass(frozen=True, slots=True)
class Node:
    """What a box shows: a frame of the profile, or a process, thread, the root, a merge."""

    name: str
    module: str
    kind: NodeKind
    frame: int | None
    key: tuple[str, ...]  # identity across captures: names, never ids or pids


@dataclass(slots=True)
class Box:
    node: int
    depth: int
    start: int    # samples left of the box (x offset)
    samples: int  # width
    parent: int   # index of the parent box, -1 for the root


@dataclass
class FlameTree:
    nodes: list[Node]
    boxes: list[Box]  # pre-order: a parent always comes before its children
    total: int
    merged: int = 0   # boxes folded into "(n functions narrower than ...)" or dropped

    @property
    def max_depth(self) -> int:
        return max((b.depth for b in self.boxes), default=0)


def module_base(module: str) -> str:
    return module.rsplit("/", 1)[-1]


def build_tree(profile: Profile, min_samples: float = 0.0, threads: Literal["auto", "always"] = "auto",
               narrow_label: str = "({n} narrow functions)") -> FlameTree:
    """Merge the stacks by call path from the root: all -> process -> thread name (when the process
    has several, or `threads="always"`) -> frames. Sibling boxes narrower than `min_samples` are
    folded into one box, or dropped (their samples left to the parent's self) when even together
    they are narrower; their subtrees are never built, which keeps huge captures cheap."""
    nodes = [Node(f.name, f.module, f.kind, i, ("f", f.name, module_base(f.module))) for i, f in enumerate(profile.frames)]

    def add(node: Node) -> int:
        nodes.append(node)
        return len(nodes) - 1

    root = add(Node("all", "", "root", None, ("r",)))
    pnames = profile.program_names()
    thread_names: dict[int | None, set[str]] = {}
    for th in profile.threads:
        thread_names.setdefault(th.pid, set()).add(th.comm)
    prefix: list[tuple[int, ...]] = []
    interned: dict[tuple[str, ...], int] = {}
    for th in profile.threads:
        pkey: tuple[str, ...]
        if th.pid is None:
            pkey = ("p", th.comm)
            pnode = interned.get(pkey)
            if pnode is None:
                pnode = interned[pkey] = add(Node(th.comm, "", "process", None, pkey))
            prefix.append((pnode,))
            continue
        comm = pnames[th.pid]
        pkey = ("p", comm, str(th.pid))
        pnode = interned.get(pkey)
        if pnode is None:
            pnode = interned[pkey] = add(Node(f"{comm} [{th.pid}]", "", "process", None, ("p", comm)))
        if threads == "always" or len(thread_names[th.pid]) > 1:
            tkey = ("t", str(th.pid), th.comm)
            tnode = interned.get(tkey)
            if tnode is None:
                tnode = interned[tkey] = add(Node(th.comm, "", "thread", None, ("t", th.comm)))
            prefix.append((pnode, tnode))
        else:
            prefix.append((pnode,))

    paths = [(prefix[s.thread] + s.frames, s.samples) for s in profile.stacks if s.frames]
    total = sum(n for _, n in paths)
    order = sorted(range(len(nodes)), key=lambda i: (nodes[i].name, nodes[i].module, i))
    rank = [0] * len(nodes)
    for pos, i in enumerate(order):
        rank[i] = pos
    narrow_nodes: dict[int, int] = {}
    boxes = [Box(root, 0, 0, total, -1)]
    merged = 0
    work: list[tuple[int, list[int]]] = [(0, list(range(len(paths))))] if paths else []
    while work:
        bi, items = work.pop()
        parent = boxes[bi]
        d = parent.depth
        if len(items) == 1:  # a single stack below: a chain, no grouping needed
            path, n = paths[items[0]]
            p = bi
            for k in range(d, len(path)):
                boxes.append(Box(path[k], k + 1, parent.start, n, p))
                p = len(boxes) - 1
            continue
        groups: dict[int, list[int]] = {}
        weights: dict[int, int] = {}
        for it in items:
            path, n = paths[it]
            if len(path) > d:
                node = path[d]
                g = groups.get(node)
                if g is None:
                    groups[node] = [it]
                    weights[node] = n
                else:
                    g.append(it)
                    weights[node] += n
        start = parent.start
        narrow_samples = narrow_count = 0
        for node in sorted(groups, key=rank.__getitem__):
            w = weights[node]
            if w < min_samples:
                narrow_samples += w
                narrow_count += 1
                continue
            boxes.append(Box(node, d + 1, start, w, bi))
            work.append((len(boxes) - 1, groups[node]))
            start += w
        if narrow_count:
            merged += narrow_count
            if narrow_samples >= min_samples:
                nn = narrow_nodes.get(narrow_count)
                if nn is None:
                    nn = narrow_nodes[narrow_count] = add(Node(narrow_label.format(n=narrow_count), "", "narrow",
                                                               None, ("n",)))
                boxes.append(Box(nn, d + 1, start, narrow_samples, bi))
    _preorder(boxes)
    return FlameTree(nodes, boxes, total, merged)


def _preorder(boxes: list[Box]) -> None:
    """Re-index the boxes in depth-first order (children left to right), parents first."""
    children: list[list[int]] = [[] for _ in boxes]
    for i, b in enumerate(boxes):
        if b.parent >= 0:
            children[b.parent].append(i)
    order: list[int] = []
    stack = [0] if boxes else []
    while stack:
        i = stack.pop()
        order.append(i)
        stack.extend(sorted(children[i], key=lambda c: -boxes[c].start))
    new_index = {old: new for new, old in enumerate(order)}
    reordered = [boxes[i] for i in order]
    for b in reordered:
        if b.parent >= 0:
            b.parent = new_index[b.parent]
    boxes[:] = reordered


# -- colours -------------------------------------------------------------------------------
