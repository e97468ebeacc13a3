"""Running perf for a live capture: `perf record` on running processes, started and stopped at
exact moments, ended cleanly on Ctrl-C or when the targets exit; then `perf script` of the
result streamed into a gzip file. Argument lists only, never a shell."""

from __future__ import annotations

import ctypes
import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from diagnose.capture import child_process
from diagnose.core.errors import DiagnoseError
from diagnose.capture.preflight import PARANOID_FIX, alive

# perf record's default event (cycles) needs a hardware PMU that VMs and containers often lack;
# cpu-clock is a timer every kernel has, and its period in nanoseconds lets the analysis check
# the sampling frequency.
EVENT = "cpu-clock"
# Sample time stamps on the clock of time.monotonic() (perf record -k), so that the moments
# diagnose notes (enabled, a target seen gone, ended) compare with the samples themselves.
CLOCK = "CLOCK_MONOTONIC"
TICK_S = 0.1
START_TIMEOUT_S = 60.0
# After SIGINT perf still writes build ids and its header; a large capture takes a while.
FINISH_TIMEOUT_S = 300.0
# perf 6.1 spins on a CPU once one of several -p targets has exited (its poll loop keeps getting
# POLLHUP for the dead target's events). Spinning that long at that rate means the bug.
SPIN_WINDOW_S = 0.5
SPIN_CPU_SHARE = 0.5
PR_SET_PDEATHSIG = 1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PIPE_CHUNK = 1 << 20

Progress = Callable[[float], None]


class Companion(Protocol):
    """Something counted or recorded over the recording window (diagnose.capture.syscall_counts,
    diagnose.capture.offcpu_record): enabled right after perf record's events are; disabled right before
    they are when `inside` (its window lies inside the recording's: counts never include calls
    the profile could not see), else right after (its window holds the recording's: every wait
    that overlaps the profile is seen). Its methods never raise."""

    inside: bool

    def enable(self) -> None: ...

    def disable(self) -> None: ...


@dataclass(frozen=True)
class RecordSpec:
    perf: str
    pids: tuple[int, ...]
    duration_s: float
    frequency_hz: int
    call_graph: str
    output: Path


@dataclass(frozen=True)
class TargetExit:
    pid: int
    after_s: float


@dataclass(frozen=True)
class Recording:
    """How a recording went. duration_s runs from the moment perf acknowledged enabling its
    events (enabled_s, on CLOCK) to the moment it acknowledged disabling them (or the last
    target exited); enable_sent_s is when it was asked to enable. Every sample's time stamp lies
    between enable_sent_s and enabled_s + duration_s."""

    command: tuple[str, ...]
    start: str
    duration_s: float
    stopped_by: str  # "duration", "interrupt", "targets-exited", "perf-spinning" or "perf-exited"
    exited: tuple[TargetExit, ...]
    perf_messages: tuple[str, ...]
    warnings: tuple[str, ...]
    enable_sent_s: float = 0.0
    enabled_s: float = 0.0


def record_command(spec: RecordSpec, ctl_fd: int, ack_fd: int) -> list[str]:
    graph = ["-g"] if spec.call_graph == "fp" else ["--call-graph", "dwarf"]
    # -D -1: events start disabled; we enable them through the control pipe once perf is ready,
    # so the recorded duration starts when sampling does, not when perf was launched.
    return [spec.perf, "record", "-e", EVENT, "-F", str(spec.frequency_hz), *graph, "-k", CLOCK,
            "-D", "-1", "--control", f"fd:{ctl_fd},{ack_fd}",
            "-p", ",".join(str(p) for p in spec.pids), "-o", str(spec.output)]


def _die_with_parent() -> None:
    # perf must never outlive diagnose (killed, or its terminal closed): it would record forever.
    # SIGINT makes perf stop and write a readable file.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGINT, 0, 0, 0)


class _Interrupts:
    """Ctrl-C during the recording means "stop and analyse what you have": the handler only
    notes it. A second Ctrl-C, whenever it comes, gives up (KeyboardInterrupt): perf is killed
    and the unfinished folder removed."""

    def __init__(self) -> None:
        self.requested = False

    def handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


