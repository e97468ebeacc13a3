"""The off-CPU files of a `diagnose run --off-cpu` folder: offcpu.perf.data (private, like
perf.data), offcpu.folded (blocked microseconds per thread and stack, stackcollapse's --tid form,
kernel frames marked _[k]), offcpu.svg (its flame graph), and the summary that environment.json
keeps under "off_cpu" (diagnose.expert.offcpu_summary.summary), which `diagnose analyze FOLDER` shows again."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diagnose.capture.capture_dir import OFFCPU_DATA, OFFCPU_FOLDED, OFFCPU_SVG, CaptureWriter
from diagnose.capture.capture_read import open_folder
from diagnose.core.errors import DiagnoseError
from diagnose.expert import offcpu_summary
from diagnose.expert.offcpu import EVENT
from diagnose.inputs.folded import read_folded
from diagnose.inputs.source import read_chunks

if TYPE_CHECKING:
    from diagnose.capture.offcpu_record import OffCpuRecorder
    from diagnose.report.flamegraph import FlameOptions

FILES = (OFFCPU_DATA, OFFCPU_FOLDED, OFFCPU_SVG)
# What the flame graph says instead of samples: its widths are microseconds blocked.
WORDS = {
    "en": {"title": "Off-CPU flame graph (time blocked, not CPU)", "samples": "µs blocked",
           "with_stack": "µs blocked (off-CPU)", "root": "all blocked time"},
    "zh": {"title": "离 CPU 火焰图（阻塞时间，而非 CPU）", "samples": "微秒阻塞", "with_stack": "微秒阻塞（离 CPU）",
           "root": "全部阻塞时间"},
}


def save(writer: CaptureWriter, perf: str, recorder: OffCpuRecorder, lang: str = "en") -> tuple[dict[str, Any], list[str]]:
    """offcpu.folded and offcpu.svg from the recording, and the summary for
    environment.json["off_cpu"] (or why there is none); with warnings to show."""
    # re2: loaded only when this runs
    from diagnose.capture import offcpu_record

    # re2, yaml: loaded only when this runs
    from diagnose.report.flamegraph import FlameOptions

    if writer.path(OFFCPU_DATA).exists():
        offcpu_record.chmod_private(writer.path(OFFCPU_DATA))
    if not recorder.recorded:
        # Not "missing" from the folder: never to be written; the summary and the warnings say why.
        writer.expected = [n for n in writer.expected if n not in FILES]
        return {"recorded": False, "why": recorder.problem}, []
    off, warnings = offcpu_record.read(perf, recorder)
    lines = off.folded_lines()
    writer.write(OFFCPU_FOLDED, "".join(f"{line}\n" for line in lines).encode("utf-8", "surrogateescape"))
    writer.write(OFFCPU_SVG, flamegraph(writer.path(OFFCPU_FOLDED), FlameOptions(lang=lang)).encode())
    result = offcpu_summary.summary(off, OFFCPU_FOLDED, OFFCPU_SVG)
    window = result["window"]["duration_s"]
    result["switch_outs_per_s"] = round(off.switch_outs / window, 3) if window else None
    result["perf_cpu_s"] = round(recorder.perf_cpu_s, 3) if recorder.perf_cpu_s is not None else None
    result["record_command"] = recorder.command
    result["perf_messages"] = recorder.messages
    result["warnings"] = warnings
    return result, warnings


def flamegraph(folded: Path, options: FlameOptions | None = None) -> str:
    """The off-CPU flame graph of an offcpu.folded: widths are microseconds blocked."""
    # re2, yaml: loaded only when this runs
    from diagnose.report.flamegraph import FlameOptions, render_profile

    opts = options or FlameOptions()
    words = WORDS.get(opts.lang, WORDS["en"])
    profile = read_folded(read_chunks(str(folded)), str(folded))
    profile.capture.event = EVENT
    title = opts.title or f"{words['title']}: {folded.parent.name}"
    return render_profile(profile, replace(opts, title=title), words_for=words)


def folded_of(folder: str) -> Path:
    """The offcpu.folded of a run folder; one line when it has none."""
    found = open_folder(folder).file("offcpu-folded")
    if found is None:
        raise DiagnoseError(f"{folder}: the capture has no off-CPU recording ({OFFCPU_FOLDED}); record one with "
                            f"`diagnose run --off-cpu`")
    return found
