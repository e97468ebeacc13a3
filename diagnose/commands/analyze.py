"""diagnose analyze: analyse an existing capture."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from diagnose.commands.common import (
    CommFilter,
    PidFilter,
    TidFilter,
    check_fail_on,
    check_lang,
    check_width,
    emit_analysis,
    thread_selection,
    warn,
)
from diagnose.core.output import check_output


def command(
    input: Annotated[list[str], typer.Argument(help="perf script text (gzip ok), folded stacks, perf.data, a pprof "
                                                "profile, or a capture folder; several, or a folder of them, for one "
                                                "table of all.")],
    format: Annotated[str, typer.Option("--format", "-f", help="terminal, json, markdown, html (one file: the report "
                                        "and its flame graph), svg (flame graph), pprof (gzip'd profile.proto), "
                                        "speedscope (JSON).")] = "terminal",
    output: Annotated[Optional[str], typer.Option("-o", "--output", help="Write to FILE instead of stdout.")] = None,
    rules: Annotated[Optional[list[str]], typer.Option("--rules", help="A rule pack file or folder (repeatable); "
                                                       "also $DIAGNOSE_RULES_PATH.")] = None,
    lang: Annotated[str, typer.Option("--lang", help="Report language: en or zh.")] = "en",
    fail_on: Annotated[Optional[str], typer.Option("--fail-on", help="Exit with code 3 if a finding is at or above "
                                                   "this severity (info, low, medium, high, critical).")] = None,
    event: Annotated[Optional[str], typer.Option("--event", help="Event to analyse (default: the CPU-time event).")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Parser processes (default: CPU count); with "
                                               "several captures, captures analysed at once, each parsed in one.")] = None,
    width: Annotated[Optional[int], typer.Option("--width", help="Terminal report width in columns, 40-1000 "
                                                 "(default: the terminal's).")] = None,
    all_functions: Annotated[bool, typer.Option("--all-functions", help="The JSON report lists every function, not "
                                                "only the top 200 by self and by inclusive samples.")] = False,
    pid: PidFilter = None,
    tid: TidFilter = None,
    comm: CommFilter = None,
) -> None:
    """Analyse a capture: findings with advice, overview, hottest functions with 95% intervals, call chains."""
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.orchestrate.pipeline import analyze as run_analysis

    check_lang(lang)
    check_fail_on(fail_on)
    check_width(width)
    check_output(output)
    selection = thread_selection(pid, tid, comm)
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.orchestrate.fleet import is_many

    if is_many(input):
        # imported when the command runs: diagnose.cli loads every command module for --help
        from diagnose.commands._analyze_many import analyze_many

        if all_functions:
            warn("--all-functions lists functions in a single capture's JSON report; the many-captures report "
                 "lists none, so it has no effect here")
        analyze_many(input, format, output, rules, lang, fail_on, event, jobs, width, selection)
        return
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.report.render import check_binary_output

    check_binary_output(format, output)
    analysis = run_analysis(input[0], event=event, jobs=jobs, rules=rules, lang=lang, selection=selection)
    analysis.all_functions = all_functions
    graph = flamegraph_of(input[0], output)
    if graph is not None:
        analysis.extra["flamegraph"] = graph
    for w in analysis.profile.capture.warnings:
        warn(w)
    if analysis.ruleset is not None:
        for note in analysis.ruleset.notes:
            warn(note)
    emit_analysis(analysis, format, output, width=width, fail_on=fail_on)


def flamegraph_of(source: str, output: str | None) -> str | None:
    """The flame graph a `diagnose run` folder holds, as the report should point to it: relative to
    the folder the report is written to (or to the current one)."""
    # imported when the command runs: diagnose.cli loads every command module for --help
    import os

    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.capture.capture_dir import REPORTS

    path = os.path.join(source, REPORTS["svg"][0])
    if not os.path.isdir(source) or not os.path.isfile(path):
        return None
    base = os.path.dirname(os.path.abspath(output)) if output and output != "-" else os.getcwd()
    return os.path.relpath(os.path.abspath(path), base)
