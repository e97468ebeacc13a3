"""Ctrl-C belongs to the main thread. The kernel hands a process's SIGINT to any thread that does
not block it, and CPython (3.11) then only marks the signal pending: a main thread blocked in a
system call (an open() of a FIFO, a read) is not woken and never sees the Ctrl-C. Threads the tool
starts block SIGINT first thing, so the kernel gives it to the main thread."""

from __future__ import annotations

import signal


def leave_ctrl_c_to_the_main_thread() -> None:
    """Call first in a helper thread's body."""
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    except (AttributeError, OSError, ValueError):  # no pthread_sigmask on this platform
        pass
