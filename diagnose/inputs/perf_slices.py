"""Reading a perf.data with several `perf script` processes, one per time slice of the recording,
each parsed as it streams: perf script's own work (most of the time of reading a perf.data) is
spread over the CPUs instead of one.

The slices: the recording's first and last sample times (from its header, `perf report
--header-only`: a few milliseconds) cut into equal spans; slice k runs `perf script --time A,B`,
whose bounds perf takes as inclusive and exact to the nanosecond, so the slices' bounds are
consecutive nanoseconds (`,T1`, `T1+1ns,T2`, ..., `Tn+1ns,`): no sample is in two slices nor
lost, and the slices' texts put end to end are perf script's whole text (perf prints samples in
time order; only the first slice prints the header). Every slice still reads the whole file
(perf processes the events that are not samples, mmap and comm, in each), which costs each
process about a tenth of a second on an 8 MB recording: a small recording is read as one stream.

All slices' perf scripts run at once. The first slice's text is parsed as it streams from its
pipe; the others are written by perf to unnamed files (no Python process of their own: nothing
forked, nothing handed over) and parsed after it, in order, by the same parser, as one text.
Each slice's perf exit status is kept: the first that failed (in slice order) is the one told.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from diagnose.errors import DiagnoseError
from diagnose.inputs.perf_data import (PERF_INSTALL_HINT, PIPE_PIECE, STREAM_CHUNK_BYTES, PerfScriptExit, _last_error_line,
                                       analysis_command, perf_binary, stream_perf_script)
from diagnose.inputs.perf_reader import parse_chunks
from diagnose.inputs.perf_script import PartialParse

# Below this size a perf.data is read by one perf script: each slice's fixed cost (perf reading
# the whole file) is not paid back (measured: see README, Speed on perf.data).
SLICE_MIN_BYTES = 4 * 1024 * 1024
NS = 1_000_000_000


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def sample_time_span(path: str) -> tuple[int, int] | None:
    """The first and last sample times of a recording (nanoseconds, as perf's header gives them:
    to the microsecond), or None when its header does not say (a recording written to a pipe,
    a file cut short, an old perf)."""
    try:
        done = subprocess.run([perf_binary(), "report", "--header-only", "-i", path], capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    first = last = None
    for line in done.stdout.decode("utf-8", "replace").splitlines():
        name, _, value = line.lstrip("# ").partition(":")
        if name.strip() == "time of first sample":
            first = _ns(value)
        elif name.strip() == "time of last sample":
            last = _ns(value)
    return (first, last) if first is not None and last is not None and last > first else None


def _ns(text: str) -> int | None:
    sec, _, frac = text.strip().partition(".")
    if not sec.isdigit() or (frac and not frac.isdigit()) or len(frac) > 9:
        return None
    return int(sec) * NS + int(frac.ljust(9, "0") or 0)


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
    """The time slices to read `path` in, or None to read it as one stream (one usable CPU, a
    recording under min_bytes, a header without sample times)."""
    n = usable_cpus() if jobs is None else max(1, jobs)
    try:
        small = os.path.getsize(path) < min_bytes
    except OSError:
        return None
    if n < 2 or small:
        return None
    span = sample_time_span(path)
    return None if span is None else time_ranges(span[0], span[1], n)


def _slice_text(proc: subprocess.Popen, out: BinaryIO, err: BinaryIO, status: PerfScriptExit) -> Iterator[bytes]:
    """A slice's text, once its perf script (writing to a file) has ended; its exit in status."""
    code = proc.wait()
    status.code = code
    if code != 0:
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
        status.error = _last_error_line(text) if text.strip() else f"exit code {code}"
    out.seek(0)
    while True:
        piece = out.read(PIPE_PIECE)
        if not piece:
            return
        yield piece


def parse_sliced(path: str, ranges: list[str], keep_addrs: bool, status: PerfScriptExit) -> PartialParse:
    """The perf.data's samples read by one perf script per time range, all running at once:
    the first slice's text is parsed as it streams from its pipe, the others' are written by
    perf to unnamed files and parsed after it, in order, by the same parser (one text, as one
    perf script would print it: same line numbers, nothing to merge). `status` gets the first
    failed slice's exit, else the last one's."""
    procs: list[subprocess.Popen] = []
    files: list[BinaryIO] = []
    statuses = [PerfScriptExit() for _ in ranges]
    pieces: list[Iterator[bytes]] = []
    try:
        for k in range(1, len(ranges)):
            out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
            files += [out, err]
            try:
                proc = subprocess.Popen(analysis_command(path, ranges[k], header=False), stdout=out, stderr=err,
                                        stdin=subprocess.DEVNULL)
            except OSError as exc:
                raise DiagnoseError(f"cannot run perf ({exc.strerror}); {PERF_INSTALL_HINT}") from None
            procs.append(proc)
            pieces.append(_slice_text(proc, out, err, statuses[k]))
        first = stream_perf_script(path, statuses[0], ranges[0])
        try:
            parse, _ = parse_chunks(itertools.chain(first, *pieces), keep_addrs, 1, STREAM_CHUNK_BYTES)
        finally:
            first.close()  # stopped early (Ctrl-C, an error): its perf script is ended now
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        for f in files:
            f.close()
    chosen = next((st for st in statuses if st.failed), statuses[-1])
    status.code, status.error = chosen.code, chosen.error
    return parse
