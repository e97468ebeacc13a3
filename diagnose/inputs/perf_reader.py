"""Feeding perf script text to ChunkParser in chunks cut on sample boundaries
(diagnose.inputs.perf_chunks), using several processes when the input is large.

A large plain file is cut into byte ranges that start on sample boundaries; each process reads
and parses its own range, so nothing is copied between processes but the (small) results.
A compressed file or a pipe (perf script of a perf.data) is read by this process and handed out
chunk by chunk.
"""

from __future__ import annotations

import itertools
import os
import pickle
import tempfile
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, BinaryIO

from diagnose.inputs.perf_chunks import (MAX_SAMPLE_BYTES, SCAN_BYTES, SampleChunker, first_sample_boundary,  # noqa: F401
                                         sample_boundary, sample_chunks)
from diagnose.inputs.perf_script import ChunkParser, PartialParse, Warning_, merge
from diagnose.inputs.safe_interrupt import InterruptAtSafePoints, get_when_safe, put_when_safe
from diagnose.inputs.source import CHUNK_BYTES, GZIP_MAGIC, TruncatedGzip, read_chunks

if TYPE_CHECKING:
    import multiprocessing as mp

MAX_JOBS = 8
# Below this size one process is faster than starting others.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024
RANGE_INDEX = 1_000_000  # chunk indexes of range k start at k * RANGE_INDEX (input order)


def default_jobs() -> int:
    return max(1, min(MAX_JOBS, os.cpu_count() or 1))


def stream_jobs() -> int:
    """Parsers for perf script's text streamed from a perf.data: perf itself keeps a core busy,
    the parse takes the others (on 2 CPUs: the reading process alone, no workers to feed)."""
    return max(1, default_jobs() - 1)


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
    import multiprocessing as mp  # loaded only when workers are started

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

def _stream_worker(tasks: mp.Queue, results: mp.Queue, keep_addrs: bool, k: int, spill: BinaryIO,
                   sample_times: tuple[float, float] | None) -> None:  # pragma: no cover
    parser = ChunkParser(keep_addrs, sample_times)
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
                           keep_addrs: bool, jobs: int, sample_times: tuple[float, float] | None) -> PartialParse:
    # A Ctrl-C is raised only between queue operations (see safe_interrupt): one inside
    # tasks.put() would leave the queue's lock taken and the process hanging at exit. Every wait
    # is short so that the Ctrl-C is seen (the workers, which get it too, stop consuming).
    import multiprocessing as mp  # loaded only when workers are started

    with InterruptAtSafePoints() as ctrl_c:
        ctx = mp.get_context("fork")
        tasks: mp.Queue = ctx.Queue(maxsize=jobs * 2)
        results: mp.Queue = ctx.Queue()
        spills = [tempfile.TemporaryFile() for _ in range(jobs)]
        workers = [ctx.Process(target=_stream_worker, daemon=True,
                               args=(tasks, results, keep_addrs, k, spills[k], sample_times)) for k in range(jobs)]
        for w in workers:
            w.start()
        try:
            index = 0
            chunk, last, line = first
            while True:
                put_when_safe(tasks, (chunk, index, line, last), ctrl_c)
                if last:
                    break
                index += 1
                chunk, last, line = next(chunks)
                ctrl_c.check()
            for _ in workers:
                put_when_safe(tasks, None, ctrl_c)
            parts = []
            for _ in workers:
                k, status, payload = get_when_safe(results, ctrl_c)
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




def parse_chunks(data: Iterable[bytes], keep_unknown_addresses: bool = False, jobs: int | None = None,
                 chunk_bytes: int | None = None,
                 sample_times: tuple[float, float] | None = None) -> tuple[PartialParse, bool]:
    """Parse perf script text given as a stream of byte pieces, in chunks of about chunk_bytes
    (None: SampleChunker's default); sample_times for text printed without time stamps (see
    ChunkParser). Returns (result, gzip_truncated)."""
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
        parser = ChunkParser(keep_unknown_addresses, sample_times)
        for i, (chunk, last, line) in enumerate(itertools.chain([first], chunks)):
            parser.feed(chunk, i, line, last)
        out = parser.finish()
    else:
        out = _parse_stream_parallel(chunks, first, keep_unknown_addresses, jobs, sample_times)
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
