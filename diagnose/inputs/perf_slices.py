"""Reading a perf.data with several `perf script` processes, one per time slice of the recording,
each parsed as it streams: perf script's own work (most of the time of reading a perf.data) is
spread over the CPUs instead of one.

The slices: the recording's first and last sample times (read from its header, perf_header)
cut into equal spans; slice k runs `perf script --time A,B`, whose bounds perf takes as
inclusive and exact to the nanosecond, so the slices' bounds are consecutive nanoseconds
(`,T1`, `T1+1ns,T2`, ..., `Tn+1ns,`): no sample is in two slices nor lost, and the slices' texts
put end to end are perf script's whole text (perf prints samples in time order; only the first
slice prints the header). Each slice's perf starts anew (symbols,
and the events that are not samples, mmap and comm, up to its slice's end): about 0.1 CPU
second each on a 7 MB recording, so a small recording is read as one stream.

Each slice keeps two CPUs busy (its perf script and its parser): on 2 CPUs the slices only add
work and one stream is kept; with 4 or more usable CPUs (or --jobs N) the read takes about the
longest slice's time instead of the whole.

Slice 0 is parsed by this process; each other slice by a forked process that runs its own perf
script and hands its result over in a file (perf_reader's _hand_over), as the byte ranges of a
large perf script text file are. Each slice's perf exit status is kept: the first that failed
(in slice order) is the one told.
"""

from __future__ import annotations

import signal
import sys
import tempfile
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, BinaryIO

from diagnose.core.errors import DiagnoseError
from diagnose.inputs.perf_data import STREAM_CHUNK_BYTES, PerfScriptExit, stream_perf_script, untimed_first
from diagnose.inputs.perf_header import sample_times_ns
from diagnose.inputs.perf_reader import RANGE_INDEX, SampleChunker, _hand_over, _summary, _take_over, note_cut_samples
from diagnose.inputs.perf_script import ChunkParser, PartialParse, merge
from diagnose.inputs.perf_slice_plan import SLICE_MIN_BYTES, planned_slices
from diagnose.inputs.safe_interrupt import InterruptAtSafePoints, get_when_safe

if TYPE_CHECKING:
    import multiprocessing as mp

NS = 1_000_000_000


def sample_time_span(path: str) -> tuple[int, int] | None:
    """The first and last sample times of a recording (nanoseconds, from its header), or None
    when its header does not say (see perf_header) or they are one."""
    span = sample_times_ns(path)
    return span if span is not None and span[1] > span[0] else None


def _seconds(ns: int) -> str:
    return f"{ns // NS}.{ns % NS:09d}"


