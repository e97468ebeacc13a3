"""diagnose diff: compare two captures or two JSON reports; what grew or shrank beyond sampling noise."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from diagnose.commands.common import check_lang, check_width, warn


def command(
    before: Annotated[str, typer.Argument(help="The capture before the change (anything `analyze` accepts) "
                                               "or its JSON report.")],
    after: Annotated[str, typer.Argument(help="The capture after the change, or its JSON report.")],
    format: Annotated[str, typer.Option("--format", "-f", help="terminal, json, markdown.")] = "terminal",
    output: Annotated[Optional[str], typer.Option("-o", "--output", help="Write to FILE instead of stdout.")] = None,
    min_change: Annotated[float, typer.Option("--min-change", help="Smallest change worth claiming, in percentage "
                                              "points of samples (cores: this / 100).")] = 0.5,
    rules: Annotated[Optional[list[str]], typer.Option("--rules", help="A rule pack file or folder (repeatable), "
                                                       "for the findings of captures.")] = None,
    lang: Annotated[str, typer.Option("--lang", help="Language of component and finding titles: en or zh.")] = "en",
    event: Annotated[Optional[str], typer.Option("--event", help="Event to compare (default: the CPU-time event).")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Parser processes (default: CPU count).")] = None,
    width: Annotated[Optional[int], typer.Option("--width", help="Terminal report width in columns, 40-1000 "
                                                 "(default: the terminal's).")] = None,
) -> None:
    """Compare BEFORE and AFTER: components, functions (self time) and findings that grew or shrank,
    in shares and in CPU cores, each with its 95% interval; only changes beyond sampling noise are claimed."""
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.core.errors import DiagnoseError
    from diagnose.core.output import check_output, write_output
    from diagnose.orchestrate.diff_run import diff_paths
    from diagnose.report.diff_report import render_diff

    check_lang(lang)
    if not 0 <= min_change <= 100:
        raise DiagnoseError(f"--min-change {min_change:g} is out of range; give percentage points (0-100, default 0.5)")
    check_width(width)
    check_output(output)
    cmp, warnings = diff_paths(before, after, event=event, jobs=jobs, rules=rules, lang=lang,
                               min_share=min_change / 100, min_cores=min_change / 100)
    for w in warnings:
        warn(w)
    write_output(render_diff(cmp, format.lower(), to_terminal=output is None, width=width, lang=lang), output)
