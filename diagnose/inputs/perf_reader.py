"""Feeding perf script text to ChunkParser: chunking on sample boundaries, and using several
processes when the input is large.

A large plain file is cut into byte ranges that start on sample boundaries; each process reads
and parses its own range, so nothing is copied between processes but the (small) results.
A compressed file or a pipe (perf script of a perf.data) is read by this process and handed out
chunk by chunk.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import pickle
import queue
import tempfile
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from diagnose.inputs.perf_script import ChunkParser, PartialParse, Warning_, is_sample_line, merge
from diagnose.inputs.safe_interrupt import InterruptAtSafePoints
from diagnose.inputs.source import CHUNK_BYTES, GZIP_MAGIC, TruncatedGzip, read_chunks

MAX_JOBS = 8
# Below this size one process is faster than starting others.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024
RANGE_INDEX = 1_000_000  # chunk indexes of range k start at k * RANGE_INDEX (input order)


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


def default_jobs() -> int:
    return max(1, min(MAX_JOBS, os.cpu_count() or 1))


def _parse_serial(data: Iterable[bytes], keep_addrs: bool, index_base: int = 0,
                  is_final_range: bool = True) -> PartialParse:
    parser = ChunkParser(keep_addrs)
    chunker = SampleChunker()
    for i, (chunk, last, line) in enumerate(chunker.chunks(data)):
        parser.feed(chunk, index_base + i, line, last and is_final_range)
    out = parser.finish()
    note_cut_samples(out, chunker)
    return out


def note_cut_samples(out: PartialParse, chunker: SampleChunker) -> None:
    """A warning for the samples the chunker cut (longer than its bound)."""
    if not chunker.cut_samples:
        return
    n = chunker.cut_samples
    mb = f"{chunker.max_sample_bytes / (1 << 20):g}"
    message = (f"the outer part of {n} sample{'s' if n > 1 else ''} longer than {mb} MB "
               f"({chunker.skipped_lines:,} lines): only the innermost frames up to there were analysed")
    out.warnings["long-sample"] = Warning_("long-sample", message, chunker.first_cut_line)


# -- several processes on one plain file --------------------------------------------------

def _ranges(path: str, size: int, jobs: int) -> list[tuple[int, int]]:
    """Byte ranges [start, end) that begin where a sample begins (see first_sample_boundary);
    no more than MAX_SAMPLE_BYTES is read to find one."""
    cuts = [0]
    with open(path, "rb") as f:
        for k in range(1, jobs):
            pos = max(cuts[-1], size * k // jobs)
            f.seek(pos)
            pieces: list[bytes] = []
            found = -1
            read = 0
            while found < 0 and read < MAX_SAMPLE_BYTES:
                piece = f.read(1 << 20)
                if not piece:
                    break
                pieces.append(piece)
                read += len(piece)
                found = first_sample_boundary(b"".join(pieces) if len(pieces) > 1 else piece)
            if found < 0:
                continue
            cut = pos + found
            if cut >= size:
                break
            cuts.append(cut)
    cuts.append(size)
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


def _read_range(path: str, start: int, end: int) -> Iterator[bytes]:
    with open(path, "rb") as f:
        f.seek(start)
        left = end - start
        while left > 0:
            piece = f.read(min(CHUNK_BYTES, left))
            if not piece:
                return
            left -= len(piece)
            yield piece


# Stacks and frames are handed over in pickles of this many: one pickle of a whole part keeps
# a memo entry per object it writes (80 MB for 500,000 stacks), a batch's memo is small.
HAND_OVER_BATCH = 20_000


def _hand_over(part: PartialParse, spill: BinaryIO) -> None:  # pragma: no cover - runs in a child process
    """A worker's result, written to the (unnamed, on disk) file its parent opened for it: the
    worker then exits and its memory is gone before the parent reads the result back piece by
    piece. Through a pipe, the worker's copy, the pickled bytes and the parent's copy would all
    be held at once."""
    frames, counts = part.frames, part.counts
    part.frames, part.counts = [], {}
    dump = pickle.Pickler(spill, protocol=pickle.HIGHEST_PROTOCOL).dump
    dump((part, len(frames), len(counts)))
    for i in range(0, len(frames), HAND_OVER_BATCH):
        pickle.dump(frames[i:i + HAND_OVER_BATCH], spill, protocol=pickle.HIGHEST_PROTOCOL)
    batch: list[tuple[tuple[int, ...], object]] = []
    for item in counts.items():  # in input order
        batch.append(item)
        if len(batch) == HAND_OVER_BATCH:
            pickle.dump(batch, spill, protocol=pickle.HIGHEST_PROTOCOL)
            batch = []
    if batch:
        pickle.dump(batch, spill, protocol=pickle.HIGHEST_PROTOCOL)
    spill.flush()


def _summary(part: PartialParse) -> PartialParse:
    """What a part says besides its stacks (events, header, warnings, times): small, so that
    it travels through the result queue while the stacks wait in the spill file."""
    return PartialParse(events=part.events, header=part.header, warnings=part.warnings,
                        unterminated_line=part.unterminated_line, time_min=part.time_min, time_max=part.time_max)


def _take_over(spill: BinaryIO) -> PartialParse:
    spill.seek(0)
    part, n_frames, n_counts = pickle.load(spill)
    frames: list = []
    while len(frames) < n_frames:
        frames.extend(pickle.load(spill))
    counts: dict = {}
    while len(counts) < n_counts:
        counts.update(pickle.load(spill))
    part.frames, part.counts = frames, counts
    spill.close()
    return part


def _range_worker(path: str, start: int, end: int, k: int, final: bool, keep_addrs: bool,
                  results: mp.Queue, spill: BinaryIO) -> None:  # pragma: no cover - runs in a child process
    try:
        part = _parse_serial(_read_range(path, start, end), keep_addrs, k * RANGE_INDEX, final)
        _hand_over(part, spill)
        results.put((k, "ok", _summary(part)))
    except BaseException as exc:  # report, never leave the parent waiting
        results.put((k, "error", repr(exc)))


def _lines_before(path: str, offset: int) -> int:
    count = 0
    for piece in _read_range(path, 0, offset):
        count += piece.count(b"\n")
    return count


def _parse_ranges(path: str, ranges: list[tuple[int, int]], keep_addrs: bool) -> PartialParse:
    _, parts = _parse_ranges_lazily(path, ranges, keep_addrs)
    return merge(list(parts))


def _parse_ranges_lazily(path: str, ranges: list[tuple[int, int]],
                         keep_addrs: bool) -> tuple[PartialParse, Iterator[PartialParse]]:
    """The ranges parsed in parallel: (what all of them say besides their stacks, merged; the
    parts in order, each read back from its spill file only when the one before is done with).
    A caller that folds part by part never holds two parts' stacks, nor a merged copy."""
    ctx = mp.get_context("fork")
    results: mp.Queue = ctx.Queue()
    last = len(ranges) - 1
    spills = {k: tempfile.TemporaryFile() for k in range(1, len(ranges))}
    children = {k: ctx.Process(target=_range_worker, args=(path, a, b, k, k == last, keep_addrs, results, spills[k]),
                               daemon=True)
                for k, (a, b) in enumerate(ranges) if k > 0}
    for c in children.values():
        c.start()
    try:
        a, b = ranges[0]
        first = _parse_serial(_read_range(path, a, b), keep_addrs, 0, last == 0)
        summaries = {0: _summary(first)}
        for _ in children:
            k, status, payload = results.get()
            if status != "ok":
                raise RuntimeError(f"parser process failed: {payload}")
            children[k].join()  # its memory is gone before its result is read
            summaries[k] = payload
    except BaseException:
        for c in children.values():
            c.kill()  # interrupted or failed: their results are not wanted
        for f in spills.values():
            f.close()
        raise
    finally:
        for c in children.values():
            c.join(timeout=5)
            if c.is_alive():
                c.kill()
    # Line numbers in warnings are counted from each range's start: make them absolute.
    for k in range(1, len(ranges)):
        part = summaries[k]
        if part.warnings or part.unterminated_line is not None:
            base = _lines_before(path, ranges[k][0])
            for w in part.warnings.values():
                if w.line is not None:
                    w.line += base
            if part.unterminated_line is not None:
                part.unterminated_line += base
    merged = merge([_summary(summaries[k]) for k in range(len(ranges))])

    def parts() -> Iterator[PartialParse]:
        nonlocal first
        try:
            yield first
            first = None  # type: ignore[assignment]
            for k in range(1, len(ranges)):
                part = _take_over(spills[k])
                # Its own summary, with the line numbers made absolute above.
                meta = summaries[k]
                part.warnings, part.unterminated_line = meta.warnings, meta.unterminated_line
                yield part
        finally:
            for f in spills.values():
                f.close()
    return merged, parts()