def time_ranges(first: int, last: int, n: int) -> list[str]:
    """perf script `--time` arguments for n slices of [first, last] (nanoseconds): open at both
    ends (the header's times are rounded to the microsecond), consecutive nanoseconds between."""
    cuts = [first + (last - first) * k // n for k in range(1, n)]
    bounds = [""] + [_seconds(c) for c in cuts]
    after = [""] + [_seconds(c + 1) for c in cuts]
    return [f"{after[k]},{bounds[k + 1] if k + 1 < n else ''}" for k in range(n)]


def slices_for(path: str, jobs: int | None = None, min_bytes: int = SLICE_MIN_BYTES) -> list[str] | None:
    """The time slices to read `path` in (jobs of them when given: one parser process each), or
    None to read it as one stream (fewer than 2 * CPUS_PER_SLICE usable CPUs, a recording under
    min_bytes, a header without sample times)."""
    n = planned_slices(path, jobs, min_bytes)
    if n < 2:
        return None
    span = sample_time_span(path)
    return None if span is None else time_ranges(span[0], span[1], n)


class _Lines:
    """Counts the lines of a stream as it passes (for absolute line numbers in warnings)."""

    def __init__(self, data: Iterable[bytes]) -> None:
        self.data = data
        self.count = 0

    def __iter__(self) -> Iterator[bytes]:
        for piece in self.data:
            self.count += piece.count(b"\n")
            yield piece


def _parse_slice(path: str, time_range: str, k: int, keep_addrs: bool, status: PerfScriptExit,
                 times: tuple[float, float] | None,
                 ctrl_c: InterruptAtSafePoints | None = None) -> tuple[PartialParse, int]:
    """One slice's parse and the number of lines of its text (without time stamps when `times`
    gives the recording's first and last, see perf_data.sample_times)."""
    stream = stream_perf_script(path, status, time_range, header=k == 0, times=times is None)
    lines = _Lines(stream)
    parser = ChunkParser(keep_addrs, times)
    chunker = SampleChunker(STREAM_CHUNK_BYTES)
    try:
        for i, (chunk, last, line) in enumerate(chunker.chunks(lines)):
            parser.feed(chunk, k * RANGE_INDEX + i, line, last)
            if ctrl_c is not None:
                ctrl_c.check()
    finally:
        stream.close()  # stopped early (Ctrl-C, an error): its perf script is ended now
    out = parser.finish()
    note_cut_samples(out, chunker)
    return out, lines.count


def _slice_worker(path: str, time_range: str, k: int, keep_addrs: bool, times: tuple[float, float] | None,
                  results: mp.Queue,
                  spill: BinaryIO) -> None:  # pragma: no cover - runs in a child process
    # Stopped by the parent (SIGTERM, also on Ctrl-C, which the parent alone handles): leave
    # through the stream's cleanup, which ends its perf script.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
    status = PerfScriptExit()
    try:
        part, n_lines = _parse_slice(path, time_range, k, keep_addrs, status, times)
        _hand_over(part, spill)
        results.put((k, "ok", (_summary(part), n_lines, status)))
    except DiagnoseError as exc:
        results.put((k, "input", str(exc)))
    except BaseException as exc:  # report, never leave the parent waiting
        results.put((k, "error", repr(exc)))


def parse_sliced(path: str, ranges: list[str], keep_addrs: bool, status: PerfScriptExit) -> PartialParse:
    """The perf.data's samples read by one perf script per time range, parsed concurrently and
    merged in slice order; `status` gets the first failed slice's exit (or the last's success).
    Without time stamps when the recording allows (perf_data.untimed_first)."""
    return untimed_first(path, status, lambda st, times: (_parse_sliced(path, ranges, keep_addrs, st, times), None))[0]


def _parse_sliced(path: str, ranges: list[str], keep_addrs: bool, status: PerfScriptExit,
                  times: tuple[float, float] | None) -> PartialParse:
    """The perf.data's samples read by one perf script per time range, parsed concurrently and
    merged in slice order; `status` gets the first failed slice's exit (or the last's success)."""
    import multiprocessing as mp  # loaded only when slices are read

    ctx = mp.get_context("fork")
    results: mp.Queue = ctx.Queue()
    spills = {k: tempfile.TemporaryFile() for k in range(1, len(ranges))}
    workers = {k: ctx.Process(target=_slice_worker, args=(path, ranges[k], k, keep_addrs, times, results, spills[k]),
                              daemon=True) for k in range(1, len(ranges))}
    statuses: dict[int, PerfScriptExit] = {0: PerfScriptExit()}
    summaries: dict[int, tuple[PartialParse, int]] = {}
    # A Ctrl-C is raised between chunks and between waits (see safe_interrupt); the workers are
    # then stopped, each ending its perf script.
    with InterruptAtSafePoints() as ctrl_c:
        for w in workers.values():
            w.start()
        try:
            summaries[0] = _parse_slice(path, ranges[0], 0, keep_addrs, statuses[0], times, ctrl_c)
            failure: str | None = None
            for _ in workers:
                k, kind, payload = get_when_safe(results, ctrl_c)
                workers[k].join()
                if kind == "ok":
                    meta, n_lines, statuses[k] = payload
                    summaries[k] = (meta, n_lines)
                elif kind == "input":
                    failure = failure or payload
                else:
                    raise RuntimeError(f"perf script slice {k} failed: {payload}")
            if failure is not None:
                raise DiagnoseError(failure)
        except BaseException:
            _stop(workers.values())
            for f in spills.values():
                f.close()
            raise
        finally:
            _stop(workers.values())
    parts = [summaries[0][0]]
    base = summaries[0][1]
    for k in range(1, len(ranges)):
        part = _take_over(spills[k])
        meta, n_lines = summaries[k]
        # Line numbers as in the slices' texts put end to end (perf script's whole text).
        part.warnings, part.unterminated_line = meta.warnings, meta.unterminated_line
        for w in part.warnings.values():
            if w.line is not None:
                w.line += base
        if part.unterminated_line is not None:
            part.unterminated_line += base
        base += n_lines
        parts.append(part)
    failed = next((statuses[k] for k in range(len(ranges)) if statuses[k].failed), None)
    chosen = failed or statuses[len(ranges) - 1]
    status.code, status.error = chosen.code, chosen.error
    return merge(parts)


def _stop(workers: Iterable[mp.Process]) -> None:
    alive = [w for w in workers if w.is_alive()]
    for w in alive:
        w.terminate()  # SIGTERM: the worker ends its perf script on the way out
    for w in alive:
        w.join(timeout=5)
        if w.is_alive():
            w.kill()
            w.join()


