"""A Ctrl-C held back to points where it is safe to stop.

multiprocessing's Queue takes a lock in put() and again in its exit-time finalizer. A
KeyboardInterrupt raised between the moment put() takes the lock and the moment its `with` block
starts leaves the lock taken, and the process hangs at exit waiting for itself. While such queues
are in use, SIGINT only sets a flag; `check()` raises the KeyboardInterrupt where no lock is held.
"""

from __future__ import annotations

import queue
import signal
import threading
from types import FrameType, TracebackType
from typing import Any


class InterruptAtSafePoints:
    """Context manager: inside it, a Ctrl-C is noted and raised by check() (or on leaving the
    block). Outside the main thread, where Python cannot change signal handlers, or when SIGINT
    is ignored, it does nothing."""

    def __init__(self) -> None:
        self.interrupted = False
        self._previous: object = None
        self._installed = False

    def __enter__(self) -> InterruptAtSafePoints:
        # Outside the main thread Python cannot set handlers; a process started to ignore
        # Ctrl-C (a script's background job) goes on ignoring it.
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN):
            self._previous = signal.signal(signal.SIGINT, self._note)
            self._installed = True
        return self

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.interrupted = True

    def check(self) -> None:
        if self.interrupted:
            raise KeyboardInterrupt

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]
            self._installed = False
        if kind is None:
            self.check()


# How long one wait on a queue lasts before a noted Ctrl-C is looked at again.
QUEUE_WAIT_S = 0.2


def put_when_safe(q: Any, item: object, ctrl_c: InterruptAtSafePoints) -> None:
    """q.put(item) (a multiprocessing queue), in short waits that a noted Ctrl-C ends."""
    while True:
        ctrl_c.check()
        try:
            q.put(item, timeout=QUEUE_WAIT_S)
            return
        except queue.Full:
            continue


def get_when_safe(q: Any, ctrl_c: InterruptAtSafePoints) -> Any:
    """q.get() (a multiprocessing queue), in short waits that a noted Ctrl-C ends."""
    while True:
        ctrl_c.check()
        try:
            return q.get(timeout=QUEUE_WAIT_S)
        except queue.Empty:
            continue
