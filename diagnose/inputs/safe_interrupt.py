"""A Ctrl-C held back to points where it is safe to stop.

multiprocessing's Queue takes a lock in put() and again in its exit-time finalizer. A
KeyboardInterrupt raised between the moment put() takes the lock and the moment its `with` block
starts leaves the lock taken, and the process hangs at exit waiting for itself. While such queues
are in use, SIGINT only sets a flag; `check()` raises the KeyboardInterrupt where no lock is held.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType


class InterruptAtSafePoints:
    """Context manager: inside it, a Ctrl-C is noted and raised by check() (or on leaving the
    block). Outside the main thread, where Python cannot change signal handlers, it does nothing."""

    def __init__(self) -> None:
        self.interrupted = False
        self._previous: object = None
        self._installed = False

    def __enter__(self) -> InterruptAtSafePoints:
        if threading.current_thread() is threading.main_thread():
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
