"""Many captures at once (`diagnose analyze A B C ...`, or a folder of captures): which inputs
are captures, each analysed in its own process, and the merged profile of them all analysed
once more. The renderers (diagnose.report.fleet_*) read the Fleet this returns."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diagnose.capture.capture_read import looks_like_capture
from diagnose.core.errors import DiagnoseError
from diagnose.expert.fleet_result import CELL_FIELDS, CaptureResult, Fleet
from diagnose.inputs import perf_early
from diagnose.inputs.perf_reader import default_jobs
from diagnose.inputs.source import CAPTURE_MANIFEST, detect
from diagnose.orchestrate.fleet_merge import merge

__all__ = ["CELL_FIELDS", "CaptureResult", "Fleet", "analyse_many", "analyse_one", "discover", "is_many",
           "result_of", "run", "short_labels"]

if TYPE_CHECKING:
    from diagnose.expert.analysis import Analysis
    from diagnose.model.select import Selection

def is_many(inputs: list[str]) -> bool:
    """Two or more inputs, or one folder that is not itself a capture (no manifest.json, not
    the folder of a `diagnose run` that did not finish): the many-captures report."""
    if len(inputs) > 1:
        return True
    return len(inputs) == 1 and _is_collection(inputs[0])


def _is_collection(path: str) -> bool:
    if not os.path.isdir(path) or os.path.lexists(os.path.join(path, CAPTURE_MANIFEST)):
        return False
    return not looks_like_capture(Path(path))


def discover(inputs: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """The captures the inputs name and what a folder held that is not one, with why. An input
    named on the command line is always a capture (a bad one fails in the table); a folder that
    is not a capture is looked into (not recursively): its run folders and the files whose
    content is a profile count, sorted by name; hidden entries and everything else are skipped."""
    captures: list[str] = []
    skipped: list[tuple[str, str]] = []
    for given in inputs:
        if not _is_collection(given):
            captures.append(given)
            continue
        try:
            names = sorted(os.listdir(given))
        except OSError as exc:
            raise DiagnoseError(f"{given}: cannot list the folder ({exc.strerror}); check its permissions") from None
        found = 0
        for name in names:
            path = os.path.join(given, name)
            if name.startswith("."):
                skipped.append((path, "hidden"))
                continue
            if os.path.isdir(path):
                if _is_collection(path):
                    skipped.append((path, "a folder that is not a capture (folders are not searched recursively)"))
                else:
                    captures.append(path)
                    found += 1
                continue
            try:
                detect(path)
            except DiagnoseError as exc:
                skipped.append((path, _reason(exc.message, path)))
                continue
            captures.append(path)
            found += 1
        if not found:
            raise DiagnoseError(f"{given}: a directory without a capture manifest, and no captures in it (perf "
                                f"script text, folded stacks, perf.data, pprof or `diagnose run` folders); pass "
                                f"captures or a folder that holds some")
    return captures, skipped


def _reason(message: str, path: str) -> str:
    """The error without the path it starts with (`PATH: ` or `PATH:LINE: `)."""
    if message.startswith(path + ":"):
        rest = message[len(path) + 1:]
        line, sep, after = rest.partition(": ")
        if sep and (line.isdigit() or not line):
            return (f"line {line}: " if line else "") + after
        return rest.lstrip()
    return message


def short_labels(paths: list[str]) -> list[str]:
    """Names for the table: the paths without the folder they share and without the ending
    every file name shares (`.perf.txt.gz`), each still unique."""
    stripped = [p.rstrip(os.sep) or p for p in paths]
    parents = {os.path.dirname(p) for p in stripped}
    names = [os.path.basename(p) for p in stripped] if len(parents) == 1 else list(stripped)
    if len(names) > 1:
        suffix = os.path.commonprefix([n[::-1] for n in names])[::-1]
        dot = suffix.find(".")
        suffix = suffix[dot:] if dot >= 0 else ""
        if suffix and all(len(n) > len(suffix) for n in names):
            names = [n[: -len(suffix)] for n in names]
    if len(set(names)) < len(names):
        names = list(stripped)
    return names


def analyse_one(index: int, path: str, event: str | None, rules: list[str] | None, lang: str,
                chosen: dict[str, list[Any]] | None = None) -> CaptureResult:
    """Analyse one capture (in a worker process): parse in this process only, so that the
    worker processes are the only parallelism. `chosen` is Selection.to_dict() (compiled RE2
    patterns do not cross processes; they are compiled again here)."""
    # re2: loaded only when this runs
    from diagnose.model.select import selection
    from diagnose.orchestrate.pipeline import analyze

    try:
        sel = selection(chosen["pids"], chosen["tids"], chosen["comms"]) if chosen else None
        analysis = analyze(path, event=event, jobs=1, rules=rules, lang=lang, selection=sel)
    except DiagnoseError as exc:
        return CaptureResult(index, path, error=exc.message)
    return result_of(index, path, analysis)


def result_of(index: int, path: str, analysis: Analysis) -> CaptureResult:
    p, cap = analysis.profile, analysis.profile.capture
    findings = []
    for f in analysis.findings:
        d = f.to_dict(analysis.lang)
        findings.append({k: d[k] for k in CELL_FIELDS})
    return CaptureResult(
        index, path, format=cap.format, event=cap.event, frequency_hz=cap.frequency_hz, duration_s=cap.duration_s,
        total_samples=cap.total_samples, stack_samples=p.stack_samples, cores_used=analysis.summary.cores_used,
        truncated=cap.truncated, kernel_frames_known=cap.kernel_frames_known, warnings=list(cap.warnings),
        findings=findings, frames=list(p.frames), threads=list(p.threads),
        stacks=[(s.thread, s.frames, s.samples, s.weight) for s in p.stacks])


def analyse_many(paths: list[str], event: str | None, rules: list[str] | None, lang: str,
                 jobs: int | None, chosen: dict[str, list[Any]] | None = None) -> list[CaptureResult]:
    """Each capture in a process of its own, at most `jobs` at once; results in input order."""
    perf_early.end_unused()  # started for one capture; these are many, each read on its own
    workers = max(1, min(default_jobs() if jobs is None else jobs, len(paths)))
    if workers == 1:
        return [analyse_one(i, p, event, rules, lang, chosen) for i, p in enumerate(paths)]
    results: list[CaptureResult | None] = [None] * len(paths)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(analyse_one, i, p, event, rules, lang, chosen) for i, p in enumerate(paths)]
        for i, fut in enumerate(futures):
            try:
                results[i] = fut.result()
            except BrokenProcessPool:
                results[i] = CaptureResult(i, paths[i], error=f"{paths[i]}: the process analysing it ended abruptly "
                                           f"(out of memory?); analyse it on its own to see why")
    return [r for r in results if r is not None]


def run(inputs: list[str], event: str | None = None, rules: list[str] | None = None, lang: str = "en",
        jobs: int | None = None, selection: Selection | None = None) -> Fleet:
    paths, skipped = discover(inputs)
    captures = analyse_many(paths, event, rules, lang, jobs, selection.to_dict() if selection else None)
    fleet = Fleet(captures=captures, labels=short_labels(paths), skipped=skipped, lang=lang)
    merge(fleet, rules)
    return fleet
