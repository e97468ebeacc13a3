"""perf script text cut into chunks that start and end on sample boundaries, whatever pieces it
arrives in (a file read in blocks, a gzip stream, perf script's pipe); a sample too long to keep
is cut with a warning. diagnose.inputs.perf_reader hands the chunks to the parsers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from diagnose.inputs.perf_script import is_sample_line
from diagnose.inputs.source import CHUNK_BYTES


# A sample longer than this (a call chain of hundreds of thousands of frames, or a line that never
# ends) is cut: the part up to here (perf prints the innermost frames first) is parsed, the rest is
# skipped with a warning. What the chunker carries between pieces never exceeds it.
MAX_SAMPLE_BYTES = 32 * 1024 * 1024
# How far back from the end of a buffer a sample line is looked for when no blank line ends a sample
# there (samples printed on one line each, without call chains).
SCAN_BYTES = 256 * 1024


def _last_sample_start(buf: bytes, lo: int) -> int:
    """The offset of the last complete line in buf[lo:] (within SCAN_BYTES of the end) that starts
    a sample, or -1."""
    end = buf.rfind(b"\n")
    floor = max(lo, len(buf) - SCAN_BYTES)
    if floor > lo:
        floor = buf.find(b"\n", floor - 1) + 1  # a whole line
    while end >= floor and end > 0:
        start = buf.rfind(b"\n", floor, end) + 1
        if start <= 0:
            start = floor
        if is_sample_line(buf[start:end]):
            return start
        end = start - 1
    return -1


def sample_boundary(buf: bytes) -> int:
    """The end of the last complete sample in buf (an offset where a sample starts), 0 if none:
    after the last blank line, or before the last sample line that follows it (samples without
    call chains are not separated by blank lines)."""
    b = buf.rfind(b"\n\n")
    lo = b + 2 if b >= 0 else 0
    s = _last_sample_start(buf, lo)
    return s if s > lo else lo


def first_sample_boundary(buf: bytes) -> int:
    """The first offset in buf (after its first line) where a sample starts, -1 if none: after
    the first blank line or at the first sample line, whichever comes first."""
    b = buf.find(b"\n\n")
    limit = len(buf) if b < 0 else b + 2
    pos = buf.find(b"\n") + 1
    while 0 < pos < limit:
        nl = buf.find(b"\n", pos)
        if nl < 0:
            break
        if is_sample_line(buf[pos:nl]):
            return pos
        pos = nl + 1
    return b + 2 if b >= 0 else -1


class SampleChunker:
    """Re-cuts a byte stream into chunks that end on sample boundaries: after a blank line (perf
    ends a sample that has a call chain with one) or before a sample line (samples printed on one
    line each, as `perf record` without -g gives, follow each other without blank lines).

    The carry (the unfinished sample held back for the next chunk) is bounded: a sample longer
    than max_sample_bytes is cut at a line boundary, its first part (the innermost frames) is
    parsed and the rest skipped up to the next sample; `cut_samples`, `skipped_lines` and
    `first_cut_line` say what was dropped, `max_carry` the largest carry held."""

    def __init__(self, chunk_bytes: int = CHUNK_BYTES, max_sample_bytes: int = MAX_SAMPLE_BYTES) -> None:
        self.chunk_bytes = chunk_bytes
        self.max_sample_bytes = max(max_sample_bytes, chunk_bytes)
        self.max_carry = 0
        self.cut_samples = 0
        self.skipped_lines = 0
        self.first_cut_line: int | None = None
        self._line = 1  # line number of the next byte handed out or skipped

    def chunks(self, data: Iterable[bytes]) -> Iterator[tuple[bytes, bool, int]]:
        """Yields (chunk, is_last, line number of the chunk's first line)."""
        carry = b""
        pending: tuple[bytes, int] | None = None
        skipping = mid_line = False
        for piece in data:
            if skipping:
                carry, skipping, mid_line = self._skip(carry + piece if carry else piece, mid_line)
                if skipping:
                    continue  # carry: a partial line, judged when whole
                piece, carry = carry, b""
            buf = carry + piece if carry else piece
            carry = b""
            cut = sample_boundary(buf) if len(buf) >= self.chunk_bytes else 0
            if cut == 0 and len(buf) > self.max_sample_bytes:
                # One sample longer than the bound: parse its whole lines so far, skip the rest.
                cut = buf.rfind(b"\n") + 1
                self.cut_samples += 1
                if self.first_cut_line is None:
                    self.first_cut_line = self._line
                carry, skipping, mid_line = self._skip(buf[cut:], False)
                if cut:
                    if pending is not None:
                        yield pending[0], False, pending[1]
                    pending = (buf[:cut], self._line)
                    self._line += pending[0].count(b"\n")
                if not skipping:
                    buf, cut = carry, 0  # the next sample starts in this buffer
                else:
                    self.max_carry = max(self.max_carry, len(carry))
                    continue
            if cut:
                if pending is not None:
                    yield pending[0], False, pending[1]
                pending = (buf[:cut], self._line)
                self._line += pending[0].count(b"\n")
            carry = buf[cut:]
            self.max_carry = max(self.max_carry, len(carry))
        if carry and not skipping:
            if pending is not None:
                yield pending[0], False, pending[1]
            pending = (carry, self._line)
        if pending is not None:
            yield pending[0], True, pending[1]

    def _skip(self, piece: bytes, mid_line: bool) -> tuple[bytes, bool, bool]:
        """Drop the rest of a cut sample from `piece`: (what follows it, still skipping, mid-line)."""
        pos = 0
        if mid_line:
            nl = piece.find(b"\n")
            if nl < 0:
                return b"", True, True
            pos = nl + 1
            self.skipped_lines += 1
            self._line += 1
        while pos < len(piece):
            nl = piece.find(b"\n", pos)
            if nl < 0:
                if len(piece) - pos > 4096:  # a partial line too long to be a sample line
                    return b"", True, True
                return piece[pos:], True, False  # judged when whole, with the next piece
            line = piece[pos:nl]
            if not line.strip() or is_sample_line(line):
                return piece[pos:], False, False
            self.skipped_lines += 1
            self._line += 1
            pos = nl + 1
        return b"", True, False


def sample_chunks(data: Iterable[bytes], chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[bytes, bool]]:
    """Re-cut a byte stream into chunks that end on sample boundaries (see SampleChunker).
    Yields (chunk, is_last)."""
    for chunk, last, _line in SampleChunker(chunk_bytes).chunks(data):
        yield chunk, last
