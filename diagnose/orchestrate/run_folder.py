"""What a `diagnose run` capture folder needs from the stages above capture (which the folder, as
storage, must not import): the list of report files the render registry can write, the folded
stacks of the recorded profile, the reports, and the check of --format before recording."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from diagnose.capture.capture_dir import ENVIRONMENT, FOLDED, PERF_DATA, PERF_SCRIPT, REPORTS, CaptureWriter
from diagnose.capture.script_export import export_script
from diagnose.core.errors import DiagnoseError
from diagnose.inputs.collapse import CollapseOptions
from diagnose.orchestrate.pipeline import collapse_input
from diagnose.report.render import FORMATS, check_binary_output, render

if TYPE_CHECKING:
    from diagnose.expert.analysis import Analysis


def check_format(fmt: str) -> None:
    """A --format of `diagnose run` the reports can write (the terminal's "text" too)."""
    if fmt not in FORMATS and fmt != "text":
        raise DiagnoseError(f"unknown --format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    check_binary_output(fmt, None)


def expected_files() -> list[str]:
    """Every file a run writes, in manifest order (reports for the formats the registry has)."""
    return [PERF_DATA, ENVIRONMENT, PERF_SCRIPT, FOLDED, *(name for fmt, (name, _) in REPORTS.items() if fmt in FORMATS)]


def save_stacks(writer: CaptureWriter, perf: str, info: dict[str, Any],
                header_filter: Callable[[str], str] | None = None, path_filter: Callable[[str], str] | None = None) -> None:
    """The perf script text of perf.data (its header lines through header_filter, the modules'
    paths through path_filter), the folded stacks, and the manifest again."""
    export_script(perf, writer.path(PERF_DATA), writer.path(PERF_SCRIPT), header_filter, path_filter)
    folded, _ = collapse_input(str(writer.path(PERF_SCRIPT)), CollapseOptions(tid=True))
    writer.write(FOLDED, folded)
    writer.write_manifest(info)


def save_reports(writer: CaptureWriter, analysis: Analysis, info: dict[str, Any]) -> list[str]:
    """The reports of every file format the render registry has, then the final manifest."""
    written = []
    if "svg" in FORMATS:
        analysis.extra["flamegraph"] = REPORTS["svg"][0]  # the Markdown report links it
    for fmt, (name, _role) in REPORTS.items():
        if fmt in FORMATS:
            data = render(analysis, fmt, to_terminal=False)
            writer.write(name, data if isinstance(data, bytes) else data.encode())
            written.append(name)
    writer.write_manifest(info)
    return written