# -- several processes on a stream --------------------------------------------------------

def _stream_worker(tasks: mp.Queue, results: mp.Queue, keep_addrs: bool, k: int,
                   spill: BinaryIO) -> None:  # pragma: no cover
    parser = ChunkParser(keep_addrs)
    try:
        while True:
            item = tasks.get()
            if item is None:
                break
            chunk, index, first_line, last = item
            parser.feed(chunk, index, first_line, last)
        _hand_over(parser.finish(), spill)
        results.put((k, "ok", None))
    except BaseException as exc:
        results.put((k, "error", repr(exc)))


def _parse_stream_parallel(chunks: Iterator[tuple[bytes, bool, int]], first: tuple[bytes, bool, int],
                           keep_addrs: bool, jobs: int) -> PartialParse:
    # A Ctrl-C is raised only between queue operations (see safe_interrupt): one inside
    # tasks.put() would leave the queue's lock taken and the process hanging at exit. Every wait
    # is short so that the Ctrl-C is seen (the workers, which get it too, stop consuming).
    with InterruptAtSafePoints() as ctrl_c:
        ctx = mp.get_context("fork")
        tasks: mp.Queue = ctx.Queue(maxsize=jobs * 2)
        results: mp.Queue = ctx.Queue()
        spills = [tempfile.TemporaryFile() for _ in range(jobs)]
        workers = [ctx.Process(target=_stream_worker, args=(tasks, results, keep_addrs, k, spills[k]), daemon=True)
                   for k in range(jobs)]
        for w in workers:
            w.start()
        try:
            index = 0
            chunk, last, line = first
            while True:
                _put(tasks, (chunk, index, line, last), ctrl_c)
                if last:
                    break
                index += 1
                chunk, last, line = next(chunks)
                ctrl_c.check()
            for _ in workers:
                _put(tasks, None, ctrl_c)
            parts = []
            for _ in workers:
                k, status, payload = _get(results, ctrl_c)
                if status != "ok":
                    raise RuntimeError(f"parser process failed: {payload}")
                workers[k].join()
                parts.append(_take_over(spills[k]))
        except BaseException:
            # Interrupted or failed: the workers hold nothing worth waiting for.
            for w in workers:
                w.kill()
            tasks.cancel_join_thread()  # what is still queued for them is dropped
            raise
        finally:
            for w in workers:
                w.join(timeout=5)
                if w.is_alive():
                    w.kill()
            for f in spills:
                f.close()
    return merge(parts)


