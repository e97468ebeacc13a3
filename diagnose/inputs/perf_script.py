"""Streaming parser for `perf script` text: samples aggregated per (thread, event, unique stack).

Speed comes from two caches. A sample's frame lines (its "body") repeat verbatim across samples,
so a whole body is looked up first; a body not seen before is split into lines and each line is
looked up; only a line never seen before is parsed with a regular expression. Both caches are
bounded, so memory grows with the number of unique stacks, not with the size of the input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

# One frame as perf printed it, with the symbol offset ("+0x1f") removed.
# `pc` is kept only where it names the frame: an unknown symbol when addresses are asked for.
class FrameRec(NamedTuple):
    func: bytes
    module: bytes
    kernel_address: bool
    pc: bytes | None


# The sample line, after "comm": "[pid/]tid [cpu] [time:] [period] event: [rest]".
_HEAD = re.compile(
    rb"^\s*(?P<comm>\S.*?)\s+(?:(?P<pid>\d+)/+)?(?P<tid>\d+)\s+"
    rb"(?:\[(?P<cpu>\d+)\]\s+)?(?:(?P<time>\d+\.\d+):\s*)?(?:(?P<period>\d+)\s+)?"
    rb"(?:(?P<event>\S+?):(?=\s|$))?\s*(?P<tail>.*?)\s*$"
)
# The frame line, matched as stackcollapse-perf.pl matches it: address, symbol, (dso).
_FRAME = re.compile(rb"^\s*(\w+)\s*(.+) \((\S*)\)")
_OFFSET = re.compile(rb"\+0x[\da-f]+$")
# x86-64 and arm64 kernels live in the top half of the address space.
_KERNEL_ADDRESS = re.compile(rb"^ffff[89a-f][0-9a-f]{11}$")

BODY_CACHE_LIMIT = 200_000
LINE_CACHE_LIMIT = 500_000

# Sentinel frame ids in a parsed body.
_BAD = -1


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
    time_min: float | None = None
    time_max: float | None = None


# (thread (comm, pid, tid), event, strict, frame ids leaf first). `strict` marks a sample
# line whose event stackcollapse-perf.pl reads (see EventStats.first_strict).
StackKey = tuple[tuple[bytes, bytes | None, bytes], bytes, bool, tuple[int, ...]]


@dataclass
class PartialParse:
    """What one parser saw in the chunks it was given; mergeable with others."""

    frames: list[FrameRec] = field(default_factory=list)
    # StackKey -> [samples, period sum]
    counts: dict[StackKey, list[int]] = field(default_factory=dict)
    events: dict[bytes, EventStats] = field(default_factory=dict)
    header: list[bytes] = field(default_factory=list)
    warnings: dict[str, Warning_] = field(default_factory=dict)
    # Set on the parser that saw the last chunk when the input ends inside a sample.
    unterminated_line: int | None = None


class ChunkParser:
    """Parses chunks of perf script text that start and end on sample boundaries."""

    def __init__(self, keep_unknown_addresses: bool = False) -> None:
        self.keep_addrs = keep_unknown_addresses
        self.out = PartialParse()
        self._frame_ids: dict[FrameRec, int] = {}
        self._line_cache: dict[bytes, int] = {}
        self._body_cache: dict[bytes, tuple[int, ...] | None] = {}

    # -- frames -------------------------------------------------------------------------

    def _frame_id(self, line: bytes) -> int:
        """Parse one frame line into an interned frame id, or _BAD if it is not a frame line."""
        m = _FRAME.match(line)
        if m is None:
            return _BAD
        pc, func, module = m.groups()
        func = _OFFSET.sub(b"", func)
        kaddr = bool(_KERNEL_ADDRESS.match(pc))
        keep_pc = pc if (self.keep_addrs and func == b"[unknown]") else None
        rec = FrameRec(func, module, kaddr, keep_pc)
        fid = self._frame_ids.get(rec)
        if fid is None:
            fid = len(self.out.frames)
            self._frame_ids[rec] = fid
            self.out.frames.append(rec)
        return fid

    def _body_ids(self, body: bytes) -> tuple[int, ...] | None:
        """Frame ids (leaf first) of a sample body, or None when a line is not a frame line.
        The leaf line is looked up on its own: its address changes from sample to sample
        (wherever in the function the CPU was), while the callers' return addresses repeat."""
        nl = body.find(b"\n")
        if nl < 0:
            return self._lines_ids(body)
        leaf = self._line_cache.get(body[:nl])
        if leaf is None or leaf == _BAD:
            return self._lines_ids(body)
        rest = self._lines_ids(body[nl + 1:])
        return None if rest is None else (leaf, *rest)

    def _lines_ids(self, body: bytes) -> tuple[int, ...] | None:
        cached = self._body_cache.get(body, False)
        if cached is not False:
            return cached  # type: ignore[return-value]
        lines = body.split(b"\n")
        cache = self._line_cache
        ids = list(map(cache.get, lines))
        if None in ids:
            if len(cache) > LINE_CACHE_LIMIT:
                cache.clear()
            for i, fid in enumerate(ids):
                if fid is None:
                    line = lines[i]
                    fid = self._frame_id(line) if line[:1].isspace() or not _HEAD.match(line) else _BAD
                    cache[line] = fid
                    ids[i] = fid
        result = None if _BAD in ids else tuple(ids)
        if len(self._body_cache) > BODY_CACHE_LIMIT:
            self._body_cache.clear()
        self._body_cache[body] = result
        return result

    # -- samples ------------------------------------------------------------------------

    def _count(self, head: re.Match[bytes], ids: tuple[int, ...], chunk_index: int, offset: int) -> None:
        comm, pid, tid, _cpu, time, period, event, tail = head.groups()
        event = event or b""
        strict = time is not None and not tail and bool(event)
        events = self.out.events
        st = events.get(event)
        if st is None:
            st = events[event] = EventStats(first_seen=(chunk_index, offset))
        if strict and st.first_strict is None:
            st.first_strict = (chunk_index, offset)
        st.samples += 1
        p = int(period) if period else 1
        st.period += p
        if not ids:
            st.stackless += 1
        if time is not None:
            t = float(time)
            if st.time_min is None or t < st.time_min:
                st.time_min = t
            if st.time_max is None or t > st.time_max:
                st.time_max = t
        key = ((comm, pid, tid), event, strict, ids)
        c = self.out.counts.get(key)
        if c is None:
            self.out.counts[key] = [1, p]
        else:
            c[0] += 1
            c[1] += p

    def warn(self, kind: str, message: str, line: int | None) -> None:
        w = self.out.warnings.get(kind)
        if w is None:
            self.out.warnings[kind] = Warning_(kind, message, line)
        else:
            w.count += 1

    def feed(self, chunk: bytes, chunk_index: int, first_line: int, last: bool = False) -> None:
        """Parse a chunk that holds whole samples (the last chunk may end inside one)."""
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")
        head_match = _HEAD.match
        body_ids = self._body_ids
        count = self._count
        offset = 0
        blocks = chunk.split(b"\n\n")
        n_blocks = len(blocks)
        for bi, block in enumerate(blocks):
            start = offset
            offset += len(block) + 2
            if not block:
                continue
            if block[:1] == b"\n" or block[:1] == b"#" or b"\n#" in block:
                block, start = self._strip_comments(block, start)
                if not block:
                    continue
            nl = block.find(b"\n")
            if nl < 0:
                head, body = block, b""
            else:
                head, body = block[:nl], block[nl + 1:]
            m = head_match(head) if not head[:1].isspace() or not body else None
            if m is not None and m.group("event") is not None and not m.group("tail"):
                ids = body_ids(body) if body else ()
                if ids is not None:
                    count(m, ids, chunk_index, start)
                    if last and bi == n_blocks - 1:
                        self._check_end(chunk, start, first_line, has_frames=bool(body))
                    continue
            # Anything unusual (single-line samples, trace output, stray lines): line by line.
            self._slow_block(block, chunk_index, start, first_line, chunk)
            if last and bi == n_blocks - 1:
                self._check_end(chunk, start, first_line, has_frames=bool(body))

    def _check_end(self, chunk: bytes, start: int, first_line: int, has_frames: bool) -> None:
        """perf ends every sample that has a call chain with a blank line, and every line with a
        newline: input that stops short of that was cut off (perf killed, disk full)."""
        if not chunk.endswith(b"\n") or (has_frames and not chunk.endswith(b"\n\n")):
            self.out.unterminated_line = first_line + chunk.count(b"\n", 0, start)

    def _strip_comments(self, block: bytes, start: int) -> tuple[bytes, int]:
        lines = block.split(b"\n")
        kept = []
        for line in lines:
            if line.startswith(b"#"):
                if len(self.out.header) < 400:
                    self.out.header.append(line)
                if not kept:
                    start += len(line) + 1
            elif line or kept:
                kept.append(line)
            else:
                start += 1
        return b"\n".join(kept), start

    def _slow_block(self, block: bytes, chunk_index: int, start: int, first_line: int, chunk: bytes) -> None:
        """Line-by-line reading of an unusual block: samples printed on one line each (no call
        chains), sample lines not separated by blank lines, stray or malformed lines."""
        head: re.Match[bytes] | None = None
        ids: list[int] = []
        pos = start

        def flush() -> None:
            if head is not None:
                self._count(head, tuple(ids), chunk_index, start)

        for line in block.split(b"\n"):
            here = pos
            pos += len(line) + 1
            if not line.strip():
                if line:
                    self.warn("blank-spaces", "a line holding only spaces inside a sample",
                              first_line + chunk.count(b"\n", 0, here))
                continue
            indented = line[:1].isspace()
            m = _HEAD.match(line)
            # perf indents frame lines; a sample line is indented only when perf pads the
            # process name of a sample printed on one line (which always has a time stamp).
            if m is not None and (not indented or (m.group("time") and m.group("event"))):
                flush()
                head, ids = m, []
                tail = m.group("tail")
                if tail:
                    fid = self._frame_id(b" " + tail)
                    if fid != _BAD:
                        ids.append(fid)
                continue
            if head is None:
                what = "a frame line outside any sample" if indented else "not a sample line"
                self.warn("orphan-line", f"{what}: {line.strip()[:80].decode('utf-8', 'replace')!r}",
                          first_line + chunk.count(b"\n", 0, here))
                continue
            fid = self._line_cache.get(line)
            if fid is None:
                fid = self._frame_id(line)  # (old perf printed frame lines without indentation)
                self._line_cache[line] = fid
            if fid == _BAD:
                self.warn("bad-frame", f"not a frame line: {line.strip()[:80].decode('utf-8', 'replace')!r}",
                          first_line + chunk.count(b"\n", 0, here))
            else:
                ids.append(fid)
        flush()


