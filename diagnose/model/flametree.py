"""The boxes of a flame graph: the stacks of a profile merged by call path from the root (all ->
process -> thread name -> frames), with boxes too narrow to see folded together. Rendering lives
in diagnose.report.flamegraph."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from diagnose.model.profile import Profile

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
    they are narrower; their subtrees are never built, which keeps huge captures cheap: no path
    is copied, and a Node is made only for what gets a box. The walk keeps its own stack (no
    recursion), so a call chain 100,000 frames deep is no problem."""
    frames = profile.frames
    nframes = len(frames)
    # Nodes that are not frames (root, processes, threads, merged boxes); id nframes + index.
    synthetic: list[Node] = []

    def add(node: Node) -> int:
        synthetic.append(node)
        return nframes + len(synthetic) - 1

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

    stacks = profile.stacks
    with_frames = [i for i, s in enumerate(stacks) if s.frames]
    total = sum(stacks[i].samples for i in with_frames)

    def path_len(it: int) -> int:
        s = stacks[it]
        return len(prefix[s.thread]) + len(s.frames)

    def element(it: int, d: int) -> int:
        """The node at depth d of stack it's path (its process and thread, then its frames)."""
        s = stacks[it]
        pre = prefix[s.thread]
        return pre[d] if d < len(pre) else s.frames[d - len(pre)]

    def sort_key(node: int) -> tuple[str, str, int]:
        if node < nframes:
            f = frames[node]
            return (f.name, f.module, node)
        n = synthetic[node - nframes]
        return (n.name, n.module, node)

    narrow_nodes: dict[int, int] = {}
    boxes = [Box(root, 0, 0, total, -1)]
    merged = 0
    work: list[tuple[int, list[int]]] = [(0, with_frames)] if with_frames else []
    while work:
        bi, items = work.pop()
        parent = boxes[bi]
        d = parent.depth
        if len(items) == 1:  # a single stack below: a chain, no grouping needed
            it = items[0]
            n = stacks[it].samples
            p = bi
            for k in range(d, path_len(it)):
                boxes.append(Box(element(it, k), k + 1, parent.start, n, p))
                p = len(boxes) - 1
            continue
        groups: dict[int, list[int]] = {}
        weights: dict[int, int] = {}
        for it in items:
            s = stacks[it]
            pre = prefix[s.thread]
            if d < len(pre):
                node = pre[d]
            elif d - len(pre) < len(s.frames):
                node = s.frames[d - len(pre)]
            else:
                continue
            g = groups.get(node)
            if g is None:
                groups[node] = [it]
                weights[node] = s.samples
            else:
                g.append(it)
                weights[node] += s.samples
        start = parent.start
        narrow_samples = narrow_count = 0
        for node in sorted(groups, key=sort_key):
            w = weights[node]
            if w < min_samples:
                narrow_samples += w
                narrow_count += 1
                continue
            boxes.append(Box(node, d + 1, start, w, bi))
            work.append((len(boxes) - 1, groups[node]))
            start += w
        del groups, weights
        if narrow_count:
            merged += narrow_count
            if narrow_samples >= min_samples:
                nn = narrow_nodes.get(narrow_count)
                if nn is None:
                    nn = narrow_nodes[narrow_count] = add(Node(narrow_label.format(n=narrow_count), "", "narrow",
                                                               None, ("n",)))
                boxes.append(Box(nn, d + 1, start, narrow_samples, bi))
    _preorder(boxes)
    # The nodes that got a box, numbered in the order of the ids used so far (frames first).
    used = sorted({b.node for b in boxes})
    index = {node: k for k, node in enumerate(used)}
    nodes = []
    for node in used:
        if node < nframes:
            f = frames[node]
            nodes.append(Node(f.name, f.module, f.kind, node, ("f", f.name, module_base(f.module))))
        else:
            nodes.append(synthetic[node - nframes])
    for b in boxes:
        b.node = index[b.node]
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
