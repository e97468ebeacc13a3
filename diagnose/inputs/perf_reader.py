"""Feeding perf script text to ChunkParser: chunking on sample boundaries, and using several
processes when the input is large."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterable, Iterator

from diagnose.inputs.perf_script import ChunkParser, PartialParse, merge
from diagnose.inputs.source import CHUNK_BYTES, TruncatedGzip

MAX_JOBS = 8


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


def _worker(tasks: mp.Queue, results: mp.Queue, keep_addrs: bool) -> None:  # pragma: no cover - child process
    parser = ChunkParser(keep_addrs)
    try:
        while True:
            item = tasks.get()
            if item is None:
                break
            chunk, index, first_line, last = item
            parser.feed(chunk, index, first_line, last)
        results.put(("ok", parser.out))
    except BaseException as exc:  # report, never hang the parent
        results.put(("error", repr(exc)))


class TruncatedInput(Exception):
    """Raised inside parse_chunks' result to tell the caller the compressed input ended early."""


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
    line = 1
    first = next(chunks, None)
    if first is None:
        return PartialParse(), truncated
    chunk, last = first
    if last or jobs == 1:
        parser = ChunkParser(keep_unknown_addresses)
        index = 0
        while True:
            parser.feed(chunk, index, line, last)
            if last:
                break
            line += chunk.count(b"\n")
            index += 1
            chunk, last = next(chunks)
        return parser.out, truncated

    ctx = mp.get_context("fork")
    tasks: mp.Queue = ctx.Queue(maxsize=jobs * 2)
    results: mp.Queue = ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(tasks, results, keep_unknown_addresses), daemon=True)
               for _ in range(jobs)]
    for w in workers:
        w.start()
    try:
        index = 0
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
    return merge(parts), truncated