QUEUE_WAIT_S = 0.2


def _put(q: mp.Queue, item: object, ctrl_c: InterruptAtSafePoints) -> None:
    while True:
        ctrl_c.check()
        try:
            q.put(item, timeout=QUEUE_WAIT_S)
            return
        except queue.Full:
            continue


def _get(q: mp.Queue, ctrl_c: InterruptAtSafePoints) -> tuple:
    while True:
        ctrl_c.check()
        try:
            return q.get(timeout=QUEUE_WAIT_S)
        except queue.Empty:
            continue


def parse_chunks(data: Iterable[bytes], keep_unknown_addresses: bool = False,
                 jobs: int | None = None, chunk_bytes: int | None = None) -> tuple[PartialParse, bool]:
    """Parse perf script text given as a stream of byte pieces, in chunks of about chunk_bytes
    (None: SampleChunker's default). Returns (result, gzip_truncated)."""
    jobs = default_jobs() if jobs is None else max(1, jobs)
    truncated = False

    def guarded(it: Iterable[bytes]) -> Iterator[bytes]:
        nonlocal truncated
        try:
            yield from it
        except TruncatedGzip:
            truncated = True

    chunker = SampleChunker() if chunk_bytes is None else SampleChunker(chunk_bytes)
    chunks = chunker.chunks(guarded(data))
    first = next(chunks, None)
    if first is None:
        return PartialParse(), truncated
    if first[1] or jobs == 1:
        parser = ChunkParser(keep_unknown_addresses)
        for i, (chunk, last, line) in enumerate(itertools.chain([first], chunks)):
            parser.feed(chunk, i, line, last)
        out = parser.finish()
    else:
        out = _parse_stream_parallel(chunks, first, keep_unknown_addresses, jobs)
    note_cut_samples(out, chunker)
    return out, truncated


def _byte_ranges(path: str, jobs: int) -> list[tuple[int, int]] | None:
    """Byte ranges for parser processes when the file is large, uncompressed and a regular
    file; None when it is read as one stream."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            compressed = f.read(2) == GZIP_MAGIC
    except OSError:
        return None
    if jobs > 1 and not compressed and size >= PARALLEL_MIN_BYTES and os.path.isfile(path):
        ranges = _ranges(path, size, jobs)
        if len(ranges) > 1:
            return ranges
    return None


def parse_file_in_parts(path: str, keep_unknown_addresses: bool = False,
                        jobs: int | None = None) -> tuple[PartialParse, Iterator[PartialParse]] | None:
    """A large uncompressed perf script file parsed across processes, for a caller that can take
    it part by part (collapse): (the parts' events, header and warnings merged; the parts). None
    when the file is parsed as one stream (small, compressed, one job): use parse_file."""
    ranges = _byte_ranges(path, default_jobs() if jobs is None else max(1, jobs))
    return None if ranges is None else _parse_ranges_lazily(path, ranges, keep_unknown_addresses)


def parse_file(path: str, keep_unknown_addresses: bool = False, jobs: int | None = None) -> tuple[PartialParse, bool]:
    """Parse a perf script text file: in byte ranges across processes when it is large and
    uncompressed, else as a stream."""
    jobs = default_jobs() if jobs is None else max(1, jobs)
    ranges = _byte_ranges(path, jobs)
    if ranges is not None:
        return _parse_ranges(path, ranges, keep_unknown_addresses), False
    return parse_chunks(read_chunks(path), keep_unknown_addresses, jobs)
