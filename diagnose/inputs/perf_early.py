"""A perf.data read while the command line loads.

Loading the command line (typer) and the analysis takes about 0.2 s before the capture is even
opened. So the entry point, first thing, looks for one
perf.data among the arguments of the commands that read one (by its magic bytes, not its
name) and, when the analysis will read it as one stream (perf_slice_plan), forks: the child runs
the perf script the analysis would run and parses its text as the analysis would
(perf_data.parse_perf_data, without addresses), then hands the parse over in an unnamed file
(perf_reader._hand_over, as the time slices do) and exits. perf script, the parse and the
parent's start-up now run side by side.

perf_read.read_perf takes the result when it is about to read the same file the same way; in any
other case (arguments refused, --addrs, a child that failed: perf could not read the file) it
reads the file itself, as it always did, and meets any error in its own place. A child nobody took
is killed when the tool exits. Nothing here raises: a wrong guess costs a parse.
"""

from __future__ import annotations

import atexit
import os
import signal

from diagnose.inputs.perf_slice_plan import planned_slices

# Everything before the fork delays perf script: this module imports only what the fork needs (no
# typing, dataclasses, tempfile, pickle: 20 ms), the rest where it is used.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO

    from diagnose.inputs.perf_data import PerfScriptExit
    from diagnose.inputs.perf_script import PartialParse

PERF_DATA_MAGIC = b"PERFILE2"
PR_SET_PDEATHSIG = 1  # prctl(2)
# The commands whose input may be a perf.data read as one `perf script` stream.
COMMANDS = frozenset({"analyze", "flamegraph", "collapse", "graph"})


class EarlyParse:
    def __init__(self, path: str, pid: int, owner: int, spill: IO[bytes], meta: IO[bytes]) -> None:
        self.path = path
        self.pid = pid  # the child that parses
        self.owner = owner  # the process that forked it: a forked grandchild never takes its parent's
        self.spill = spill  # the parse, as perf_reader._hand_over writes it
        self.meta = meta  # (jobs, perf's exit code, perf's error, cut short), pickled


# The one early parse of this run, until it is taken or ended.
_early: EarlyParse | None = None


def start_early(args: list[str]) -> None:
    """`args`: the command line after the program name."""
    try:
        _start(args)
    except Exception:  # noqa: BLE001 - a guess that cannot be made is no guess
        pass


def _start(args: list[str]) -> None:
    # --jobs and --addrs read the file another way (see take_parse).
    if not args or args[0] not in COMMANDS or any(a.split("=")[0] in ("--jobs", "--addrs") for a in args):
        return
    found = [a for a in args[1:] if not a.startswith("-") and _is_perf_data(a)]
    # Several captures are analysed by worker processes of their own (orchestrate/fleet).
    if len(found) != 1 or planned_slices(found[0]) > 1:
        return
    global _early
    spill, meta = _unnamed_file(), _unnamed_file()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        _child(found[0], spill, meta, parent)  # never returns
    _early = EarlyParse(found[0], pid, parent, spill, meta)
    atexit.register(end_unused)


def _unnamed_file() -> IO[bytes]:
    """An unnamed file in the temporary folder, as tempfile.TemporaryFile makes it on Linux
    (O_TMPFILE), without loading tempfile; tempfile's own where O_TMPFILE is refused."""
    folder = next((d for d in (os.environ.get(v) for v in ("TMPDIR", "TEMP", "TMP")) if d), "/tmp")
    try:
        return os.fdopen(os.open(folder, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600), "w+b")
    except (OSError, AttributeError):
        import tempfile

        return tempfile.TemporaryFile()


def _is_perf_data(path: str) -> bool:
    if not os.path.isfile(path):  # first: opening a FIFO would wait for its writer
        return False
    try:
        with open(path, "rb") as f:
            return f.read(len(PERF_DATA_MAGIC)) == PERF_DATA_MAGIC
    except OSError:
        return False


def _child(path: str, spill: IO[bytes], meta: IO[bytes], parent: int) -> None:  # pragma: no cover - a forked child
    code = 1
    try:
        # The terminal's Ctrl-C reaches the whole process group: the parent decides (it kills
        # this child on its way out); perf script, which gets it too, stops by itself.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # A parent that dies otherwise (SIGTERM, SIGKILL) takes this child with it.
        import ctypes

        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # it died before the line above
            return
        # perf script first, then the parser's modules, loaded while perf starts (perf spent 40 ms
        # waiting for them); imported here, in the child only: the parent's start does not wait.
        from diagnose.inputs.perf_command import analysis_command, start_perf_ahead
        from diagnose.inputs.perf_header import sample_times

        start_perf_ahead(analysis_command(path, times=sample_times(path) is None))
        import pickle

        from diagnose.inputs.perf_data import PerfScriptExit, parse_perf_data
        from diagnose.inputs.perf_reader import _hand_over, stream_jobs

        jobs = stream_jobs()  # as perf_read.read_perf chooses
        status = PerfScriptExit()
        parse, truncated = parse_perf_data(path, status, False, jobs)
        pickle.dump((jobs, status.code, status.error, truncated), meta)
        meta.flush()
        _hand_over(parse, spill)
        code = 0
    except BaseException:  # noqa: BLE001 - the parent reads the file itself and meets the error
        pass
    finally:
        os._exit(code)


def take_parse(path: str, keep_addrs: bool, jobs: int,
               status: PerfScriptExit) -> tuple[PartialParse, bool] | None:
    """The early parse of `path` (the same file by its real path, read with `jobs` parsers and no
    addresses kept): the parse and whether its text was cut short, perf's exit in `status`; None
    when there is none to take (the caller reads the file itself)."""
    global _early
    early = _early
    if early is None or early.owner != os.getpid() or os.path.realpath(early.path) != os.path.realpath(path):
        return None
    _early = None
    if keep_addrs:  # the child keeps no addresses: its parse is not this one
        _kill(early)
        return None
    try:
        _, wait_status = os.waitpid(early.pid, 0)
    except BaseException:  # a Ctrl-C while waiting: the child is ended, the Ctrl-C goes on
        _kill(early)
        raise
    if os.waitstatus_to_exitcode(wait_status) != 0:
        _close(early)
        return None
    import pickle

    early.meta.seek(0)
    child_jobs, code, error, truncated = pickle.load(early.meta)
    if child_jobs != jobs:
        _close(early)
        return None
    from diagnose.inputs.perf_reader import _take_over  # loaded by the reading already

    parse = _take_over(early.spill)
    early.meta.close()
    status.code, status.error = code, error
    return parse, truncated


def end_unused() -> None:
    """Kill the early parse nobody took (at exit; or when the captures go to worker processes)."""
    global _early
    early, _early = _early, None
    if early is not None and early.owner == os.getpid():
        _kill(early)


def _kill(early: EarlyParse) -> None:
    try:
        os.kill(early.pid, signal.SIGKILL)  # its perf script ends at its next write, to a closed pipe
        os.waitpid(early.pid, 0)
    except OSError:
        pass
    _close(early)


def _close(early: EarlyParse) -> None:
    early.spill.close()
    early.meta.close()