def merge(parts: list[PartialParse]) -> PartialParse:
    """Merge partial parses (from several processes) into one, renumbering frames."""
    if len(parts) == 1:
        return parts[0]
    out = PartialParse()
    ids: dict[FrameRec, int] = {}
    for part in parts:
        remap = []
        for rec in part.frames:
            fid = ids.get(rec)
            if fid is None:
                fid = ids[rec] = len(out.frames)
                out.frames.append(rec)
            remap.append(fid)
        for (thread, event, strict, fids), (n, p) in part.counts.items():
            key = (thread, event, strict, tuple(remap[f] for f in fids))
            c = out.counts.get(key)
            if c is None:
                out.counts[key] = [n, p]
            else:
                c[0] += n
                c[1] += p
        for name, st in part.events.items():
            cur = out.events.get(name)
            if cur is None:
                out.events[name] = EventStats(st.first_seen, st.first_strict, st.samples, st.stackless, st.period,
                                              st.time_min, st.time_max)
                continue
            cur.first_seen = min(cur.first_seen, st.first_seen)
            if st.first_strict is not None:
                cur.first_strict = st.first_strict if cur.first_strict is None else min(cur.first_strict, st.first_strict)
            cur.samples += st.samples
            cur.stackless += st.stackless
            cur.period += st.period
            if st.time_min is not None:
                cur.time_min = st.time_min if cur.time_min is None else min(cur.time_min, st.time_min)
            if st.time_max is not None:
                cur.time_max = st.time_max if cur.time_max is None else max(cur.time_max, st.time_max)
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
    return out
