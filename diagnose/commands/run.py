"""diagnose run: record running processes with perf, save a capture folder, and analyse it."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from diagnose.commands.common import check_fail_on, check_lang, gate, warn
from diagnose.errors import DiagnoseError

if TYPE_CHECKING:
    from diagnose.preflight import Plan
    from diagnose.recorder import Recording, RecordSpec

# Like a shell's exit code for a process ended by SIGINT.
EXIT_INTERRUPTED = 130


def command(
    pid: Annotated[Optional[list[int]], typer.Option("--pid", help="A process to record (repeatable).")] = None,
    name: Annotated[Optional[str], typer.Option(
        "--name", help="Also record every process whose name or command line contains a match of this "
                       "RE2 regular expression (^ and $ anchor it).")] = None,
    duration: Annotated[float, typer.Option("--duration", help="Seconds to record; Ctrl-C stops early "
                                                               "and analyses what was recorded.")] = 30.0,
    frequency: Annotated[int, typer.Option("--frequency", help="Samples per second (perf record -F).")] = 99,
    call_graph: Annotated[str, typer.Option("--call-graph", help="fp (frame pointers, small) or dwarf "
                                                                 "(works without frame pointers, large).")] = "fp",
    out: Annotated[Optional[Path], typer.Option("--out", help="The capture folder to create (default: "
                                                              "./diagnose-DATE-TIME-PID).")] = None,
    rules: Annotated[Optional[list[str]], typer.Option("--rules", help="A rule pack file or folder (repeatable); "
                                                       "also $DIAGNOSE_RULES_PATH.")] = None,
    lang: Annotated[str, typer.Option("--lang", help="Report language: en or zh.")] = "en",
    fail_on: Annotated[Optional[str], typer.Option("--fail-on", help="Exit with code 3 if a finding is at or above "
                                                   "this severity (info, low, medium, high, critical).")] = None,
    format: Annotated[str, typer.Option("--format", help="How to print the report: terminal, json.")] = "terminal",
    all_functions: Annotated[bool, typer.Option("--all-functions", help="The JSON reports list every function, not "
                                                "only the top 200 by self and by inclusive samples.")] = False,
) -> None:
    """Record processes with perf (checked first), save everything in one capture folder
    (perf.data, perf script text, folded stacks, environment, reports, manifest) and print the
    report that `diagnose analyze FOLDER` gives."""
    from diagnose import capture_dir, environment, netstat, preflight
    from diagnose.pipeline import analyze
    from diagnose.recorder import RecordSpec
    from diagnose.report.output import write_output
    from diagnose.report.render import render

    # A polite kill (SIGTERM) unwinds like Ctrl-C does: perf stopped, the unfinished folder removed.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    fmt = format.lower()
    check_lang(lang)
    check_fail_on(fail_on)
    request = preflight.RunRequest(tuple(pid or ()), name, duration, frequency, call_graph, out, (fmt,))
    plan = preflight.check(request)
    _check_rules(rules)
    for w in plan.warnings:
        warn(w)
    env = environment.collect(list(plan.pids))
    spec = RecordSpec(plan.perf, plan.pids, duration, frequency, call_graph, plan.folder / capture_dir.PERF_DATA)
    try:
        with capture_dir.creating(plan.folder) as writer:
            sockets_before = netstat.snapshot(list(plan.pids))
            recording = _record_with_progress(spec, plan)
            env["network"] = netstat.difference(sockets_before, netstat.snapshot(list(plan.pids)))
            for w in recording.warnings:
                warn(w)  # now, not after the analysis: the user may be waiting on a Ctrl-C
            info = capture_dir.manifest_info(["diagnose", *sys.argv[1:]], plan.perf_version, spec, recording,
                                             name, [*plan.warnings, *recording.warnings])
            recorded = capture_dir.recorded_facts(spec, recording)
            capture_dir.save_recording(writer, plan.perf, environment.with_recording(env, recorded), info)
            analysis = analyze(str(plan.folder), rules=rules, lang=lang)
            analysis.all_functions = all_functions
            capture_dir.save_reports(writer, analysis, info)
    except KeyboardInterrupt:
        raise DiagnoseError(f"interrupted before the capture was saved; removed the unfinished folder "
                            f"{plan.folder}", exit_code=EXIT_INTERRUPTED) from None
    shown = {*plan.warnings, *recording.warnings}
    for w in analysis.profile.capture.warnings:
        if w not in shown:
            warn(w)
    if analysis.ruleset is not None:
        for note in analysis.ruleset.notes:
            warn(note)
    write_output(render(analysis, fmt, to_terminal=True), None)
    cap = analysis.profile.capture
    print(f"diagnose: capture saved in {plan.folder}/ ({cap.total_samples:,} samples of pid "
          f"{', '.join(map(str, plan.pids))} over {recording.duration_s:.1f} s); "
          f"analyse it again with `diagnose analyze {plan.folder}`", file=sys.stderr)
    gate(analysis, fail_on)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _check_rules(rules: list[str] | None) -> None:
    """Load the rule packs before recording, so that a mistake in one costs no capture."""
    from diagnose.knowledge import builtin_knowledge
    from diagnose.rules import load_packs

    load_packs(rules, builtin_knowledge())


def _record_with_progress(spec: RecordSpec, plan: Plan) -> Recording:
    """The recording, with a progress bar over its duration on a terminal (refreshed from the
    recorder's callback: no refresh thread, so perf is started from a single-threaded process)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    from diagnose.recorder import record

    who = ", ".join(f"{t.pid} ({t.comm})" for t in plan.targets)
    console = Console(stderr=True)
    if not console.is_terminal:
        print(f"diagnose: recording pid {who} for {spec.duration_s:g} s (Ctrl-C stops early)", file=sys.stderr)
        return record(spec)
    columns = (TextColumn("recording pid {task.description}"), BarColumn(),
               TextColumn("{task.completed:.0f}/{task.total:g} s  (Ctrl-C stops early)"))
    with Progress(*columns, console=console, auto_refresh=False, transient=True) as progress:
        task = progress.add_task(who, total=spec.duration_s)

        def tick(elapsed: float) -> None:
            progress.update(task, completed=elapsed)
            progress.refresh()

        return record(spec, tick)
