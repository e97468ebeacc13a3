"""The `perf script` command lines that read a perf.data (argument lists, no shell), and the pipe
their text comes through."""

from __future__ import annotations

import shutil
import subprocess
from typing import IO

from diagnose.core.errors import DiagnoseError

# What is read from perf's pipe at a time: a few pieces make a chunk (read1's pieces of a few kB
# each would be joined over and over into one).
PIPE_PIECE = 1 << 18
PERF_INSTALL_HINT = "install it (Debian/Ubuntu: apt-get install linux-perf)"


def perf_binary() -> str:
    path = shutil.which("perf")
    if path is None:
        raise DiagnoseError(f"perf is not installed (needed to read perf.data); {PERF_INSTALL_HINT}")
    return path


def script_command(path: str) -> list[str]:
    """The perf script invocation whose text is kept (a run folder's capture): header included,
    and pid/tid for per-process attribution."""
    return [perf_binary(), "script", "--header", "-F", "+pid", "-i", path]


# What reading a perf.data leaves out of perf's default fields: the CPU number and the symbol
# offsets, which no analysis reads (offsets are stripped from every frame). 7% less text to
# write, pipe and parse (24.1 MB instead of 25.8 MB on a 60,000-sample system-wide recording).
ANALYSIS_FIELDS = "+pid,-cpu,-symoff"
# The pipe from perf: room for perf to keep writing while a chunk is parsed (Linux's default
# of 64 kB fills in well under a millisecond).
PIPE_BYTES = 1 << 20


def analysis_command(path: str, time_range: str | None = None, header: bool = True, times: bool = True) -> list[str]:
    """The perf script invocation whose text is analysed and never kept: header included (unless
    header=False), pid/tid, no CPU numbers nor symbol offsets, and no time stamps with
    times=False (when the header gives the first and last, see perf_counted); with time_range
    (perf's `--time` syntax, see perf_slices), only the samples of that time slice."""
    fields = ANALYSIS_FIELDS if times else ANALYSIS_FIELDS + ",-time"
    return [perf_binary(), "script", *(["--header"] if header else []), "-F", fields,
            *(["--time", time_range] if time_range else []), "-i", path]


def widen_pipe(stream: IO[bytes]) -> None:
    """Best effort: a pipe too small only makes perf wait."""
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except (OSError, ImportError):
        pass


# perf scripts started ahead of their reader (inputs/perf_early starts its perf before it loads
# the parser), by command line.
_ahead: dict[tuple[str, ...], subprocess.Popen[bytes]] = {}


def start_perf_ahead(cmd: list[str]) -> None:
    """Start `cmd` now, for the stream that later asks for the same command line."""
    _ahead[tuple(cmd)] = _start(cmd)


def started_perf(cmd: list[str]) -> subprocess.Popen[bytes]:
    """`cmd` running, its output and errors piped: the one started ahead for it, or a new one."""
    return _ahead.pop(tuple(cmd), None) or _start(cmd)


def _start(cmd: list[str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    widen_pipe(proc.stdout)
    return proc
