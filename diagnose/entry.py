"""The console entry point (`diagnose`, `python -m diagnose`). The command line is imported inside
the Ctrl-C guard: a Ctrl-C while Python is still loading the tool, or while the command line sets
itself up, ends it like one during the work (one line, exit code 130), not with a traceback."""

from __future__ import annotations

import sys

from diagnose.core.interrupt import EXIT_INTERRUPTED, INTERRUPTED


def main() -> None:
    # The whole command line is inside the guard: the import, and cli.main's own set-up before its
    # handlers (choosing the language) too. cli.main handles a Ctrl-C during the work itself.
    try:
        from diagnose.inputs.perf_early import start_early

        start_early(sys.argv[1:])  # perf script of a perf.data works while the command line loads
        from diagnose.cli import main as cli_main  # inside the Ctrl-C guard: loading can be interrupted too

        cli_main()
        code: object = 0
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except SystemExit as exc:
        code = exc.code
    leave(code)


def leave(code: object) -> None:
    """End the process once its work is done and written, without the interpreter's teardown:
    freeing a large capture's objects one by one took 0.05-0.1 s after every command. Standard
    output and error are flushed and the atexit handlers run (an early perf.data reader nobody
    took is ended there, see perf_early); a thread that still works gets the usual exit, which
    waits for it."""
    import atexit
    import os
    import threading

    if isinstance(code, str):  # sys.exit("message"): printed, exit code 1, as Python does
        print(code, file=sys.stderr)
        code = 1
    status = 0 if code is None else code if isinstance(code, int) else 1
    working = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if working:
        sys.exit(status)
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # started with that descriptor closed (`>&-`): Python sets it to None
            continue
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away (a closed pipe): nothing to save
            pass
    atexit._run_exitfuncs()
    os._exit(status & 0xFF)
