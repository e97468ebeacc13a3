"""What every analysis needs and no capture changes (the expert system's modules,
the built-in knowledge base, the built-in rule packs), loaded by a helper thread while the
capture is read. Reading a perf.data waits on `perf script` for much of its time; this work
fills that wait instead of following it.

The main thread joins the helper before it imports anything else (two threads importing the same
modules at once is where import locks can deadlock). A rule pack of the user's is never read here:
a pack that blocks (a FIFO) or fails is the main thread's to meet, where Ctrl-C and errors are
handled as always. Should the helper fail, the main thread does the same work again and meets the
same error in its own place.
"""

from __future__ import annotations

import threading

from diagnose.core.thread_signals import leave_ctrl_c_to_the_main_thread


def _load() -> None:
    leave_ctrl_c_to_the_main_thread()
    try:
        from diagnose.expert import engine, per_process  # noqa: F401
        from diagnose.expert.knowledge import builtin_knowledge
        from diagnose.expert.rules import builtin_packs

        builtin_packs(builtin_knowledge())
    except BaseException:  # noqa: BLE001 - the main thread repeats the work and reports the error
        pass


def start() -> threading.Thread:
    """The helper, started; join() it before importing more."""
    thread = threading.Thread(target=_load, name="diagnose-preload", daemon=True)
    thread.start()
    return thread
