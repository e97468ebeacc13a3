"""The console entry point (`diagnose`, `python -m diagnose`). The command line is imported inside
the Ctrl-C guard: a Ctrl-C while Python is still loading the tool ends it like one during the work
(one line, exit code 130), not with a traceback of the import."""

from __future__ import annotations

import sys

INTERRUPTED = "diagnose: interrupted"
EXIT_INTERRUPTED = 130


def main() -> None:
    try:
        from diagnose.cli import main as cli_main
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    cli_main()
