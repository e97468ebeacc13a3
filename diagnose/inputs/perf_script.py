"""Streaming parser for `perf script` text: samples aggregated per (thread, event, unique stack).

Speed comes from two caches. A sample's frame lines (its "body") repeat verbatim across samples,
so a whole body is looked up first; a body not seen before is split into lines and each line is
looked up; only a line never seen before is parsed with a regular expression. Both caches are
bounded, so memory grows with the number of unique stacks, not with the size of the input.

What is kept is compact, since a capture may hold millions of unique stacks: a stack is one
tuple of ints (its group, then its frame ids) with one [samples, period] pair; a group is who ran
it, its event and how its sample line reads; a frame is one FrameRec, its module shared.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

# One frame as perf printed it, with the symbol offset ("+0x1f") removed.
# `pc` is kept only where it names the frame: an unknown symbol when addresses are asked for.
class FrameRec(NamedTuple):
    """One frame line: symbol (offset stripped) and the DSO inside the line's final balanced
    parentheses, so "/memfd:jit (deleted)" and "/opt/My App/lib.so" are whole modules."""

    func: bytes
    module: bytes
    kernel_address: bool
    pc: bytes | None
    # (symbol, dso) as stackcollapse-perf.pl's expression splits the line, where that differs;
    # (b"", b"") where that expression does not read it as a frame line at all.
    pl: tuple[bytes, bytes] | None = None


# The sample line, after "comm": "[pid/]tid [cpu] [time:] [period] event: [rest]".
_HEAD = re.compile(
    rb"^\s*(?P<comm>\S.*?)\s+(?:(?P<pid>\d+)/+)?(?P<tid>\d+)\s+"
    rb"(?:\[(?P<cpu>\d+)\]\s+)?(?:(?P<time>\d+\.\d+):\s*)?(?:(?P<period>\d+)\s+)?"
    rb"(?:(?P<event>\S+?):(?=\s|$))?\s*(?P<tail>.*?)\s*$"
)
# The common sample line, which ends with its event name: who (comm [pid/]tid), time, period, event.
_FAST_HEAD = re.compile(rb"^(\S.*?\s+(?:\d+/+)?\d+)\s+(?:\[\d+\]\s+)?(?:(\d+\.\d+):\s*)?(?:(\d+)\s+)?(\S+):\s*$")
# The start of a sample: its sample line (as _FAST_HEAD) and its leaf frame line. The callers'
# lines follow, up to the blank line that ends the sample.
_SAMPLE_START = re.compile(
    rb"(\S[^\n]*?[ \t]+(?:\d+/+)?\d+)[ \t]+(?:\[\d+\][ \t]+)?(?:(\d+\.\d+):[ \t]*)?(?:(\d+)[ \t]+)?"
    rb"(\S+):[ \t]*\n([^\n]+)"
)
_WHO = re.compile(rb"^\s*(\S.*?)\s+(?:(\d+)/+)?(\d+)$")
# The frame line, matched as stackcollapse-perf.pl matches it: address, symbol, (dso).
_FRAME = re.compile(rb"^\s*(\w+)\s*(.+) \((\S*)\)")
_OFFSET = re.compile(rb"\+0x[\da-f]+$")

_HEADER_FENCE = b"# ========"

BODY_CACHE_LIMIT = 20_000
# perf writes a sample's period as an unsigned 64-bit number.
PERIOD_MAX = (1 << 64) - 1
LINE_CACHE_LIMIT = 100_000
TEXT_CACHE_LIMIT = 100_000
PERIOD_CACHE_LIMIT = 4096

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


class ChunkParser:
    """Parses chunks of perf script text that start and end on sample boundaries."""

    def __init__(self, keep_unknown_addresses: bool = False) -> None:
        self.keep_addrs = keep_unknown_addresses
        self.out = PartialParse()
        # (module, kernel address?) -> symbol without offset -> frame id; one dict per module, so
        # that a frame costs no key tuple of its own.
        self._frame_ids: dict[tuple[bytes, bool], dict[bytes, int]] = {}
        # (symbol, module, kernel address?, address) -> frame id: unknown symbols kept by address.
        self._addr_ids: dict[tuple[bytes, bytes, bool, bytes], int] = {}
        self._modules: dict[bytes, bytes] = {}  # one bytes object per module name
        self._line_cache: dict[bytes, int] = {}
        # A frame line's text after its address -> frame id (see _text_id).
        self._text_cache: dict[bytes, int] = {}
        self._via_regex = False  # set by _frame_id_regex: the id may depend on the address
        self._body_cache: dict[bytes, tuple[int, ...] | None] = {}
        # (who, event, strict) -> group id while parsing ("who": the sample line's text from comm
        # to tid); finish() turns them into threads. out.counts holds (group id, frame ids...).
        self._group_ids: dict[tuple[bytes, bytes, bool], int] = {}
        # A period as printed (bytes) or as a number -> one shared int: most samples of a
        # capture have one of a few periods, and a stack seen once keeps just its period.
        self._periods: dict[bytes | int | None, int] = {None: 1}
        self._raw_groups: list[tuple[bytes, bytes, bool]] = []
        # The line the input stops in, when it stops inside one (see feed).
        self._cut_line: int | None = None

    # -- frames -------------------------------------------------------------------------

    def _frame_id(self, line: bytes) -> int:
        """Parse one frame line into an interned frame id, or _BAD if it is not a frame line.
        The common shape "<addr> <symbol>[+0x<off>] (<dso>)" is split with string methods;
        anything else goes through the expression stackcollapse-perf.pl uses."""
        parts = line.split()
        if len(parts) == 3:
            pc, func, mod = parts
            # "<addr> <symbol> (<dso>)", spaced exactly as perf prints it.
            if mod[:1] == b"(" and mod[-1:] == b")" and pc.isalnum() and line.endswith(b" " + func + b" " + mod):
                module = mod[1:-1]
                if b"(" not in module and b")" not in module:
                    return self._intern(pc, _strip_offset(func), module)
        s = line.lstrip()
        sp = s.find(b" ")
        j = s.rfind(b" (")
        if sp > 0 and j > sp and s.endswith(b")"):
            pc = s[:sp]
            module = s[j + 2:-1]
            func = s[sp + 1:j].lstrip()
            if not func or not pc.isalnum() or b" " in module or b"(" in module or b")" in module \
                    or b"\t" in module:
                return self._frame_id_regex(line)
        else:
            return self._frame_id_regex(line)
        return self._intern(pc, _strip_offset(func), module)

    def _frame_id_regex(self, line: bytes) -> int:
        self._via_regex = True
        m = _FRAME.match(line)
        split = _split_balanced(line)
        if split is None:
            if m is None:
                return _BAD
            pc, func, module = m.groups()
            return self._intern(pc, _OFFSET.sub(b"", func), module)
        pc, func, module = split
        func = _OFFSET.sub(b"", func)
        pl = (b"", b"") if m is None else (_OFFSET.sub(b"", m.group(2)), m.group(3))
        return self._intern(pc, func, module, None if pl == (func, module) else pl)

    def _intern(self, pc: bytes, func: bytes, module: bytes, pl: tuple[bytes, bytes] | None = None) -> int:
        # Only an unknown module (or an inlined frame) needs the address to tell kernel from user code.
        kaddr = (module == b"[unknown]" or module == b"inlined") and len(pc) == 16 and pc[:4] == b"ffff" and pc[4] in b"89abcdef"
        module = self._modules.setdefault(module, module)
        if self.keep_addrs and func == b"[unknown]":
            key = (func, module, kaddr, pc)
            fid = self._addr_ids.get(key)
            if fid is None:
                fid = self._addr_ids[key] = len(self.out.frames)
                self.out.frames.append(FrameRec(func, module, kaddr, pc, pl))
            return fid
        by_func = self._frame_ids.get((module, kaddr))
        if by_func is None:
            by_func = self._frame_ids[(module, kaddr)] = {}
        fid = by_func.get(func)
        if fid is None:
            fid = by_func[func] = len(self.out.frames)
            self.out.frames.append(FrameRec(func, module, kaddr, None, pl))
        return fid

    def _line_id(self, line: bytes) -> int:
        fid = self._line_cache.get(line)
        if fid is None:
            if len(self._line_cache) > LINE_CACHE_LIMIT:
                self._line_cache.clear()
            fid = self._quick_frame_id(line)
            if fid is None:
                fid = self._text_id(line)
            self._line_cache[line] = fid
        return fid

    def _text_id(self, line: bytes) -> int:
        """The frame id of a line not in the line cache. An indented frame line is looked up by
        its text after the address ("symbol+0x1f (dso)"), which repeats where addresses do not
        (JIT code, many short-lived processes under ASLR: every line new), so that such input
        costs two string splits and a lookup per line rather than a parse. The address still
        decides what it decides in _intern: whether an unknown symbol is kernel code, and the
        frame itself when unknown addresses are kept."""
        if not line[:1].isspace():
            return _BAD if _HEAD.match(line) else self._frame_id(line)
        pc, sep, key = line.lstrip().partition(b" ")
        if not sep or not pc.isalnum() or (self.keep_addrs and b"[unknown]" in key):
            return self._frame_id(line)
        if (key.endswith(b"([unknown])") or key.endswith(b"(inlined)")) and len(pc) == 16 \
                and pc[:4] == b"ffff" and pc[4] in b"89abcdef":
            key = b"\n" + key  # a kernel address (a frame line never holds a newline)
        fid = self._text_cache.get(key)
        if fid is None:
            self._via_regex = False
            fid = self._frame_id(line)
            # Only the plain splits read a line the same whatever its address; the expression
            # may take part of a malformed address into the symbol.
            if not self._via_regex:
                if len(self._text_cache) > TEXT_CACHE_LIMIT:
                    self._text_cache.clear()
                self._text_cache[key] = fid
        return fid

    def _quick_frame_id(self, line: bytes) -> int | None:
        """A frame line seen before except for its address and offset (the sampled instruction
        moved within the function): found by symbol and module alone. None: parse it."""
        parts = line.split()
        if len(parts) != 3:
            return None
        pc, sym, mod = parts
        # Spaced exactly as perf prints it: indent, address, one space, symbol, one space, (dso).
        if len(line) - len(line.lstrip()) + len(pc) + len(sym) + len(mod) + 2 != len(line):
            return None
        if mod[:1] != b"(" or mod[-1:] != b")":
            return None
        sym = _strip_offset(sym)
        if mod == b"([unknown])" or mod == b"(inlined)":
            if self.keep_addrs:
                return None
            key = (mod[1:-1], len(pc) == 16 and pc[:4] == b"ffff" and pc[4] in b"89abcdef")
        elif self.keep_addrs and sym == b"[unknown]":
            return None
        else:
            key = (mod[1:-1], False)
        by_func = self._frame_ids.get(key)
        return None if by_func is None else by_func.get(sym)

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
                    fid = self._text_id(line)
                    cache[line] = fid
                    ids[i] = fid
        result = None if _BAD in ids else tuple(ids)
        if len(self._body_cache) > BODY_CACHE_LIMIT:
            self._body_cache.clear()
        self._body_cache[body] = result
        return result

    # -- samples ------------------------------------------------------------------------

    def _count(self, head: re.Match[bytes], ids: tuple[int, ...], chunk_index: int, order: int) -> None:
        """Count one sample read by the careful path (full sample-line expression)."""
        comm, pid, tid, _cpu, time, period, event, tail = head.groups()
        event = event or b""
        strict = time is not None and not tail and bool(event)
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
        lines = _LineCounter(chunk, first_line)
        if last and chunk and not chunk.endswith(b"\n"):
            # The input stops inside this line (perf killed, a file cut short): _check_end
            # reports that, so the line is not also reported as malformed.
            self._cut_line = lines.line_at(chunk.rfind(b"\n") + 1)
        if chunk[:1] == b"#" or b"\n#" in chunk:
            self._feed_blocks(chunk, 0, chunk_index, lines)
        else:
            self._feed_fast(chunk, chunk_index, lines)
        if last:
            self._check_end(chunk, lines)

    def _feed_fast(self, chunk: bytes, chunk_index: int, lines: _LineCounter) -> None:
        line_cache = self._line_cache
        body_cache = self._body_cache
        counts = self.out.counts
        group_ids = self._group_ids
        periods = self._periods
        match = _SAMPLE_START.match
        find = chunk.find
        cur_event: bytes | None = None
        cur_strict = False
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
                if leaf < 0 or rest is None:
                    self._feed_blocks(chunk[start:end], start, chunk_index, lines, careful=True)
                    continue
            p = periods.get(period)
            if p is None:
                p = self._period(period)
                if p is None:  # not a 64-bit number: skipped, with a warning, by the careful path
                    self._feed_blocks(chunk[start:end], start, chunk_index, lines, careful=True)
                    continue
            strict = time is not None
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

    def _feed_blocks(self, text: bytes, base: int, chunk_index: int, lines: _LineCounter,
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
                    self._add(who, event, time is not None, time, period, leaf, rest, chunk_index, start)
                    continue
            # Anything unusual (single-line samples, trace output, stray lines): line by line.
            self._slow_block(block, chunk_index, start, lines)

    def _note_times(self, first: float, last: float) -> None:
        out = self.out
        lo, hi = min(first, last), max(first, last)
        out.time_min = lo if out.time_min is None else min(out.time_min, lo)
        out.time_max = hi if out.time_max is None else max(out.time_max, hi)

    def _check_end(self, chunk: bytes, lines: _LineCounter) -> None:
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

    def _slow_block(self, block: bytes, chunk_index: int, start: int, lines: _LineCounter) -> None:
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


def period_value(period: bytes | None) -> int | None:
    """A sample's period as a number (1 when the line has none); None when it is not a 64-bit
    number (a corrupt line), so that the sample is skipped rather than counted with it."""
    if period is None:
        return 1
    digits = period.lstrip(b"0")
    if len(digits) > 20:
        return None
    value = int(digits or b"0")
    return value if value <= PERIOD_MAX else None


def is_sample_line(line: bytes) -> bool:
    """A line that starts a sample, as ChunkParser reads it: "comm [pid/]tid ... event:" unindented,
    or indented with a time stamp and an event (perf pads the process name of a sample printed on
    one line). Frame lines are indented and name no event."""
    if not line or line[:1] == b"\t" or line[:1] == b"#":
        return False
    m = _HEAD.match(line)
    if m is None:
        return False
    return not line[:1].isspace() or bool(m.group("time") and m.group("event"))


def _split_balanced(line: bytes) -> tuple[bytes, bytes, bytes] | None:
    """'<addr> <symbol> (<dso>)' split at the '(' that balances the line's final ')', for DSOs
    with spaces or parentheses in them ("/memfd:jit (deleted)"). None: not that shape."""
    s = line.strip()
    if not s.endswith(b")"):
        return None
    depth = 0
    for i in range(len(s) - 1, 0, -1):
        c = s[i]
        if c == 41:  # ")"
            depth += 1
        elif c == 40:  # "("
            depth -= 1
            if depth == 0:
                break
    else:
        return None
    if s[i - 1] != 32:  # " " before the "("
        return None
    head = s[:i - 1]
    sp = head.find(b" ")
    if sp <= 0:
        return None
    pc, func = head[:sp], head[sp + 1:].strip()
    if not func or not pc.isalnum():
        return None
    return pc, func, s[i + 1:-1]


def _strip_offset(func: bytes) -> bytes:
    """'foo+0x1f' -> 'foo': a trailing symbol offset in lower-case hex goes, as in stackcollapse-perf.pl."""
    k = func.rfind(b"+0x")
    if k > 0:
        off = func[k + 3:]
        if off and not off.strip(b"0123456789abcdef"):
            return func[:k]
    return func


class _LineCounter:
    """Line numbers of byte offsets in a chunk, counted lazily and only forward (warnings are
    rare, so the hot path never counts lines)."""

    def __init__(self, chunk: bytes, first_line: int) -> None:
        self.chunk = chunk
        self.pos = 0
        self.line = first_line

    def line_at(self, offset: int) -> int:
        if offset < self.pos:
            self.pos, self.line = 0, self.line - self.chunk.count(b"\n", 0, self.pos)
        self.line += self.chunk.count(b"\n", self.pos, offset)
        self.pos = offset
        return self.line


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
