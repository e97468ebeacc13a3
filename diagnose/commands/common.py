"""What several commands share: warnings on stderr, rendering an analysis to stdout or a file,
and the --fail-on gate."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from diagnose.core.errors import DiagnoseError
from diagnose.core.output import write_output

if TYPE_CHECKING:
    from diagnose.expert.analysis import Analysis
    from diagnose.model.select import Selection

# Exit code when --fail-on finds a finding at or above the given severity.
EXIT_FAIL_ON = 3
LANGS = ("en", "zh")
# --width of the terminal reports, in columns: narrower cannot hold a table row.
MIN_WIDTH, MAX_WIDTH = 40, 1000


# The thread filters (diagnose.model.select). `collapse` has its own --pid/--tid (the id in the root
# frame, as stackcollapse-perf.pl), so there they are only --only-pid/--only-tid; elsewhere both
# spellings work.
_PID_HELP = "Analyse only this process (repeatable: any of them)."
_TID_HELP = "Analyse only this thread (repeatable: any of them)."
_COMM_HELP = ("Analyse only threads whose name (comm) matches this RE2 pattern, whole name (repeatable: any of "
              "them); combined with --pid/--tid, both must hold.")
PidFilter = Annotated[Optional[list[int]], typer.Option("--pid", "--only-pid", metavar="PID", help=_PID_HELP)]
TidFilter = Annotated[Optional[list[int]], typer.Option("--tid", "--only-tid", metavar="TID", help=_TID_HELP)]
OnlyPid = Annotated[Optional[list[int]], typer.Option("--only-pid", metavar="PID", help=_PID_HELP)]
OnlyTid = Annotated[Optional[list[int]], typer.Option("--only-tid", metavar="TID", help=_TID_HELP)]
CommFilter = Annotated[Optional[list[str]], typer.Option("--comm", metavar="REGEX", help=_COMM_HELP)]


def thread_selection(pids: list[int] | None, tids: list[int] | None, comms: list[str] | None) -> Selection:
    """The --pid/--tid/--comm options as one selection (empty when none is given)."""
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.model.select import selection

    return selection(pids=pids, tids=tids, comms=comms)


def warn(message: str) -> None:
    """One line on stderr; what the input put in it is shown escaped."""
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.core import messages
    from diagnose.core.escape import terminal

    zh = messages.current_lang() == "zh"
    print(f"{'diagnose：警告：' if zh else 'diagnose: warning: '}{terminal(messages.say(message))}", file=sys.stderr)


def say_line(message: str) -> None:
    """A line of progress on stderr (`diagnose: recording ...`), in the command's language."""
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.core import messages

    zh = messages.current_lang() == "zh"
    print(f"{'diagnose：' if zh else 'diagnose: '}{messages.say(message)}", file=sys.stderr)


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise DiagnoseError(f"unknown --lang {lang!r}; choose one of: {', '.join(LANGS)}")
    return lang


def check_width(width: int | None) -> int | None:
    if width is not None and not MIN_WIDTH <= width <= MAX_WIDTH:
        raise DiagnoseError(f"--width {width} is out of range; give the report width in columns "
                            f"({MIN_WIDTH}-{MAX_WIDTH}), or leave it out to use the terminal's")
    return width


def check_fail_on(fail_on: str | None) -> str | None:
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.expert.rules import SEVERITIES

    if fail_on is not None and fail_on not in SEVERITIES:
        raise DiagnoseError(f"unknown --fail-on severity {fail_on!r}; choose one of: {', '.join(SEVERITIES)}")
    return fail_on


def emit_analysis(analysis: Analysis, fmt: str, output: str | None, width: int | None = None,
                  fail_on: str | None = None) -> None:
    """Write the report, then exit with code 3 if --fail-on names a severity that a finding reaches."""
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.report.render import render

    write_output(render(analysis, fmt.lower(), to_terminal=output is None, width=width), output)
    gate(analysis, fail_on)


def gate(analysis: Analysis, fail_on: str | None) -> None:
    if fail_on is None:
        return
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.expert.rules import SEVERITIES

    level = SEVERITIES.index(fail_on)
    hits = [f for f in analysis.findings if SEVERITIES.index(f.severity) >= level]
    if hits:
        # imported when the command runs: diagnose.cli loads every command module for --help
        from diagnose.core.escape import terminal

        names = terminal(", ".join(f"{f.id} ({f.severity})" for f in hits[:5]))
        say_line(f"--fail-on {fail_on}: {len(hits)} finding(s) at or above {fail_on}: {names}")
        sys.exit(EXIT_FAIL_ON)
