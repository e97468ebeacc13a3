"""What several commands share: warnings on stderr, and rendering an analysis to stdout or a file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from diagnose.report.output import write_output

if TYPE_CHECKING:
    from diagnose.analysis import Analysis


def warn(message: str) -> None:
    print(f"diagnose: warning: {message}", file=sys.stderr)


def emit_analysis(analysis: Analysis, fmt: str, output: Path | None, width: int | None = None) -> None:
    from diagnose.report.render import render

    write_output(render(analysis, fmt.lower(), to_terminal=output is None, width=width), output)
