"""Feeding perf script text to ChunkParser: chunking on sample boundaries, and using several
processes when the input is large.

A large plain file is cut into byte ranges that start on sample boundaries; each process reads
and parses its own range, so nothing is copied between processes but the (small) results.
A compressed file or a pipe (perf script of a perf.data) is read by this process and handed out
chunk by chunk.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterable, Iterator

from diagnose.inputs.perf_script import ChunkParser, PartialParse, merge
from diagnose.inputs.source import CHUNK_BYTES, GZIP_MAGIC, TruncatedGzip, read_chunks

MAX_JOBS = 8
# Below this size one process is faster than starting others.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024
RANGE_INDEX = 1_000_000  # chunk indexes of range k start at k * RANGE_INDEX (input order)


def sample_chunks(data: Iterable[bytes], chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[bytes, bool]]:
    """Re-cut a byte stream into chunks that end on a blank line (a sample boundary).
    Yields (chunk, is_last)."""
    carry = b""
    pending: bytes | None = None
    for data_piece in data:
        buf = carry + data_piece if carry else data_piece
        if len(buf) < chunk_bytes:
            carry = buf
            continue
        cut = buf.rfind(b"\n\n")
        if cut < 0:
            carry = buf
            continue
        if pending is not None:
            yield pending, False
        pending = buf[: cut + 2]
        carry = buf[cut + 2:]
    if carry:
        if pending is not None:
            yield pending, False
        pending = carry
    if pending is not None:
        yield pending, True


def default_jobs() -> int:
    return max(1, min(MAX_JOBS, os.cpu_count() or 1))


def _parse_serial(chunks: Iterator[tuple[bytes, bool]], keep_addrs: bool, index_base: int = 0,
                  is_final_range: bool = True) -> PartialParse:
    parser = ChunkParser(keep_addrs)
    line = 1
    for i, (chunk, last) in enumerate(chunks):
        parser.feed(chunk, index_base + i, line, last and is_final_range)
        line += chunk.count(b"\n")
    return parser.finish()


# -- several processes on one plain file --------------------------------------------------

def _ranges(path: str, size: int, jobs: int) -> list[tuple[int, int]]:
    """Byte ranges [start, end) that begin right after a blank line."""
    cuts = [0]
    with open(path, "rb") as f:
        for k in range(1, jobs):
            pos = max(cuts[-1], size * k // jobs)
            f.seek(pos)
            window = b""
            found = -1
            while found < 0:
                piece = f.read(1 << 20)
                if not piece:
                    break
                window += piece
                found = window.find(b"\n\n")
            if found < 0:
                break
            cut = pos + found + 2
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


def _range_worker(path: str, start: int, end: int, k: int, final: bool, keep_addrs: bool,
                  results: mp.Queue) -> None:  # pragma: no cover - runs in a child process
    try:
        part = _parse_serial(sample_chunks(_read_range(path, start, end)), keep_addrs, k * RANGE_INDEX, final)
        results.put((k, "ok", part))
    except BaseException as exc:  # report, never leave the parent waiting
        results.put((k, "error", repr(exc)))


def _lines_before(path: str, offset: int) -> int:
    count = 0
    for piece in _read_range(path, 0, offset):
        count += piece.count(b"\n")
    return count


def _parse_ranges(path: str, ranges: list[tuple[int, int]], keep_addrs: bool) -> PartialParse:
    ctx = mp.get_context("fork")
    results: mp.Queue = ctx.Queue()
    last = len(ranges) - 1
    children = [ctx.Process(target=_range_worker, args=(path, a, b, k, k == last, keep_addrs, results), daemon=True)
                for k, (a, b) in enumerate(ranges) if k > 0]
    for c in children:
        c.start()
    try:
        a, b = ranges[0]
        parts = {0: _parse_serial(sample_chunks(_read_range(path, a, b)), keep_addrs, 0, last == 0)}
        for _ in children:
            k, status, payload = results.get()
            if status != "ok":
                raise RuntimeError(f"parser process failed: {payload}")
            parts[k] = payload
    finally:
        for c in children:
            c.join(timeout=5)
            if c.is_alive():
                c.kill()
    ordered = [parts[k] for k in range(len(ranges))]
    # Line numbers in warnings are counted from each range's start: make them absolute.
    for k, part in enumerate(ordered):
        if k and (part.warnings or part.unterminated_line is not None):
            base = _lines_before(path, ranges[k][0])
            for w in part.warnings.values():
                if w.line is not None:
                    w.line += base
            if part.unterminated_line is not None:
                part.unterminated_line += base
    return merge(ordered)


# -- several processes on a stream --------------------------------------------------------

def _stream_worker(tasks: mp.Queue, results: mp.Queue, keep_addrs: bool) -> None:  # pragma: no cover
    parser = ChunkParser(keep_addrs)
    try:
        while True:
            item = tasks.get()
            if item is None:
                break
            chunk, index, first_line, last = item
            parser.feed(chunk, index, first_line, last)
        results.put(("ok", parser.finish()))
    except BaseException as exc:
        results.put(("error", repr(exc)))


def _parse_stream_parallel(chunks: Iterator[tuple[bytes, bool]], first: tuple[bytes, bool], keep_addrs: bool,
                           jobs: int) -> PartialParse:
    ctx = mp.get_context("fork")
    tasks: mp.Queue = ctx.Queue(maxsize=jobs * 2)
    results: mp.Queue = ctx.Queue()
    workers = [ctx.Process(target=_stream_worker, args=(tasks, results, keep_addrs), daemon=True)
               for _ in range(jobs)]
    for w in workers:
        w.start()
    try:
        index, line = 0, 1
        chunk, last = first
        while True:
            tasks.put((chunk, index, line, last))
            if last:
                break
            line += chunk.count(b"\n")
            index += 1
            chunk, last = next(chunks)
        for _ in workers:
            tasks.put(None)
        parts = []
        for _ in workers:
            status, payload = results.get()
            if status != "ok":
                raise RuntimeError(f"parser process failed: {payload}")
            parts.append(payload)
    finally:
        for w in workers:
            w.join(timeout=5)
            if w.is_alive():
                w.kill()
    return merge(parts)


def parse_chunks(data: Iterable[bytes], keep_unknown_addresses: bool = False,
                 jobs: int | None = None) -> tuple[PartialParse, bool]:
    """Parse perf script text given as a stream of byte pieces. Returns (result, gzip_truncated)."""
    jobs = default_jobs() if jobs is None else max(1, jobs)
    truncated = False

    def guarded(it: Iterable[bytes]) -> Iterator[bytes]:
        nonlocal truncated
        try:
            yield from it
        except TruncatedGzip:
            truncated = True

    chunks = sample_chunks(guarded(data))
    first = next(chunks, None)
    if first is None:
        return PartialParse(), truncated
    if first[1] or jobs == 1:
        def all_chunks() -> Iterator[tuple[bytes, bool]]:
            yield first
            yield from chunks
        return _parse_serial(all_chunks(), keep_unknown_addresses), truncated
    return _parse_stream_parallel(chunks, first, keep_unknown_addresses, jobs), truncated


def parse_file(path: str, keep_unknown_addresses: bool = False, jobs: int | None = None) -> tuple[PartialParse, bool]:
    """Parse a perf script text file: in byte ranges across processes when it is large and
    uncompressed, else as a stream."""
    jobs = default_jobs() if jobs is None else max(1, jobs)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            compressed = f.read(2) == GZIP_MAGIC
    except OSError:
        size, compressed = 0, True
    if jobs > 1 and not compressed and size >= PARALLEL_MIN_BYTES and os.path.isfile(path):
        ranges = _ranges(path, size, jobs)
        if len(ranges) > 1:
            return _parse_ranges(path, ranges, keep_unknown_addresses), False
    return parse_chunks(read_chunks(path), keep_unknown_addresses, jobs)
