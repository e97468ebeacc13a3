"""What every analysis needs and no capture changes (the expert system's modules, the call
graph's with networkx, the built-in knowledge base, the built-in rule packs), loaded by a
helper thread while the capture is read: the main thread mostly waits then (on perf script, or
on the child that reads a perf.data early, inputs/perf_early), so this work fills that wait
instead of following it.

The main thread joins the helper before it imports anything else (two threads importing the same
modules at once is where import locks can deadlock). A rule pack of the user's is never read here:
a pack that blocks (a FIFO) or fails is the main thread's to meet, where Ctrl-C and errors are
handled as always. Should the helper fail, the main thread does the same work again and meets the
same error in its own place.
"""

from __future__ import annotations

import threading

from diagnose.core.thread_signals import leave_ctrl_c_to_the_main_thread


def _load(call_graph: bool) -> None:
    leave_ctrl_c_to_the_main_thread()
    try:
        from diagnose.expert import engine, per_process  # noqa: F401

        if call_graph:
            from diagnose.model import callgraph, summary  # noqa: F401  (networkx: 0.19 s)
        from diagnose.expert.knowledge import builtin_knowledge
        from diagnose.expert.rules import builtin_packs

        builtin_packs(builtin_knowledge())
    except BaseException:  # noqa: BLE001 - the main thread repeats the work and reports the error
        pass


def start(call_graph: bool = False) -> threading.Thread:
    """The helper, started (with call_graph, the call graph's modules and networkx too); join()
    it before importing more."""
    thread = threading.Thread(target=_load, args=(call_graph,), name="diagnose-preload", daemon=True)
    thread.start()
    return thread
