"""Streaming parser for `perf script` text: samples aggregated per (thread, event, unique stack).

A sample's frame lines go to the frame table of diagnose.inputs.perf_lines (whole bodies, then
lines, cached: a regular expression only for a line never seen); what the parse keeps, compactly,
is diagnose.inputs.perf_parse.PartialParse, so memory grows with the number of unique stacks,
not with the size of the input.
"""

from __future__ import annotations

import re

from diagnose.inputs.perf_counted import SampleTexts, feed_counted
from diagnose.inputs.perf_lines import (_BAD, _HEAD, BODY_CACHE_LIMIT, SAMPLE_LINE, FrameRec, FrameTable,  # noqa: F401
                                        LineCounter, _split_balanced, _strip_offset, is_sample_line, period_value)
from diagnose.inputs.perf_parse import (EventStats, Group, PartialParse, StackKey, Warning_,  # noqa: F401
                                        add_count, count, merge)

# The common sample line, which ends with its event name: who (comm [pid/]tid), time, period, event.
_FAST_HEAD = re.compile(rb"^(\S.*?\s+(?:\d+/+)?\d+)\s+(?:\[\d+\]\s+)?(?:(\d+\.\d+):\s*)?(?:(\d+)\s+)?(\S+):\s*$")
# The start of a sample: its sample line (as _FAST_HEAD) and its leaf frame line. The callers'
# lines follow, up to the blank line that ends the sample.
_SAMPLE_START = re.compile(SAMPLE_LINE.pattern + rb"\n([^\n]+)")
_WHO = re.compile(rb"^\s*(\S.*?)\s+(?:(\d+)/+)?(\d+)$")

_HEADER_FENCE = b"# ========"

PERIOD_CACHE_LIMIT = 4096