@contextmanager
def _catching_interrupts() -> Iterator[_Interrupts]:
    state = _Interrupts()
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started to ignore Ctrl-C (nohup'd, a script's `&`)
        yield state
        return
    try:
        previous = signal.signal(signal.SIGINT, state.handler)
    except ValueError:  # not the main thread (a library caller): leave signals alone
        yield state
        return
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)


class _Control:
    """perf record's control pipe: write a command, wait for its "ack"."""

    def __init__(self) -> None:
        self.ctl_r, self.ctl_w = os.pipe()
        self.ack_r, self.ack_w = os.pipe()

    def after_spawn(self) -> None:
        os.close(self.ctl_r)
        os.close(self.ack_w)

    def send(self, command: str, timeout: float) -> bool:
        """True when perf acknowledged; False when it is gone or did not answer in time."""
        try:
            os.write(self.ctl_w, command.encode() + b"\n")
        except (BrokenPipeError, OSError):
            return False
        deadline = time.monotonic() + timeout
        got = b""
        while b"ack" not in got:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                ready, _, _ = select.select([self.ack_r], [], [], min(left, TICK_S))
            except InterruptedError:
                continue
            if ready:
                piece = os.read(self.ack_r, 64)
                if not piece:
                    return False  # perf closed its end: it exited
                got += piece
        return True

    def close(self) -> None:
        for fd in (self.ctl_w, self.ack_r):
            try:
                os.close(fd)
            except OSError:
                pass


def _cpu_seconds(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def record(spec: RecordSpec, on_progress: Progress | None = None, companions: Sequence[Companion] = ()) -> Recording:
    """Record spec.pids for spec.duration_s (less if interrupted or the targets exit); the
    companions count over the same window."""
    control = _Control()
    log = tempfile.TemporaryFile()
    with _catching_interrupts() as interrupts:
        cmd = record_command(spec, control.ctl_r, control.ack_w)
        try:
            # Its own process group: Ctrl-C in the terminal reaches only diagnose, which then
            # stops perf at a moment it chooses.
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    pass_fds=(control.ctl_r, control.ack_w), process_group=0,
                                    preexec_fn=_die_with_parent)
        except OSError as exc:
            control.close()
            raise DiagnoseError(f"cannot run {spec.perf} ({exc.strerror}); check the perf installation") from None
        control.after_spawn()
        try:
            return _run(spec, proc, control, log, cmd, interrupts, on_progress, companions)
        finally:
            control.close()
            if proc.poll() is None:  # given up on (second Ctrl-C, or an error): do not leave it behind
                proc.kill()
                proc.wait()
            log.close()


