"""Measurements of a profile that every report shows: function shares with intervals, the
kernel/user, module, thread and process splits, CPU cores used, and call-chain trees."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import networkx as nx

from diagnose.model.profile import Profile, cores_used
from diagnose.model.stats import Share

# A frame whose single heaviest callee holds this much of its samples adds nothing to a tree.
PASS_THROUGH = 0.9
TREE_ROOTS = 3
TREE_MIN_SHARE = 0.005
TREE_MAX_DEPTH = 10
TREE_MAX_CHILDREN = 5


@dataclass(frozen=True)
class FunctionRow:
    frame: int
    name: str
    module: str
    kind: str
    self: Share
    inclusive: Share


@dataclass(frozen=True)
class GroupRow:
    """Samples of one group (a module, a thread, a process, kernel or user)."""

    label: str
    share: Share
    cores: float | None = None
    key: dict[str, object] = field(default_factory=dict)


@dataclass
class TreeNode:
    frame: int
    samples: int = 0
    children: dict[int, TreeNode] = field(default_factory=dict)

    def sorted_children(self) -> list[TreeNode]:
        return sorted(self.children.values(), key=lambda c: -c.samples)


@dataclass
class Summary:
    """Rows of functions are made when asked for (top_self, top_inclusive, functions): a profile
    of a million unique stacks has about as many functions, and no report lists them all unless
    asked to."""

    profile: Profile
    function_count: int  # functions with at least one sample
    kernel_user: list[GroupRow]
    in_kernel: Share
    modules: list[GroupRow]
    threads: list[GroupRow]
    processes: list[GroupRow]
    cores_used: float | None
    trees: list[TreeNode]

    @property
    def denominator(self) -> int:
        return self.profile.stack_samples

    def _row(self, i: int) -> FunctionRow:
        p = self.profile
        f, n = p.frames[i], p.stack_samples
        return FunctionRow(i, f.name, f.module, f.kind, Share(p.self_counts()[i], n), Share(p.inclusive_counts()[i], n))

    def _top(self, n: int | None, by_self: bool) -> list[int]:
        """Frame ids of the n functions with the most self (or inclusive) samples; ties by the
        other count, name, module and frame order."""
        p = self.profile
        inc, slf, frames = p.inclusive_counts(), p.self_counts(), p.frames
        ids = (i for i in range(len(frames)) if inc[i] > 0)
        if by_self:
            def key(i: int) -> tuple[int, int, str, str, int]:
                return (-slf[i], -inc[i], frames[i].name, frames[i].module, i)
        else:
            def key(i: int) -> tuple[int, int, str, str, int]:
                return (-inc[i], -slf[i], frames[i].name, frames[i].module, i)
        if n is None or n >= self.function_count:
            return sorted(ids, key=key)
        return heapq.nsmallest(n, ids, key=key)

    def top_self(self, n: int) -> list[FunctionRow]:
        return [self._row(i) for i in self._top(n, by_self=True)]

    def top_inclusive(self, n: int | None) -> list[FunctionRow]:
        """The n functions with the most inclusive samples (all of them for None)."""
        return [self._row(i) for i in self._top(n, by_self=False)]

    def top_functions(self, n: int | None) -> list[FunctionRow]:
        """The top n functions by self and the top n by inclusive samples (all for None), in
        inclusive order: what the JSON report lists."""
        if n is None or n >= self.function_count:
            return self.top_inclusive(None)
        ids = set(self._top(n, by_self=False)) | set(self._top(n, by_self=True))
        p = self.profile
        inc, slf, frames = p.inclusive_counts(), p.self_counts(), p.frames
        return [self._row(i) for i in sorted(ids, key=lambda i: (-inc[i], -slf[i], frames[i].name, frames[i].module, i))]

    @property
    def functions(self) -> list[FunctionRow]:
        """Every function with samples, by inclusive samples (made anew on each call)."""
        return self.top_inclusive(None)


def summarize(profile: Profile, graph: nx.DiGraph) -> Summary:
    n = profile.stack_samples
    inc = profile.inclusive_counts()
    function_count = len(inc) - inc.count(0)
    cap = profile.capture
    freq, dur = cap.frequency_hz, cap.duration_s

    kernel_leaf = user_leaf = in_kernel = 0
    modules: dict[str, int] = {}
    for s in profile.stacks:
        if not s.frames:
            continue
        leaf = profile.frames[s.frames[-1]]
        if leaf.kind == "kernel":
            kernel_leaf += s.samples
        else:
            user_leaf += s.samples
        if any(profile.frames[f].kind == "kernel" for f in s.frames):
            in_kernel += s.samples
        mod = leaf.module or ("[kernel]" if leaf.kind == "kernel" else "[unknown]")
        modules[mod] = modules.get(mod, 0) + s.samples
    kernel_user = [GroupRow("kernel", Share(kernel_leaf, n), cores_used(kernel_leaf, freq, dur)),
                   GroupRow("user", Share(user_leaf, n), cores_used(user_leaf, freq, dur))]
    module_rows = [GroupRow(m, Share(k, n), cores_used(k, freq, dur), {"module": m})
                   for m, k in sorted(modules.items(), key=lambda kv: (-kv[1], kv[0]))]

    total = profile.total_samples
    per_thread: dict[int, int] = {}
    for s in profile.stacks:
        per_thread[s.thread] = per_thread.get(s.thread, 0) + s.samples
    thread_rows = []
    per_process: dict[tuple[int | None, str], int] = {}
    for t, k in sorted(per_thread.items(), key=lambda kv: -kv[1]):
        th = profile.threads[t]
        label = th.comm if th.tid is None else f"{th.comm} {th.tid}"
        thread_rows.append(GroupRow(label, Share(k, total), cores_used(k, freq, dur),
                                    {"comm": th.comm, "pid": th.pid, "tid": th.tid}))
        if th.pid is not None:
            key = (th.pid, "")
            per_process[key] = per_process.get(key, 0) + k
    process_rows = []
    programs = profile.program_names()
    for (pid, _), k in sorted(per_process.items(), key=lambda kv: -kv[1]):
        comm = programs.get(pid, "?") if pid is not None else "?"
        process_rows.append(GroupRow(f"{comm} {pid}", Share(k, total), cores_used(k, freq, dur),
                                     {"pid": pid, "comm": comm}))

    return Summary(
        profile=profile, function_count=function_count, kernel_user=kernel_user, in_kernel=Share(in_kernel, n),
        modules=module_rows, threads=thread_rows, processes=process_rows,
        cores_used=cores_used(total, freq, dur), trees=call_trees(profile, graph),
    )


# -- call-chain trees ---------------------------------------------------------------------

def callee_tree(profile: Profile, root: int, min_samples: int = 0) -> TreeNode:
    """Everything called below `root`, merged over all the places it is called from. Each
    sample is counted once per node: below the outermost occurrence of `root` in its stack.
    Branches with fewer than `min_samples` samples are not built."""
    paths: dict[tuple[int, ...], int] = {}
    total = 0
    for s in profile.stacks:
        fr = s.frames
        if root not in fr:
            continue
        pos = fr.index(root)
        key = fr[pos + 1: pos + 1 + TREE_MAX_DEPTH]
        paths[key] = paths.get(key, 0) + s.samples
        total += s.samples
    top = TreeNode(root, total)
    _grow(top, list(paths.items()), 0, min_samples)
    return top


def _grow(node: TreeNode, items: list[tuple[tuple[int, ...], int]], depth: int, min_samples: int) -> None:
    groups: dict[int, list[tuple[tuple[int, ...], int]]] = {}
    weights: dict[int, int] = {}
    for path, n in items:
        if len(path) > depth:
            f = path[depth]
            groups.setdefault(f, []).append((path, n))
            weights[f] = weights.get(f, 0) + n
    for f, w in weights.items():
        if w >= min_samples:
            child = node.children[f] = TreeNode(f, w)
            _grow(child, groups[f], depth + 1, min_samples)


def prune(node: TreeNode, min_samples: int, depth: int = 0) -> TreeNode:
    kept = {}
    if depth < TREE_MAX_DEPTH:
        for child in node.sorted_children()[:TREE_MAX_CHILDREN]:
            if child.samples >= min_samples:
                kept[child.frame] = prune(child, min_samples, depth + 1)
    return TreeNode(node.frame, node.samples, kept)


def tree_min_samples(stack_samples: int) -> int:
    """The fewest samples a call-chain tree shows (a root, a branch): TREE_MIN_SHARE of them."""
    return max(1, int(TREE_MIN_SHARE * stack_samples))


def entry_points(profile: Profile, graph: nx.DiGraph | None = None, limit: int = TREE_ROOTS) -> list[TreeNode]:
    """Trees for the frames worth one: where a thread's time crosses into another module
    (application -> libc, libc -> kernel, interpreter -> codec library), hottest first.
    Skipped: frames that pass nearly all their samples to one callee (thread starts, event-loop
    shells), frames with no callee worth a line, and frames already visible in a chosen tree."""
    inc = profile.inclusive_counts()
    n = profile.stack_samples
    if n == 0:
        return []
    frames = profile.frames
    entered = [0] * len(frames)
    for s in profile.stacks:
        prev: str | None = None
        seen: set[int] = set()
        for f in s.frames:
            module = frames[f].module
            if prev is not None and module != prev and f not in seen:
                entered[f] += s.samples
                seen.add(f)
            prev = module
    min_samples = tree_min_samples(n)
    candidates = [f for f in range(len(frames)) if inc[f] >= min_samples]
    callee_max = _callee_max(profile, candidates)
    candidates.sort(key=lambda f: (-(entered[f] * 2 >= inc[f]), -inc[f], f))
    chosen: list[TreeNode] = []
    visible: dict[int, int] = {}
    for f in candidates:
        if len(chosen) >= limit:
            break
        if visible.get(f, 0) >= 0.8 * inc[f]:
            continue
        top_callee = callee_max.get(f)
        if top_callee is None or top_callee < min_samples or top_callee >= PASS_THROUGH * inc[f]:
            continue  # no callee worth a line, or a shell around one callee
        tree = prune(callee_tree(profile, f, min_samples), min_samples)
        if not tree.children:
            continue
        chosen.append(tree)
        _mark_visible(tree, visible)
    return chosen


def _callee_max(profile: Profile, callers: list[int]) -> dict[int, int]:
    """For each of `callers` that calls anything: the samples of its heaviest caller -> callee
    edge, each sample counted once per edge (as the call graph counts them)."""
    wanted = frozenset(callers)
    edges: dict[tuple[int, int], int] = {}
    for s in profile.stacks:
        fr = s.frames
        if len(fr) < 2 or wanted.isdisjoint(fr):
            continue
        pairs = [(a, b) for a, b in zip(fr, fr[1:]) if a in wanted]
        if len(set(fr)) != len(fr):
            pairs = list(set(pairs))
        n = s.samples
        for pair in pairs:
            edges[pair] = edges.get(pair, 0) + n
    out: dict[int, int] = {}
    for (a, _), k in edges.items():
        if k > out.get(a, 0):
            out[a] = k
    return out


def _mark_visible(node: TreeNode, visible: dict[int, int]) -> None:
    visible[node.frame] = max(visible.get(node.frame, 0), node.samples)
    for child in node.children.values():
        _mark_visible(child, visible)


def call_trees(profile: Profile, graph: nx.DiGraph | None = None) -> list[TreeNode]:
    return entry_points(profile, graph)