class ChunkParser(FrameTable):
    """Parses chunks of perf script text that start and end on sample boundaries."""

    def __init__(self, keep_unknown_addresses: bool = False,
                 sample_times: tuple[float, float] | None = None) -> None:
        """sample_times: the text was printed without time stamps, and these are the first and
        last (a perf.data's header): its samples are read as if each had one (see perf_counted)."""
        super().__init__(keep_unknown_addresses)
        self.sample_times = sample_times
        self._texts = SampleTexts(self)
        self.out = PartialParse(frames=self.frames)
        # (who, event, strict) -> group id while parsing ("who": the sample line's text from comm
        # to tid); finish() turns them into threads. out.counts holds (group id, frame ids...).
        self._group_ids: dict[tuple[bytes, bytes, bool], int] = {}
        # A period as printed (bytes) or as a number -> one shared int: most samples of a
        # capture have one of a few periods, and a stack seen once keeps just its period.
        self._periods: dict[bytes | int | None, int] = {None: 1}
        self._raw_groups: list[tuple[bytes, bytes, bool]] = []
        # The line the input stops in, when it stops inside one (see feed).
        self._cut_line: int | None = None

    # -- samples ------------------------------------------------------------------------

    def _count(self, head: re.Match[bytes], ids: tuple[int, ...], chunk_index: int, order: int) -> None:
        """Count one sample read by the careful path (full sample-line expression)."""
        comm, pid, tid, _cpu, time, period, event, tail = head.groups()
        event = event or b""
        strict = (time is not None or self.sample_times is not None) and not tail and bool(event)
        who = head.string[head.start("comm"):head.end("tid")]
        self._add(who, event, strict, time, period, -2 if not ids else ids[0], ids[1:], chunk_index, order)

    def _group(self, who: bytes, event: bytes, strict: bool) -> int:
        g = self._group_ids.get((who, event, strict))
        if g is None:
            g = self._group_ids[(who, event, strict)] = len(self._raw_groups)
            self._raw_groups.append((who, event, strict))
        return g

    def _period(self, period: bytes | None) -> int | None:
        """The period as one shared int (1 when the line has none); None when it is not a 64-bit
        number."""
        p = period_value(period)
        if p is None:
            return None
        periods = self._periods
        if len(periods) < PERIOD_CACHE_LIMIT:
            p = periods.setdefault(p, p)
            periods[period] = p
        return p

    def _add(self, who: bytes, event: bytes, strict: bool, time: bytes | None, period: bytes | None,
             leaf: int, rest: tuple[int, ...], chunk_index: int, order: int) -> None:
        g = self._group(who, event, strict)
        key = ((g, leaf) if leaf != -2 else (g,)) + rest
        add_count(self.out.counts, key, 1, self._period(period) or 0)  # (None cannot come: the callers skip such a sample)
        self._note_event(event, strict, time, chunk_index, order)

    def _note_event(self, event: bytes, strict: bool, time: bytes | None, chunk_index: int, order: int) -> None:
        st = self.out.events.get(event)
        if st is None:
            st = self.out.events[event] = EventStats(first_seen=(chunk_index, order))
        if strict and st.first_strict is None:
            st.first_strict = (chunk_index, order)
        if time is not None:
            t = float(time)
            self._note_times(t, t)

    def warn(self, kind: str, message: str, line: int | None) -> None:
        if line is not None and line == self._cut_line:
            return
        w = self.out.warnings.get(kind)
        if w is None:
            self.out.warnings[kind] = Warning_(kind, message, line)
        else:
            w.count += 1

    def feed(self, chunk: bytes, chunk_index: int, first_line: int, last: bool = False) -> None:
        """Parse a chunk that holds whole samples (the last chunk may end inside one).

        This is the hot path of every command, so it is written for speed: one expression
        finds each sample (its sample line, its leaf frame line and its callers' lines) and the
        frames come from two cache lookups. Text the expression does not cover (samples
        printed on one line, samples without a stack, stray lines) goes the careful way."""
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")
        if chunk.startswith(_HEADER_FENCE) and not self.out.header:
            chunk, first_line = self._take_header(chunk, first_line)
            # The "#" lines right after it are header facts too: without them the first chunk
            # takes the fast path.
            while chunk[:1] == b"#" and b"\n" in chunk:
                nl = chunk.find(b"\n")
                if len(self.out.header) < 400:
                    self.out.header.append(chunk[:nl])
                chunk, first_line = chunk[nl + 1:], first_line + 1
        lines = LineCounter(chunk, first_line)
        if last and chunk and not chunk.endswith(b"\n"):
            # The input stops inside this line (perf killed, a file cut short): _check_end
            # reports that, so the line is not also reported as malformed.
            self._cut_line = lines.line_at(chunk.rfind(b"\n") + 1)
        if chunk[:1] == b"#" or b"\n#" in chunk:
            self._feed_blocks(chunk, 0, chunk_index, lines)
        elif self.sample_times is None or not feed_counted(self, self._texts, chunk, chunk_index):
            self._feed_fast(chunk, chunk_index, lines)
        if last:
            self._check_end(chunk, lines)

    def _feed_fast(self, chunk: bytes, chunk_index: int, lines: LineCounter) -> None:
        line_cache = self._line_cache
        body_cache = self._body_cache
        counts = self.out.counts
        group_ids = self._group_ids
        periods = self._periods
        match = _SAMPLE_START.match
        find = chunk.find
        cur_event: bytes | None = None
        cur_strict = False
        untimed = self.sample_times is not None
        first_time: bytes | None = None
        last_time: bytes | None = None
        pos = 0
        size = len(chunk)
        while pos < size:
            if chunk[pos] == 10:  # more blank lines between samples
                pos += 1
                continue
            end = find(b"\n\n", pos)
            if end < 0:
                end = size
            m = match(chunk, pos, end)
            if m is None:
                self._feed_blocks(chunk[pos:end], pos, chunk_index, lines)
                pos = end + 2
                continue
            start = pos
            pos = end + 2
            who, time, period, event, leaf_line = m.groups()
            leaf = line_cache.get(leaf_line)
            rest_lines = chunk[m.end():end]
            rest = body_cache.get(rest_lines)
            if leaf is None or rest is None:
                if leaf is None:
                    leaf = self._line_id(leaf_line)
                if rest is None:
                    rest = self._rest_ids(rest_lines)
            if leaf < 0 or rest is None:  # (a line refused is cached as refused)
                self._feed_blocks(chunk[start:end], start, chunk_index, lines, careful=True)
                continue
            p = periods.get(period)
            if p is None:
                p = self._period(period)
                if p is None:  # not a 64-bit number: skipped, with a warning, by the careful path
                    self._feed_blocks(chunk[start:end], start, chunk_index, lines, careful=True)
                    continue
            strict = time is not None or untimed
            g = group_ids.get((who, event, strict))
            if g is None:
                g = self._group(who, event, strict)
            key = (g, leaf) + rest
            c = counts.get(key)
            if c is None:
                counts[key] = p  # seen once: its period alone
            elif type(c) is int:
                counts[key] = [2, c + p]
            else:
                c[0] += 1
                c[1] += p
            if event != cur_event or strict != cur_strict:
                self._note_event(event, strict, None, chunk_index, start)
                cur_event, cur_strict = event, strict
            if strict:
                # perf script prints samples in time order: a chunk's first and last time
                # stamps bound it (see _note_times).
                last_time = time
                if first_time is None:
                    first_time = time
        if first_time is not None and last_time is not None:
            self._note_times(float(first_time), float(last_time))

    def _rest_ids(self, rest_lines: bytes) -> tuple[int, ...] | None:
        """Ids of the callers' lines as matched by _SAMPLE (each line preceded by a newline)."""
        ids = self._lines_ids(rest_lines[1:]) if rest_lines else ()
        self._body_cache[rest_lines] = ids
        return ids

    def _feed_blocks(self, text: bytes, base: int, chunk_index: int, lines: LineCounter,
                     careful: bool = False) -> None:
        """Samples separated by blank lines, one block at a time; comments are header facts."""
        fast = _FAST_HEAD.match
        offset = base
        for block in text.split(b"\n\n"):
            start = offset
            offset += len(block) + 2
            if not block:
                continue
            c0 = block[0]
            if c0 == 10 or c0 == 35 or b"\n#" in block:  # "\n": a run of blank lines; "#"
                block = self._strip_comments(block)
                if not block:
                    continue
            nl = block.find(b"\n")
            m = None if careful else (fast(block, 0, nl) if nl > 0 else fast(block))
            if m is not None and (m.group(3) is None or len(m.group(3)) < 20 or period_value(m.group(3)) is not None):
                who, time, period, event = m.groups()
                ids = self._lines_ids(block[nl + 1:]) if nl > 0 else ()
                if ids is not None:
                    leaf, rest = (ids[0], ids[1:]) if ids else (-2, ())
                    strict = time is not None or self.sample_times is not None
                    self._add(who, event, strict, time, period, leaf, rest, chunk_index, start)
                    continue
            # Anything unusual (single-line samples, trace output, stray lines): line by line.
            self._slow_block(block, chunk_index, start, lines)

    def _note_times(self, first: float, last: float) -> None:
        out = self.out
        lo, hi = min(first, last), max(first, last)
        out.time_min = lo if out.time_min is None else min(out.time_min, lo)
        out.time_max = hi if out.time_max is None else max(out.time_max, hi)

    def _check_end(self, chunk: bytes, lines: LineCounter) -> None:
        """perf ends every sample that has a call chain with a blank line, and every line with a
        newline: input that stops short of that was cut off (perf killed, disk full)."""
        body = chunk.rstrip(b"\n")
        if not body:
            return
        start = body.rfind(b"\n\n") + 2 if b"\n\n" in body else 0
        # A call chain's frame lines are indented; samples printed on one line each (perf
        # record without -g) are not separated by blank lines at all.
        block_lines = body[start:].split(b"\n")
        last_line = block_lines[-1]
        has_frames = len(block_lines) > 1 and last_line[:1].isspace() and not is_sample_line(last_line)
        if not chunk.endswith(b"\n") or (has_frames and not chunk.endswith(b"\n\n")):
            self.out.unterminated_line = lines.line_at(start)

    def finish(self) -> PartialParse:
        """Turn the groups' sample-line text into threads, count samples per event, and return
        the result."""
        out = self.out
        threads: dict[bytes, tuple[bytes, bytes | None, bytes]] = {}
        final: dict[Group, int] = {}
        remap = []
        for who, event, strict in self._raw_groups:
            thread = threads.get(who)
            if thread is None:
                m = _WHO.match(who)
                thread = threads[who] = (m.group(1), m.group(2), m.group(3)) if m else (who, None, b"0")
            group = (thread, event, strict)
            g = final.get(group)
            if g is None:
                g = final[group] = len(out.groups)
                out.groups.append(group)
            remap.append(g)
        if remap != list(range(len(remap))):
            # Two spellings of one thread (spacing of the sample line): their stacks are one.
            counts: dict[tuple[int, ...], list[int] | int] = {}
            for key, c in out.counts.items():
                n, p = count(c)
                add_count(counts, (remap[key[0]],) + key[1:], n, p)
            out.counts = counts
        events = [out.events[event] for _, event, _ in out.groups]
        for key, c in out.counts.items():
            n, p = (1, c) if type(c) is int else c  # type: ignore[misc]
            st = events[key[0]]
            st.samples += n
            st.period += p
            if len(key) == 1:
                st.stackless += n
        self._group_ids, self._raw_groups = {}, []
        if self.sample_times is not None and out.counts:
            out.time_min, out.time_max = self.sample_times
        return out

    def _take_header(self, chunk: bytes, first_line: int) -> tuple[bytes, int]:
        """The header `perf script --header` prints, between two "# ========" lines. A value may
        run over several lines (a command line with newlines in its arguments): such lines
        continue the header line before them."""
        end = chunk.find(b"\n" + _HEADER_FENCE, len(_HEADER_FENCE))
        if end < 0:
            return chunk, first_line
        end = chunk.find(b"\n", end + 1)
        end = len(chunk) if end < 0 else end + 1
        for line in chunk[:end].split(b"\n"):
            if line.startswith(b"#") or not self.out.header:
                self.out.header.append(line)
            elif line:
                self.out.header[-1] += b"\n" + line
        return chunk[end:], first_line + chunk.count(b"\n", 0, end)

    def _strip_comments(self, block: bytes) -> bytes:
        """Drop "#" lines (kept as header facts) and leading blank lines from a block."""
        kept = []
        for line in block.split(b"\n"):
            if line.startswith(b"#"):
                if len(self.out.header) < 400:
                    self.out.header.append(line)
            elif line or kept:
                kept.append(line)
        return b"\n".join(kept)

    def _slow_block(self, block: bytes, chunk_index: int, start: int, lines: LineCounter) -> None:
        """Line-by-line reading of an unusual block: samples printed on one line each (no call
        chains), sample lines not separated by blank lines, stray or malformed lines."""
        head: re.Match[bytes] | None = None
        ids: list[int] = []
        base_line: int | None = None
        skipping = False  # the frames of a sample that is not counted

        def line_no(i: int) -> int:
            nonlocal base_line
            if base_line is None:
                base_line = lines.line_at(start)
            return base_line + i

        def flush() -> None:
            if head is not None and not skipping:
                self._count(head, tuple(ids), chunk_index, start)

        for i, line in enumerate(block.split(b"\n")):
            if not line.strip():
                if line:
                    self.warn("blank-spaces", "a line holding only spaces inside a sample", line_no(i))
                continue
            indented = line[:1].isspace()
            m = _HEAD.match(line)
            # perf indents frame lines; a sample line is indented only when perf pads the
            # process name of a sample printed on one line (which always has a time stamp).
            if m is not None and (not indented or (m.group("time") and m.group("event"))):
                flush()
                head, ids = m, []
                period = m.group("period")
                skipping = period_value(period) is None
                if skipping:
                    self.warn("bad-period", f"a sample whose period ({period[:20].decode()}..., {len(period):,} "
                                            f"digits) is not a 64-bit number as perf writes it", line_no(i))
                    continue
                tail = m.group("tail")
                if tail:
                    fid = self._frame_id(b" " + tail)
                    if fid != _BAD:
                        ids.append(fid)
                continue
            if skipping:
                continue
            if head is None:
                what = "a frame line outside any sample" if indented else "not a sample line"
                self.warn("orphan-line", f"{what}: {line.strip()[:80].decode('utf-8', 'replace')!r}", line_no(i))
                continue
            fid = self._line_cache.get(line)
            if fid is None:
                fid = self._frame_id(line)  # (old perf printed frame lines without indentation)
                self._line_cache[line] = fid
            if fid == _BAD:
                self.warn("bad-frame", f"not a frame line: {line.strip()[:80].decode('utf-8', 'replace')!r}",
                          line_no(i))
            else:
                ids.append(fid)
        flush()

