"""The `diagnose` command line: parses arguments, calls the pipeline, prints or writes the result."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from diagnose.errors import DiagnoseError
from diagnose.report.output import write_output

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Diagnose CPU profiles (perf) of Linux processes, first of all real-time media (WebRTC) processes.",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Diagnose CPU profiles (perf) of Linux processes, first of all real-time media (WebRTC) processes."""


def _warn(message: str) -> None:
    print(f"diagnose: warning: {message}", file=sys.stderr)


@app.command()
def collapse(
    input: Annotated[str, typer.Argument(help="perf script text (gzip ok), perf.data, or a capture folder.")],
    pid: Annotated[bool, typer.Option("--pid", help="Root frame comm-PID.")] = False,
    tid: Annotated[bool, typer.Option("--tid", help="Root frame comm-PID/TID.")] = False,
    kernel: Annotated[bool, typer.Option("--kernel", help="Suffix kernel frames with _\\[k].")] = False,
    jit: Annotated[bool, typer.Option("--jit", help="Suffix JIT frames with _\\[j].")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Both --kernel and --jit.")] = False,
    addrs: Annotated[bool, typer.Option("--addrs", help="Keep raw addresses of unknown symbols.")] = False,
    event: Annotated[Optional[str], typer.Option("--event", help="Event to fold (default: the first in the input).")] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write to FILE instead of stdout.")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Parser processes (default: CPU count).")] = None,
) -> None:
    """Write folded stacks (`a;b;c count`) exactly as stackcollapse-perf.pl does."""
    from diagnose.collapse import CollapseOptions
    from diagnose.pipeline import collapse_input

    opts = CollapseOptions(pid=pid, tid=tid, kernel=kernel or all_, jit=jit or all_, addrs=addrs, event=event)
    text, warnings = collapse_input(input, opts, jobs=jobs)
    for w in warnings:
        _warn(w)
    write_output(text, output)


@app.command()
def analyze(
    input: Annotated[str, typer.Argument(help="perf script text (gzip ok), folded stacks, perf.data, or a capture folder.")],
    format: Annotated[str, typer.Option("--format", "-f", help="terminal, json.")] = "terminal",
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write to FILE instead of stdout.")] = None,
    event: Annotated[Optional[str], typer.Option("--event", help="Event to analyse (default: the CPU-time event).")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Parser processes (default: CPU count).")] = None,
    width: Annotated[Optional[int], typer.Option("--width", help="Terminal report width (default: the terminal's).")] = None,
) -> None:
    """Analyse a capture: overview, hottest functions with 95% intervals, splits, call chains."""
    from diagnose.pipeline import analyze as run_analysis
    from diagnose.report.render import render

    fmt = format.lower()
    analysis = run_analysis(input, event=event, jobs=jobs)
    for w in analysis.profile.capture.warnings:
        _warn(w)
    write_output(render(analysis, fmt, to_terminal=output is None, width=width), output)


def main() -> None:
    """Console entry point: one clear line and exit code 2 on bad input, never a traceback.
    Usage errors are reported by typer itself (exit code 2)."""
    try:
        app()
    except DiagnoseError as exc:
        print(f"diagnose: error: {exc.message}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("diagnose: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
