"""diagnose analyze: analyse an existing capture."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from diagnose.commands.common import emit_analysis, warn


def command(
    input: Annotated[str, typer.Argument(help="perf script text (gzip ok), folded stacks, perf.data, or a capture folder.")],
    format: Annotated[str, typer.Option("--format", "-f", help="terminal, json.")] = "terminal",
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write to FILE instead of stdout.")] = None,
    event: Annotated[Optional[str], typer.Option("--event", help="Event to analyse (default: the CPU-time event).")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Parser processes (default: CPU count).")] = None,
    width: Annotated[Optional[int], typer.Option("--width", help="Terminal report width (default: the terminal's).")] = None,
) -> None:
    """Analyse a capture: overview, hottest functions with 95% intervals, splits, call chains."""
    from diagnose.pipeline import analyze as run_analysis

    analysis = run_analysis(input, event=event, jobs=jobs)
    for w in analysis.profile.capture.warnings:
        warn(w)
    emit_analysis(analysis, format, output, width=width)
