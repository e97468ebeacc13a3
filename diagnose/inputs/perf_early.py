"""`perf script` of a perf.data started before the command line is loaded.

Reading a perf.data is `perf script` (most of the time) streamed into the parser. Loading the
command line (typer and its dependencies) and the analysis modules takes about 0.2 s, during
which perf could already be working. So the entry point, first thing, looks for a perf.data among
the arguments of the commands that read one (by its magic bytes, not its name), and starts the
very perf script the analysis would start (perf_command.analysis_command) when that analysis will
read it as one stream (perf_slice_plan). A thread keeps draining its output meanwhile, a bounded
number of pieces ahead, so that perf does not stop at a full pipe.

perf_data.stream_perf_script takes the process over when it is about to start the same command on
the same file; else (the arguments turn out to be refused, the command reads something else)
it is killed when the tool exits. Nothing here ever raises: a wrong guess costs a perf start.
"""

from __future__ import annotations

import atexit
import os
import queue
import subprocess
import threading
from typing import IO

from diagnose.core.thread_signals import leave_ctrl_c_to_the_main_thread
from diagnose.inputs.perf_command import PIPE_PIECE, analysis_command, widen_pipe
from diagnose.inputs.perf_slice_plan import planned_slices

PERF_DATA_MAGIC = b"PERFILE2"
# The commands whose input may be a perf.data read as one `perf script` stream.
COMMANDS = frozenset({"analyze", "flamegraph", "collapse", "graph"})
# Pieces (PIPE_PIECE bytes each) read ahead of the parser: 16 MB at most.
AHEAD_PIECES = 64


class EarlyPerf:
    """A perf script process whose stdout a thread drains into a bounded queue; None ends it."""

    def __init__(self, cmd: list[str]) -> None:
        self.cmd = cmd
        self.owner = os.getpid()  # a forked child inherits the process, not the thread that drains it
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        widen_pipe(self.proc.stdout)
        self.pieces: queue.Queue[bytes | None] = queue.Queue(AHEAD_PIECES)
        self.stop = threading.Event()
        threading.Thread(target=self._drain, args=(self.proc.stdout,), name="perf-early", daemon=True).start()

    def _drain(self, stream: IO[bytes]) -> None:
        leave_ctrl_c_to_the_main_thread()
        try:
            while True:
                piece = stream.read(PIPE_PIECE)
                if not self._put(piece) or not piece:
                    return
        except (OSError, ValueError):  # the stream closed under us: the process is being ended
            self._put(b"")

    def _put(self, piece: bytes) -> bool:
        """Queue a piece (b"": the end) unless told to stop; False once told."""
        while not self.stop.is_set():
            try:
                self.pieces.put(piece or None, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def read(self) -> bytes:
        """The next piece of perf's output, b"" at its end."""
        return self.pieces.get() or b""

    def end(self) -> None:
        """Stop reading and kill perf (its output is not wanted)."""
        self.stop.set()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


_started: list[EarlyPerf] = []


def start_early(args: list[str]) -> None:
    """`args`: the command line after the program name."""
    try:
        _start(args)
    except Exception:  # noqa: BLE001 - a guess that cannot be made is no guess
        pass


def _start(args: list[str]) -> None:
    if not args or args[0] not in COMMANDS or any(a == "--jobs" or a.startswith("--jobs=") for a in args):
        return
    found = [a for a in args[1:] if not a.startswith("-") and _is_perf_data(a)]
    # Several captures are analysed by worker processes of their own (commands/_analyze_many).
    if len(found) != 1 or planned_slices(found[0]) > 1:
        return
    _started.append(EarlyPerf(analysis_command(found[0])))
    atexit.register(end_unused)


def _is_perf_data(path: str) -> bool:
    if not os.path.isfile(path):  # first: opening a FIFO would wait for its writer
        return False
    try:
        with open(path, "rb") as f:
            return f.read(len(PERF_DATA_MAGIC)) == PERF_DATA_MAGIC
    except OSError:
        return False


def take(cmd: list[str]) -> EarlyPerf | None:
    """The early perf script running `cmd` (the same file, by its real path), handed over once."""
    for early in _started:
        if early.owner == os.getpid() and _same(early.cmd, cmd):
            _started.remove(early)
            return early
    return None


def _same(a: list[str], b: list[str]) -> bool:
    return len(a) == len(b) and a[:-1] == b[:-1] and os.path.realpath(a[-1]) == os.path.realpath(b[-1])


def end_unused() -> None:
    """End the early perf script nobody took (at exit; or when the captures go to worker processes)."""
    while _started:
        early = _started.pop()
        if early.owner == os.getpid():
            early.end()
