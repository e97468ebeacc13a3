"""Reading perf.data: `perf script` runs as a subprocess (argument list, no shell) and its
output is streamed into the perf script parser."""

from __future__ import annotations

import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, TypeVar

from diagnose.core.errors import DiagnoseError, input_error
from diagnose.core.thread_signals import leave_ctrl_c_to_the_main_thread
from diagnose.inputs.perf_command import PERF_INSTALL_HINT, PIPE_PIECE, analysis_command, started_perf
from diagnose.inputs.perf_header import sample_times  # (the benchmarks import it from here too)
from diagnose.inputs.perf_reader import parse_chunks
from diagnose.inputs.perf_script import PartialParse

# perf script's text is parsed in chunks of this size: no larger than the pipe, so that perf
# keeps writing the next chunk while this one is parsed (with 4 MB chunks it waited 3/4 of the time).
STREAM_CHUNK_BYTES = 1 << 20
# What is kept of perf's stderr (read while its output is): the last lines, each cut short.
STDERR_LINES_KEPT = 50
STDERR_LINE_CHARS = 500


@dataclass
class PerfScriptExit:
    """How `perf script` ended, known once its output has been read to the end."""

    code: int | None = None
    # perf's error (its last meaningful stderr line) when it exited non-zero.
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.code is not None and self.code != 0

    def describe(self) -> str:
        """How it ended and perf's error: 'exit code 234: failed to process type: 0', 'killed by
        SIGBUS' (perf reading a perf.data cut short can die of a bus error without a word)."""
        how = how_it_ended(self.code if self.code is not None else 0)
        return f"{how}: {self.error}" if self.error else how


def how_it_ended(code: int) -> str:
    """'exit code 234', or 'killed by SIGBUS' for a process a signal ended (subprocess gives the
    signal as a negative code)."""
    if code >= 0:
        return f"exit code {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


class _StderrTail(threading.Thread):
    """Reads perf's stderr while its stdout is being read, keeping only the last lines: perf
    blocks once it has written a pipe's worth of warnings that nobody reads."""

    def __init__(self, stream: IO[bytes], keep: int = STDERR_LINES_KEPT) -> None:
        super().__init__(name="perf-stderr", daemon=True)
        self.stream = stream
        self.lines: deque[str] = deque(maxlen=keep)

    def run(self) -> None:
        leave_ctrl_c_to_the_main_thread()
        partial = b""
        fd = self.stream.fileno()
        while True:
            try:
                piece = os.read(fd, 1 << 16)
            except OSError:
                break
            if not piece:
                break
            *whole, partial = (partial + piece).split(b"\n")
            partial = partial[-STDERR_LINE_CHARS:]
            for line in whole:
                if line.strip():
                    self.lines.append(line[:STDERR_LINE_CHARS].decode("utf-8", "replace").strip())
        if partial.strip():
            self.lines.append(partial.decode("utf-8", "replace").strip())

    def text(self) -> str:
        return "\n".join(self.lines)


def stream_perf_script(path: str, status: PerfScriptExit | None = None, time_range: str | None = None,
                       header: bool = True, times: bool = True) -> Iterator[bytes]:
    """Yield perf script output for `path` in pieces (of one time slice with time_range, without
    the header with header=False, without time stamps with times=False). perf's stderr is
    drained by a thread as it comes. A perf that fails before any output is a clear error; one
    that fails part-way (a perf.data cut short) is told through `status`, after the last piece,
    for the caller to warn about or refuse."""
    cmd = analysis_command(path, time_range, header, times)
    try:
        proc = started_perf(cmd)
    except OSError as exc:
        raise DiagnoseError(f"cannot run perf ({exc.strerror}); {PERF_INSTALL_HINT}") from None
    assert proc.stdout is not None and proc.stderr is not None
    tail = _StderrTail(proc.stderr)
    tail.start()
    got_any = finished = False
    try:
        while True:
            piece = proc.stdout.read(PIPE_PIECE)
            if not piece:
                break
            got_any = True
            yield piece
        finished = True
    finally:
        proc.stdout.close()
        if not finished and proc.poll() is None:
            proc.kill()  # the reader stopped early (an error, Ctrl-C): perf's output is not wanted
        code = proc.wait()
        tail.join()
        proc.stderr.close()
    err = tail.text()
    if code != 0 and not got_any:
        detail = _first_error_line(err) if code > 0 else PerfScriptExit(code, _last_error_line(err, code)).describe()
        raise input_error(path, f"perf script could not read it ({detail})",
                          "check that it is a complete perf.data file readable by this user")
    if status is not None:
        status.code = code
        if code != 0:
            status.error = _last_error_line(err, code)


Times = tuple[float, float]
T = TypeVar("T")


def untimed_first(path: str, status: PerfScriptExit,
                  read: Callable[[PerfScriptExit, Times | None], tuple[PartialParse, T]]) -> tuple[PartialParse, T]:
    """`read(status, times)` of a perf.data, without time stamps when sample_times allows. Text
    read so that the parser warns about it (it never does on a sound recording) is read again
    with them, the way every other text is read: no guess about perf's output changes a result."""
    times = sample_times(path)
    if times is not None:
        untimed = PerfScriptExit()
        parse, more = read(untimed, times)
        if not parse.warnings:
            status.code, status.error = untimed.code, untimed.error
            return parse, more
    return read(status, None)


def parse_perf_data(path: str, status: PerfScriptExit, keep_addrs: bool, jobs: int) -> tuple[PartialParse, bool]:
    """A whole perf.data read by one perf script, its text parsed (by `jobs` parsers) as it
    streams: the parse, and whether the text was cut short."""
    return untimed_first(path, status, lambda st, times: parse_chunks(
        stream_perf_script(path, st, times=times is None), keep_addrs, jobs, STREAM_CHUNK_BYTES, times))


def _last_error_line(err: str, code: int) -> str | None:
    """perf's error: its last line that is not a warning; failing that, its last line when it
    exited with an error code (a signal's cause is not in a warning perf printed earlier)."""
    for line in reversed(err.splitlines()):
        line = line.strip()
        if line and not line.startswith("Warning") and "callchain" not in line.lower():
            return line[:160]
    return err.strip().splitlines()[-1][:160] if err.strip() and code > 0 else None


def _first_error_line(err: str) -> str:
    for line in err.splitlines():
        line = line.strip()
        if line and not line.startswith("Warning") and "callchain" not in line.lower():
            return line[:160]
    return err.strip().splitlines()[0][:160] if err.strip() else "no output"
