"""diagnose explain: re-render a saved JSON report; how a finding was reached, why a rule did not fire."""

from __future__ import annotations

import shutil
import sys
from typing import Annotated, Optional

import typer

from diagnose.commands.common import check_lang, check_width
from diagnose.core.output import check_output, write_output


def command(
    report: Annotated[str, typer.Argument(help="A report written by `diagnose analyze --format json` (or report.json of a run).")],
    finding: Annotated[Optional[str], typer.Option("--finding", help="Show how this finding (rule id) was reached.")] = None,
    rule: Annotated[Optional[str], typer.Option("--rule", help="Show how this rule was evaluated, and why it did not fire.")] = None,
    lang: Annotated[Optional[str], typer.Option("--lang", help="en or zh (default: the report's language).")] = None,
    output: Annotated[Optional[str], typer.Option("-o", "--output", help="Write to FILE instead of stdout.")] = None,
    width: Annotated[Optional[int], typer.Option("--width", help="Width in columns, 40-1000 (default: the terminal's).")] = None,
) -> None:
    """Explain a saved report without the capture: findings, conditions and thresholds, evidence, why-not."""
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.report.explain_view import load_report, render_explain

    check_width(width)
    check_output(output)
    data = load_report(report)
    chosen = check_lang(lang or data.get("lang") or "en")
    to_tty = output is None and sys.stdout.isatty()
    w = width or (shutil.get_terminal_size((110, 40)).columns if output is None else 110)
    write_output(render_explain(data, finding, rule, chosen, w, to_tty), output)
