"""The lines of `perf script` text: a frame line to an interned frame id, fast (a sample's whole
body of frame lines is looked up first, then each line, then a line's text after its address;
only a line never seen is parsed with a regular expression; the caches are bounded), whether a
line starts a sample, and a sample's period. diagnose.inputs.perf_script reads the samples."""

from __future__ import annotations

import re
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
# The frame line, matched as stackcollapse-perf.pl matches it: address, symbol, (dso).
_FRAME = re.compile(rb"^\s*(\w+)\s*(.+) \((\S*)\)")
_OFFSET = re.compile(rb"\+0x[\da-f]+$")

BODY_CACHE_LIMIT = 20_000
LINE_CACHE_LIMIT = 100_000
TEXT_CACHE_LIMIT = 100_000
# A sample line as the fast paths read it: who (comm [pid/]tid), [cpu], time, period, event.
SAMPLE_LINE = re.compile(rb"(\S[^\n]*?[ \t]+(?:\d+/+)?\d+)[ \t]+(?:\[\d+\][ \t]+)?(?:(\d+\.\d+):[ \t]*)?"
                         rb"(?:(\d+)[ \t]+)?(\S+):[ \t]*")
# Sentinel frame ids in a parsed body.
_BAD = -1
# perf writes a sample's period as an unsigned 64-bit number.
PERIOD_MAX = (1 << 64) - 1


class FrameTable:
    """Frame ids of frame lines, interned: each distinct frame one FrameRec in `frames`."""

    def __init__(self, keep_unknown_addresses: bool = False) -> None:
        self.keep_addrs = keep_unknown_addresses
        self.frames: list[FrameRec] = []
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
                fid = self._addr_ids[key] = len(self.frames)
                self.frames.append(FrameRec(func, module, kaddr, pc, pl))
            return fid
        by_func = self._frame_ids.get((module, kaddr))
        if by_func is None:
            by_func = self._frame_ids[(module, kaddr)] = {}
        fid = by_func.get(func)
        if fid is None:
            fid = by_func[func] = len(self.frames)
            self.frames.append(FrameRec(func, module, kaddr, None, pl))
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


class LineCounter:
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
