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
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
