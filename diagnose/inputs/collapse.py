"""Folded stacks exactly as stackcollapse-perf.pl writes them, and the frame naming rules they use."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from diagnose.core.errors import DiagnoseError
from diagnose.inputs.perf_script import FrameRec, PartialParse

# A Go method name keeps its parentheses: "net/http.(*Client).Do".
_GO_METHOD = re.compile(rb"\.\(.*\)\.")
# Everything from the first "(" that does not open "(anonymous namespace)" is an argument list.
_ARGS = re.compile(rb"\((?!anonymous namespace\)).*", re.S)
_JIT_MAP = re.compile(rb"/tmp/perf-\d+\.map")
_JITDUMP = re.compile(rb"/jitted-\d+-\d+\.so")
_KERNEL_MODULE = re.compile(rb"^\[|vmlinux$")


@dataclass(frozen=True)
class CollapseOptions:
    """The options of stackcollapse-perf.pl that `diagnose collapse` mirrors."""

    pid: bool = False
    tid: bool = False
    kernel: bool = False
    jit: bool = False
    addrs: bool = False
    event: str | None = None


def tidy_function(func: bytes, module: bytes, pc: bytes | None, is_java: bool, addrs: bool) -> list[bytes]:
    """Names for one frame line: [] for a skipped frame, several for an `A->B` inline chain.
    The first name is the real frame; later ones are inlined into it (without annotations)."""
    if func.startswith(b"("):
        return []  # a process name printed as a frame
    names = []
    for part in func.split(b"->"):
        if part == b"[unknown]":
            base = module.rsplit(b"/", 1)[-1] if module != b"[unknown]" else b"unknown"
            part = b"[" + base + (b" <" + pc + b">" if addrs and pc is not None else b"") + b"]"
        part = part.replace(b";", b":")
        if not _GO_METHOD.search(part):
            part = _ARGS.sub(b"", part, count=1)
        part = part.replace(b'"', b"").replace(b"'", b"")
        if is_java and part.startswith(b"L") and b"/" in part:
            part = part[1:]
        names.append(part)
    return names


def annotate(names: list[bytes], module: bytes, opts: CollapseOptions) -> list[bytes]:
    """Add the `_[i]`, `_[k]` and `_[j]` suffixes as stackcollapse-perf.pl does."""
    out = []
    for i, name in enumerate(names):
        if i > 0:
            name += b"_[i]"
        elif opts.kernel and _KERNEL_MODULE.search(module) and b"unknown" not in module:
            name += b"_[k]"
        elif opts.jit and (_JIT_MAP.search(module) or _JITDUMP.search(module)):
            name += b"_[j]"
        out.append(name)
    return out


def process_frame(comm: bytes, pid: bytes | None, tid: bytes, opts: CollapseOptions) -> bytes:
    if opts.tid:
        name = comm + b"-" + (pid or b"?") + b"/" + tid
    elif opts.pid:
        name = comm + b"-" + (pid or b"?")
    else:
        name = comm
    return name.replace(b" ", b"_")


def chosen_event(parse: PartialParse, requested: str | None) -> bytes | None:
    """The event whose samples are folded: the requested one, else the first one in the input
    as stackcollapse-perf.pl sees it. None: no filtering."""
    named = {e: st for e, st in parse.events.items() if e}
    if requested is not None:
        want = requested.encode()
        for e in named:
            if e == want or e.split(b":", 1)[0] == want:
                return e
        have = ", ".join(sorted(e.decode("utf-8", "replace") for e in named)) or "none"
        raise DiagnoseError(f"no samples of event {requested!r} in the input (events present: {have}); "
                            f"pass one of those to --event")
    strict = {e: st.first_strict for e, st in named.items() if st.first_strict is not None}
    if not strict:
        return None
    return min(strict, key=lambda e: strict[e])  # type: ignore[arg-type, return-value]


def fold(parse: PartialParse, opts: CollapseOptions, into: dict[bytes, int] | None = None,
         events: PartialParse | None = None,
         keep: Callable[[bytes, bytes | None, bytes], bool] | None = None) -> dict[bytes, int]:
    """Folded stack -> summed period (1 per sample where perf printed no period), added to
    `into` when given (parts of one input folded one after the other, `events` then the parse
    whose events decide which event is folded: the whole input's). The parse's stacks are let
    go as they are folded (parse.counts is empty afterwards, and so is parse.frames unless a
    Java thread needs them). `keep` (comm, pid, tid) -> False leaves a thread's samples out
    (diagnose.model.select)."""
    event_filter = chosen_event(events or parse, opts.event)
    frames = parse.frames
    # Per frame, what it adds to a folded line (False: nothing, a skipped frame): one list per is_java.
    segments: tuple[list[bytes | bool | None], ...] = ([None] * len(frames), [])
    groups = []
    for (comm, pid, tid), event, strict in parse.groups:
        # Like stackcollapse-perf.pl: a sample line whose event it cannot read is never filtered
        # out and counts 1 per sample; --event filters every sample.
        if event_filter is not None and event != event_filter and (strict or opts.event is not None):
            groups.append(None)
        elif keep is not None and not keep(comm, pid, tid):
            groups.append(None)
        else:
            groups.append((process_frame(comm, pid, tid, opts), comm == b"java", strict))
    if not any(g is not None and g[1] for g in groups):
        # No Java thread: every frame's segment now, then the parsed frames can go.
        segs0 = segments[0]
        for fid, rec in enumerate(frames):
            func, module = rec.pl or (rec.func, rec.module)
            names = [] if not func else annotate(tidy_function(func, module, rec.pc, False, opts.addrs), module, opts)
            segs0[fid] = b";".join(names) if names else False
        frames = parse.frames = []
    folded: dict[bytes, int] = {} if into is None else into
    counts = parse.counts
    while counts:
        key, c = counts.popitem()  # the folded lines are sorted: order is free
        samples, period = (1, c) if type(c) is int else c  # type: ignore[misc]
        group = groups[key[0]]
        if group is None:
            continue
        root, is_java, strict = group
        if not strict:
            period = samples
        segs = segments[is_java]
        if is_java and not segs:
            segs.extend([None] * len(frames))
        parts = [root]
        for k in range(len(key) - 1, 0, -1):
            fid = key[k]
            seg = segs[fid]
            if seg is None:
                rec: FrameRec = frames[fid]
                func, module = rec.pl or (rec.func, rec.module)
                names = [] if not func else annotate(tidy_function(func, module, rec.pc, is_java, opts.addrs), module, opts)
                seg = segs[fid] = b";".join(names) if names else False
            if seg is not False:
                parts.append(seg)  # type: ignore[arg-type]
        stack = b";".join(parts)
        old = folded.get(stack)
        # A line seen once keeps the period object the parse shares among its stacks (no new
        # int per line: 10^6 unique stacks, 32 MB).
        folded[stack] = period if old is None else old + period
    return folded


def folded_text(folded: dict[bytes, int]) -> bytes:
    """The output file: lines sorted by byte order, `stack count`."""
    return b"".join(folded_lines(folded))


def folded_lines(folded: dict[bytes, int], batch: int = 10_000) -> Iterator[bytes]:
    """The output file in pieces of `batch` lines, sorted by byte order: `stack count`."""
    keys = sorted(folded)
    for i in range(0, len(keys), batch):
        yield b"".join(k + b" %d\n" % folded[k] for k in keys[i:i + batch])
