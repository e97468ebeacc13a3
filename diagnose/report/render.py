"""The one registry of output formats: name -> renderer."""

from __future__ import annotations

import shutil
import sys

from diagnose.analysis import Analysis
from diagnose.errors import DiagnoseError

FORMATS = ("terminal", "json", "markdown", "svg")
ALIASES = {"md": "markdown", "text": "terminal"}


def render(analysis: Analysis, fmt: str, to_terminal: bool, width: int | None = None) -> str:
    fmt = ALIASES.get(fmt, fmt)
    if fmt == "json":
        from diagnose.report.json_report import render_json

        return render_json(analysis)
    if fmt == "markdown":
        from diagnose.report.markdown import render_markdown

        return render_markdown(analysis)
    if fmt == "svg":
        from diagnose.report.flamegraph import render_flamegraph

        return render_flamegraph(analysis)
    if fmt == "terminal":
        from diagnose.report.terminal import render_terminal

        color = to_terminal and sys.stdout.isatty()
        w = width or (shutil.get_terminal_size((110, 40)).columns if to_terminal else 110)
        return render_terminal(analysis, width=w, color=color)
    raise DiagnoseError(f"unknown --format {fmt!r}; choose one of: {', '.join(FORMATS)}")
