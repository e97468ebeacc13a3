"""Ending the perf processes a recording starts (perf record, perf stat): asked to stop with SIGINT,
as a Ctrl-C would (perf then writes its file or prints its counts and exits), killed if it does not
end in time or when nothing it would write is wanted any more."""

from __future__ import annotations

import signal
import subprocess


def stop(proc: subprocess.Popen, timeout_s: float) -> bool:
    """SIGINT, then wait up to timeout_s; killed if it has not ended by then. True if it ended by
    itself (before or after the SIGINT), False if it had to be killed."""
    if proc.poll() is not None:
        return True
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout_s)
        return True
    except subprocess.TimeoutExpired:
        kill(proc)
        return False


def kill(proc: subprocess.Popen | None) -> None:
    """Never leave it behind (an error, a second Ctrl-C): killed and reaped if still running."""
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()
