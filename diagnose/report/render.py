"""The one registry of output formats: name -> renderer."""

from __future__ import annotations

import shutil
import sys

from diagnose.core.errors import DiagnoseError
from diagnose.expert.analysis import Analysis
from diagnose.report.pprof_out import render_pprof
from diagnose.report.speedscope import render_speedscope

FORMATS = ("terminal", "json", "markdown", "html", "svg", "pprof", "speedscope")
ALIASES = {"md": "markdown", "text": "terminal", "htm": "html"}
# Formats that are not text: never written to a terminal.
BINARY = ("pprof",)


def check_binary_output(fmt: str, output: str | None) -> None:
    """Refuse, before any work, to write a binary format to a terminal."""
    if fmt.lower() in BINARY and (output is None or output == "-") and sys.stdout is not None and sys.stdout.isatty():
        raise DiagnoseError(f"--format {fmt.lower()} is binary (a gzip'd profile) and standard output is a terminal; "
                            f"write it to a file with -o FILE, or redirect the output")


def render(analysis: Analysis, fmt: str, to_terminal: bool, width: int | None = None) -> str | bytes:
    fmt = ALIASES.get(fmt, fmt)
    if fmt == "pprof":
        if to_terminal:
            check_binary_output(fmt, None)
        return render_pprof(analysis.profile)
    if fmt == "speedscope":
        return render_speedscope(analysis.profile)
    if fmt == "json":
        # networkx, re2, yaml: loaded only when this runs
        from diagnose.report.json_report import render_json

        return render_json(analysis)
    if fmt == "markdown":
        # networkx, re2, yaml: loaded only when this runs
        from diagnose.report.markdown import render_markdown

        return render_markdown(analysis)
    if fmt == "html":
        # yaml: loaded only when this runs
        from diagnose.report.html import render_html

        return render_html(analysis)
    if fmt == "svg":
        # re2, yaml: loaded only when this runs
        from diagnose.report.flamegraph import render_flamegraph

        return render_flamegraph(analysis)
    if fmt == "terminal":
        # networkx, re2, rich, yaml: loaded only when this runs
        from diagnose.report.terminal import render_terminal

        color = to_terminal and sys.stdout.isatty()
        w = width or (shutil.get_terminal_size((110, 40)).columns if to_terminal else 110)
        return render_terminal(analysis, width=w, color=color)
    raise DiagnoseError(f"unknown --format {fmt!r}; choose one of: {', '.join(FORMATS)}")
