"""What a parse of `perf script` text holds (frames, groups of thread and event, counts per unique
stack, events, header, warnings), compactly, since a capture may hold millions of unique stacks;
and the merge of the partial parses that worker processes send back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from diagnose.inputs.perf_lines import FrameRec


@dataclass
class Warning_:
    """A problem seen while parsing: reported once, with the first line it happened on."""

    kind: str
    message: str
    line: int | None
    count: int = 1


@dataclass
class EventStats:
    first_seen: tuple[int, int]  # (chunk index, byte offset): input order
    # Where stackcollapse-perf.pl would first see this event: it only reads an event name on a
    # sample line that has a time stamp and ends with "event:".
    first_strict: tuple[int, int] | None = None
    samples: int = 0
    stackless: int = 0
    period: int = 0


# (thread (comm, pid, tid), event, strict, frame ids leaf first). `strict` marks a sample
# line whose event stackcollapse-perf.pl reads (see EventStats.first_strict).
StackKey = tuple[tuple[bytes, bytes | None, bytes], bytes, bool, tuple[int, ...]]
# (thread, event, strict): what the stacks of one group share.
Group = tuple[tuple[bytes, bytes | None, bytes], bytes, bool]


@dataclass
class PartialParse:
    """What one parser saw in the chunks it was given; mergeable with others."""

    frames: list[FrameRec] = field(default_factory=list)
    # Group id -> (thread, event, strict).
    groups: list[Group] = field(default_factory=list)
    # (group id, frame ids leaf first ...) -> [samples, period sum], or just the period of a
    # stack seen once (most of them, in a capture of many unique stacks): see count(). In input
    # order; items() gives them as StackKeys.
    counts: dict[tuple[int, ...], list[int] | int] = field(default_factory=dict)
    events: dict[bytes, EventStats] = field(default_factory=dict)
    header: list[bytes] = field(default_factory=list)
    warnings: dict[str, Warning_] = field(default_factory=dict)
    # Set on the parser that saw the last chunk when the input ends inside a sample.
    unterminated_line: int | None = None
    # The first and last sample time stamps (all events: they are recorded together).
    time_min: float | None = None
    time_max: float | None = None

    def items(self) -> Iterator[tuple[StackKey, tuple[int, int]]]:
        """(StackKey, (samples, period sum)) of every unique stack, in input order."""
        groups = self.groups
        for key, c in self.counts.items():
            thread, event, strict = groups[key[0]]
            yield (thread, event, strict, key[1:]), count(c)


def count(c: list[int] | int) -> tuple[int, int]:
    """(samples, period sum) of a value of PartialParse.counts."""
    return (1, c) if type(c) is int else (c[0], c[1])  # type: ignore[index]


def add_count(counts: dict[tuple[int, ...], list[int] | int], key: tuple[int, ...], n: int, p: int) -> None:
    """Add n samples of period sum p to counts[key]."""
    c = counts.get(key)
    if c is None:
        counts[key] = p if n == 1 else [n, p]
    elif type(c) is int:
        counts[key] = [n + 1, c + p]
    else:
        c[0] += n  # type: ignore[index]
        c[1] += p  # type: ignore[index]


def merge(parts: list[PartialParse]) -> PartialParse:
    """Merge partial parses (from several processes) into the first one, renumbering the frames
    and groups of the others; each part's stacks are let go as they are merged."""
    if len(parts) == 1:
        return parts[0]
    out = parts[0]
    frame_ids: dict[FrameRec, int] = {rec: i for i, rec in enumerate(out.frames)}
    group_ids: dict[Group, int] = {group: i for i, group in enumerate(out.groups)}
    counts = out.counts
    first_events = {name: EventStats(st.first_seen, st.first_strict, st.samples, st.stackless, st.period)
                    for name, st in out.events.items()}
    out.events = {}
    out_warnings = {kind: Warning_(w.kind, w.message, w.line, w.count) for kind, w in out.warnings.items()}
    out.warnings = {}
    rest = [PartialParse(events=first_events, warnings=out_warnings, header=out.header,
                         unterminated_line=out.unterminated_line, time_min=out.time_min, time_max=out.time_max)]
    out.header, out.unterminated_line, out.time_min, out.time_max = [], None, None, None
    for part in rest + parts[1:]:
        if part.counts:
            remap = []
            for rec in part.frames:
                fid = frame_ids.get(rec)
                if fid is None:
                    fid = frame_ids[rec] = len(out.frames)
                    out.frames.append(rec)
                remap.append(fid)
            gmap = []
            for group in part.groups:
                g = group_ids.get(group)
                if g is None:
                    g = group_ids[group] = len(out.groups)
                    out.groups.append(group)
                gmap.append(g)
            # In input order, each stack let go as it is merged: a list of the keys alone (no
            # (key, value) pair per stack: 32 MB for 500,000 stacks) and pop() from the part.
            theirs = part.counts
            keys = list(theirs)
            for i, key in enumerate(keys):
                keys[i] = None  # type: ignore[call-overload]
                n, p = count(theirs.pop(key))
                add_count(counts, (gmap[key[0]], *[remap[f] for f in key[1:]]), n, p)
            part.counts = {}
            del theirs, keys
        for name, st in part.events.items():
            cur = out.events.get(name)
            if cur is None:
                out.events[name] = EventStats(st.first_seen, st.first_strict, st.samples, st.stackless, st.period)
                continue
            cur.first_seen = min(cur.first_seen, st.first_seen)
            if st.first_strict is not None:
                cur.first_strict = st.first_strict if cur.first_strict is None else min(cur.first_strict, st.first_strict)
            cur.samples += st.samples
            cur.stackless += st.stackless
            cur.period += st.period
        if len(out.header) < len(part.header):
            out.header = part.header if not out.header else out.header
        for kind, w in part.warnings.items():
            cur_w = out.warnings.get(kind)
            if cur_w is None:
                out.warnings[kind] = Warning_(w.kind, w.message, w.line, w.count)
            else:
                if w.line is not None and (cur_w.line is None or w.line < cur_w.line):
                    cur_w.line, cur_w.message = w.line, w.message
                cur_w.count += w.count
        if part.unterminated_line is not None:
            out.unterminated_line = part.unterminated_line
        if part.time_min is not None:
            out.time_min = part.time_min if out.time_min is None else min(out.time_min, part.time_min)
        if part.time_max is not None:
            out.time_max = part.time_max if out.time_max is None else max(out.time_max, part.time_max)
    return out