def _run(spec: RecordSpec, proc: subprocess.Popen[bytes], control: _Control, log: IO[bytes], cmd: list[str],
         interrupts: _Interrupts, on_progress: Progress | None, companions: Sequence[Companion] = ()) -> Recording:
    enable_sent = time.monotonic()
    if not control.send("enable", START_TIMEOUT_S):
        try:
            proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            raise DiagnoseError(f"perf record did not start within {START_TIMEOUT_S:.0f} s; "
                                f"try again, or record fewer processes") from None
        raise _start_error(_messages(log), proc.returncode)
    started = time.monotonic()
    for c in companions:
        c.enable()
    start_wall = datetime.now(UTC).isoformat()
    exited: dict[int, float] = {}
    warnings: list[str] = []
    spin: list[tuple[float, float]] = []
    stopped_by = "duration"
    ended: float | None = None
    while True:
        now = time.monotonic()
        elapsed = now - started
        if on_progress is not None:
            on_progress(min(elapsed, spec.duration_s))
        if interrupts.requested:
            stopped_by = "interrupt"
            warnings.append(f"interrupted after {elapsed:.1f} s of {spec.duration_s:g} s; "
                            f"analysing what was recorded")
            break
        if elapsed >= spec.duration_s:
            break
        for pid in spec.pids:
            if pid not in exited and not alive(pid):
                exited[pid] = time.monotonic() - started  # stamped after the check: never before the exit
        if proc.poll() is not None:
            ended = time.monotonic()
            if all(not alive(p) for p in spec.pids):
                stopped_by = "targets-exited"  # perf ends by itself once every target has gone
            else:
                stopped_by = "perf-exited"
                warnings.append(f"perf record ended by itself after {elapsed:.1f} s "
                                f"({_first_error(_messages(log)) or f'exit code {proc.returncode}'})")
            break
        if exited and _spinning(proc.pid, spin, now):
            stopped_by = "perf-spinning"
            warnings.append(f"stopped the capture after {elapsed:.1f} s: perf used a whole CPU once pid "
                            f"{min(exited, key=exited.__getitem__)} had exited (a perf bug with several "
                            f"targets), which would distort what the others were measured doing")
            break
        try:
            proc.wait(timeout=TICK_S)
        except subprocess.TimeoutExpired:
            pass
    for c in companions:
        if c.inside:
            c.disable()
    if ended is None:
        # Disable first so that the end of the recording is exact, then let perf write and exit.
        control.send("disable", 5.0)
        ended = time.monotonic()
        for c in companions:
            if not c.inside:
                c.disable()
        _finish(proc)
    else:
        for c in companions:
            if not c.inside:
                c.disable()
    duration = ended - started
    if stopped_by == "targets-exited":
        for pid in spec.pids:
            exited.setdefault(pid, duration)
    if proc.returncode not in (0, -signal.SIGINT) or not spec.output.is_file():
        raise DiagnoseError(f"perf record failed ({_first_error(_messages(log)) or f'exit code {proc.returncode}'}); "
                            f"nothing was saved")
    order = sorted(exited.items(), key=lambda kv: kv[1])
    warnings[:0] = [f"pid {pid} exited {after:.1f} s into the capture; it was recorded until then"
                    for pid, after in order]
    if on_progress is not None:
        on_progress(min(duration, spec.duration_s))
    messages = tuple(m for m in _messages(log) if m not in ("Events enabled", "Events disabled"))
    return Recording(tuple(cmd), start_wall, duration, stopped_by, tuple(TargetExit(p, a) for p, a in order),
                     messages, tuple(warnings), enable_sent, started)


def _spinning(perf_pid: int, window: list[tuple[float, float]], now: float) -> bool:
    cpu = _cpu_seconds(perf_pid)
    if cpu is None:
        return False
    window.append((now, cpu))
    while len(window) > 1 and now - window[0][0] > SPIN_WINDOW_S:
        window.pop(0)
    t0, c0 = window[0]
    return now - t0 >= SPIN_WINDOW_S * 0.8 and (cpu - c0) / (now - t0) > SPIN_CPU_SHARE


def _finish(proc: subprocess.Popen[bytes]) -> None:
    if not child_process.stop(proc, FINISH_TIMEOUT_S):
        raise DiagnoseError(f"perf record did not finish writing within {FINISH_TIMEOUT_S:.0f} s after being "
                            f"stopped; record a shorter capture or with a lower --frequency") from None


def _messages(log: IO[bytes]) -> list[str]:
    log.seek(0)
    text = log.read(1 << 20).decode("utf-8", "replace")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _first_error(lines: list[str]) -> str | None:
    for line in lines:
        if line in ("Events disabled", "Events enabled") or line.startswith("[ perf record:"):
            continue
        if line.rstrip(":") in ("Error", "Warning"):
            continue
        return line[:200]
    return None


def _start_error(lines: list[str], code: int | None) -> DiagnoseError:
    text = " ".join(lines)
    if "perf_event_paranoid" in text or "Permission denied" in text or "Access to performance" in text:
        return DiagnoseError(f"perf record was not allowed to attach (kernel.perf_event_paranoid); "
                             f"run diagnose as root (sudo), or `{PARANOID_FIX}`")
    if "No such process" in text:
        return DiagnoseError("perf record: a target exited before recording could start; check the pids and run again")
    detail = _first_error(lines) or f"exit code {code}"
    return DiagnoseError(f"perf record could not start ({detail}); check the options and the perf installation")
