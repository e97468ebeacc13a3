"""Recording off-CPU time for `diagnose run --off-cpu`: a second `perf record` of
sched:sched_switch with call chains and context-switch records (--switch-events) on the same
processes, beside the CPU profile and never inside it (its own perf.data), enabled and disabled
right after the CPU recording is (diagnose.capture.recorder calls enable and disable), then read back
through `perf script` into diagnose.expert.offcpu. Argument lists only, never a shell.

Sched tracepoints need root (or CAP_PERFMON with tracefs readable): when perf cannot open them,
`problem` says so in one line and the CPU recording goes on without it.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from diagnose.capture import child_process
from diagnose.capture.thread_stacks import snapshot_threads
from diagnose.expert.offcpu import EVENT, OffCpu, OffCpuParser
from diagnose.inputs.perf_data import PerfScriptExit
from diagnose.capture.recorder import (CLOCK, FINISH_TIMEOUT_S, PIPE_CHUNK, START_TIMEOUT_S, _Control, _cpu_seconds,
                               _die_with_parent, _first_error)

# Pages per ring buffer (per CPU): a busy process switches tens of thousands of times a second,
# each with a call chain; perf's default of 512 KiB loses records under that.
MMAP_PAGES = 1024
NOT_RECORDED = "off-CPU time not recorded"
FIX = ("run diagnose as root with tracefs mounted (mount -t tracefs nodev /sys/kernel/tracing), "
       "or leave out --off-cpu")


def record_command(perf: str, pids: tuple[int, ...], call_graph: str, output: Path, ctl_fd: int,
                   ack_fd: int) -> list[str]:
    graph = ["-g"] if call_graph == "fp" else ["--call-graph", "dwarf"]
    return [perf, "record", "-e", EVENT, *graph, "--switch-events", "-k", CLOCK, "-m", str(MMAP_PAGES),
            "-D", "-1", "--control", f"fd:{ctl_fd},{ack_fd}", "-p", ",".join(map(str, pids)), "-o", str(output)]


def script_command(perf: str, data: Path) -> list[str]:
    # No comm field: a thread's name could imitate the fields after it (names come from prev_comm).
    return [perf, "script", "-i", str(data), "--show-switch-events", "--show-task-events", "--show-lost-events",
            "-F", "pid,tid,time,event,trace,ip,sym,dso"]


class OffCpuRecorder:
    """The second perf record. start() before the CPU recording; enable() and disable() as it
    is enabled and disabled (never raise: a failure becomes `problem`); finish() after."""

    inside = False  # recorder.Companion: its window holds the recording window

    def __init__(self, perf: str, pids: tuple[int, ...], call_graph: str, output: Path) -> None:
        self.perf, self.pids, self.call_graph, self.output = perf, pids, call_graph, output
        self.proc: subprocess.Popen[bytes] | None = None
        self.control: _Control | None = None
        self.log: IO[bytes] | None = None
        self.command: list[str] = []
        self.problem: str | None = None
        self.enabled_s: float | None = None
        self.ended_s: float | None = None
        self.at_start: dict[int, dict[str, Any]] = {}
        self.messages: list[str] = []
        # CPU time perf itself used from start to disable: what the recording cost beside the target.
        self.perf_cpu_s: float | None = None

    def start(self) -> None:
        self.control = _Control()
        self.log = tempfile.TemporaryFile()
        self.command = record_command(self.perf, self.pids, self.call_graph, self.output,
                                      self.control.ctl_r, self.control.ack_w)
        try:
            self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                         pass_fds=(self.control.ctl_r, self.control.ack_w), process_group=0,
                                         preexec_fn=_die_with_parent)
        except OSError as exc:
            self._fail(f"cannot run {self.perf} ({exc.strerror})")
        finally:
            self.control.after_spawn()

    def enable(self) -> None:
        if self.proc is None or self.control is None or self.problem is not None:
            return
        if not self.control.send("enable", START_TIMEOUT_S):
            try:
                self.proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                pass
            self._fail(self._error() or "perf record did not start")
            return
        self.enabled_s = time.monotonic()
        self.at_start = snapshot_threads(self.pids)

    def disable(self) -> None:
        if self.proc is None or self.control is None or self.enabled_s is None or self.ended_s is not None:
            return
        # The window ends as the disable is asked for: perf's events were on up to then, whenever it acts.
        self.ended_s = time.monotonic()
        if self.proc.poll() is None:
            self.control.send("disable", 5.0)
        self.perf_cpu_s = _cpu_seconds(self.proc.pid)

    def finish(self) -> None:
        """Let perf write its file and exit; then whether the recording can be read."""
        proc = self.proc
        if proc is None:
            return
        if not child_process.stop(proc, FINISH_TIMEOUT_S):
            self._fail(f"perf record did not finish writing within {FINISH_TIMEOUT_S:.0f} s")
        self.messages = [m for m in self._lines() if m not in ("Events enabled", "Events disabled")]
        if self.problem is None and (self.enabled_s is None or not self.output.is_file()):
            self._fail(self._error() or f"perf record exited with code {proc.returncode}")
        self.close()

    def close(self) -> None:
        """Never leave perf behind (an error, a second Ctrl-C)."""
        child_process.kill(self.proc)
        if self.control is not None:
            self.control.close()
            self.control = None
        if self.log is not None:
            self.log.close()
            self.log = None

    @property
    def recorded(self) -> bool:
        return self.problem is None and self.enabled_s is not None and self.output.is_file()

    def _fail(self, why: str) -> None:
        if self.problem is None:
            self.problem = f"{NOT_RECORDED}: perf could not record {EVENT} ({why}); {FIX}"

    def _lines(self) -> list[str]:
        if self.log is None:
            return []
        self.log.seek(0)
        text = self.log.read(1 << 20).decode("utf-8", "replace")
        return [line.strip() for line in text.splitlines() if line.strip()]

    def _error(self) -> str | None:
        lines = self._lines()
        # perf's own diagnosis comes on the lines after "event syntax error", most precise first.
        for clue in ("No permissions", "unknown tracepoint", "can't access trace events"):
            for line in lines:
                if clue in line:
                    return line.replace("\\___", "").removeprefix("Error:").strip()[:200]
        return _first_error(lines)


def read(perf: str, recorder: OffCpuRecorder) -> tuple[OffCpu, list[str]]:
    """The waits in the recording, over its window; and warnings (perf script failing part-way,
    records perf lost)."""
    parser = OffCpuParser(recorder.enabled_s, recorder.ended_s, recorder.at_start)
    warnings = []
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(script_command(perf, recorder.output), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=err)
        except OSError as exc:
            return parser.finish(), [f"{NOT_RECORDED}: cannot run {perf} script ({exc.strerror})"]
        assert proc.stdout is not None
        try:
            while piece := proc.stdout.read(PIPE_CHUNK):
                parser.feed(piece)
        finally:
            proc.stdout.close()
            code = proc.wait()
        if code != 0:
            err.seek(0)
            lines = [ln.strip() for ln in err.read(1 << 16).decode("utf-8", "replace").splitlines()
                     if ln.strip() and "not valid for" not in ln]
            error = _first_error(lines)
            if code < 0 and error and error.startswith("Warning"):  # (a signal's cause is not a warning)
                error = None
            ended = PerfScriptExit(code, error).describe()
            warnings.append(f"{recorder.output}: perf script stopped ({ended}); the off-CPU figures cover what it read")
    off = parser.finish()
    if off.lost:
        warnings.append(f"perf lost {off.lost:,} context-switch records of the off-CPU recording (it could not "
                        f"keep up); waits around them are missing or cut short")
    return off, warnings


def chmod_private(path: Path) -> None:
    try:
        os.chmod(path, 0o600)
    except OSError:
        pass
