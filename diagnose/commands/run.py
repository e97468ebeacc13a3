"""diagnose run: record running processes with perf, save a capture folder, and analyse it."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from diagnose.commands.common import check_fail_on, check_lang, gate, warn
from diagnose.errors import DiagnoseError
from diagnose.inputs.source import CAPTURE_MANIFEST as _MANIFEST
from diagnose.redact import HOST

if TYPE_CHECKING:
    from diagnose.analysis import Analysis
    from diagnose.preflight import Plan
    from diagnose.recorder import Recording, RecordSpec
    from diagnose.redact import Redactor

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
    keep_secrets: Annotated[bool, typer.Option(
        "--keep-secrets", help="Keep the targets' command lines as they are (by default values that look secret, "
                               "such as --password X, tokens and URL credentials, become [redacted]).")] = False,
    anonymize: Annotated[bool, typer.Option(
        "--anonymize", help="Also drop host names, user names and absolute paths (kept as their last part) from "
                            "the files meant to be shared and from the report.")] = False,
    all_functions: Annotated[bool, typer.Option("--all-functions", help="The JSON reports list every function, not "
                                                "only the top 200 by self and by inclusive samples.")] = False,
) -> None:
    """Record processes with perf (checked first), save everything in one capture folder
    (perf.data, perf script text, folded stacks, environment, reports, manifest) and print the
    report that `diagnose analyze FOLDER` gives."""
    from diagnose import capture_dir, environment, netstat, preflight
    from diagnose.pipeline import analyze
    from diagnose.recorder import RecordSpec
    from diagnose.redact import Redactor
    from diagnose.report.output import write_output
    from diagnose.report.render import render

    # A polite kill (SIGTERM) unwinds like Ctrl-C does: perf stopped, the unfinished folder removed
    # (or, once the capture is saved, kept with what is missing said in its manifest).
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    fmt = format.lower()
    check_lang(lang)
    check_fail_on(fail_on)
    request = preflight.RunRequest(tuple(pid or ()), name, duration, frequency, call_graph, out, (fmt,))
    plan = preflight.check(request)
    _check_rules(rules)
    # Secrets never reach a file or the terminal: redacted as soon as they are read.
    redactor = Redactor.for_machine(keep_secrets, anonymize, [t.uid for t in plan.targets])
    quiet = redactor.uncounted()
    for w in plan.warnings:
        warn(quiet.text(w))
    env = redactor.environment(environment.collect(list(plan.pids)))
    spec = RecordSpec(plan.perf, plan.pids, duration, frequency, call_graph, plan.folder / capture_dir.PERF_DATA)
    writer: capture_dir.CaptureWriter | None = None
    stage: str | None = None  # what saving was doing, once perf.data is there
    try:
        with capture_dir.creating(plan.folder, capture_dir.expected_files()) as writer:
            sockets_before = netstat.snapshot(list(plan.pids))
            recording = _record_with_progress(spec, plan)
            env["network"] = netstat.difference(sockets_before, netstat.snapshot(list(plan.pids)))
            said = [*recording.warnings, *netstat.not_collected(env["network"])]
            for w in said:
                warn(quiet.text(w))  # now, not after the analysis: the user may be waiting on a Ctrl-C
            info = redactor.value(capture_dir.manifest_info(
                redactor.argv(["diagnose", *sys.argv[1:]]), plan.perf_version, spec, recording, name,
                [*plan.warnings, *said]))
            env = environment.with_recording(env, capture_dir.recorded_facts(spec, recording))
            env["redaction"] = info["redaction"] = redactor.summary()
            stage = "saving the environment"
            try:
                capture_dir.save_recording(writer, env, info)
                stage = "writing the perf script text and folded stacks"
                capture_dir.save_stacks(writer, plan.perf, info, quiet.text, quiet.anonymous if anonymize else None)
                stage = "analysing the capture"
                analysis = analyze(str(plan.folder), rules=rules, lang=lang)
                analysis.all_functions = all_functions
                _redact_report(analysis, quiet)
                stage = "writing the reports"
                capture_dir.save_reports(writer, analysis, info)
            except BaseException as exc:
                if writer.saved:  # the capture is kept: its manifest says what is missing and why
                    writer.keep(info, f"not written: {_why(exc, stage)}")
                raise
    except (KeyboardInterrupt, SystemExit, DiagnoseError, OSError) as exc:
        raise _failure(exc, plan.folder, writer is not None and writer.saved, stage) from None
    shown = {quiet.text(w) for w in (*plan.warnings, *said)}
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


def _why(exc: BaseException, stage: str | None) -> str:
    """Why saving stopped, in a few words (for the manifest's "missing" and the error line)."""
    while_ = f" while {stage}" if stage else ""
    if isinstance(exc, KeyboardInterrupt):
        return f"interrupted (Ctrl-C){while_}"
    if isinstance(exc, SystemExit):
        return f"diagnose was stopped (exit code {exc.code}){while_}"
    if isinstance(exc, DiagnoseError):
        return f"{while_.strip()}: {exc.message}" if stage else exc.message
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}{while_}"
    return f"{type(exc).__name__}{while_}"


def _failure(exc: BaseException, folder: Path, kept: bool, stage: str | None) -> BaseException:
    """The one line for a run that did not finish: whether the capture was kept, and what now."""
    if kept:
        what = f"kept the capture in {folder} ({_MANIFEST} lists what is missing); analyse it with " \
               f"`diagnose analyze {folder}`"
        if isinstance(exc, KeyboardInterrupt):
            return DiagnoseError(f"interrupted while {stage}; {what}", exit_code=EXIT_INTERRUPTED)
        if isinstance(exc, SystemExit):
            print(f"diagnose: stopped while {stage}; {what}", file=sys.stderr)
            return exc
        return DiagnoseError(f"could not finish saving the capture ({_why(exc, stage)}); {what}",
                             exit_code=exc.exit_code if isinstance(exc, DiagnoseError) else 2)
    if isinstance(exc, KeyboardInterrupt):
        return DiagnoseError(f"interrupted before the capture was saved; removed the unfinished folder {folder}",
                             exit_code=EXIT_INTERRUPTED)
    if isinstance(exc, OSError):
        return DiagnoseError(f"could not save the capture ({_why(exc, None)}); removed the unfinished folder "
                             f"{folder}; free some space or choose another --out")
    return exc


def _redact_report(analysis: Analysis, redactor: Redactor) -> None:
    """What the reports show of the capture that did not come from the redacted files: its path,
    perf's command line, the host name, the warnings."""
    cap = analysis.profile.capture
    cap.source = redactor.text(cap.source)
    cap.command = redactor.text(cap.command) if cap.command else cap.command
    if redactor.anonymize and cap.hostname:
        cap.hostname = HOST
    cap.warnings = [redactor.text(w) for w in cap.warnings]


def _check_rules(rules: list[str] | None) -> None:
    """Load the rule packs before recording, so that a mistake in one costs no capture."""
    from diagnose.knowledge import builtin_knowledge
    from diagnose.rules import load_packs

    load_packs(rules, builtin_knowledge())


def _record_with_progress(spec: RecordSpec, plan: Plan) -> Recording:
    """The recording, with a progress bar over its duration on a terminal (refreshed from the
    recorder's callback: no refresh thread, so perf is started from a single-threaded process),
    else one line once the recording has started."""
    from rich.console import Console
    from rich.markup import escape as markup_escape
    from rich.progress import BarColumn, Progress, TextColumn

    from diagnose.recorder import record
    from diagnose.report.escape import terminal

    # A process names itself (comm): shown escaped, never as control characters or rich markup.
    who = terminal(", ".join(f"{t.pid} ({t.comm})" for t in plan.targets))
    console = Console(stderr=True)
    if not console.is_terminal:
        said: list[bool] = []

        def started(elapsed: float) -> None:
            # Said once perf has enabled its events, so that the line marks the recording's start.
            if not said:
                said.append(True)
                print(f"diagnose: recording pid {who} for {spec.duration_s:g} s (Ctrl-C stops early)", file=sys.stderr)

        return record(spec, started)
    columns = (TextColumn("recording pid {task.description}"), BarColumn(),
               TextColumn("{task.completed:.0f}/{task.total:g} s  (Ctrl-C stops early)"))
    with Progress(*columns, console=console, auto_refresh=False, transient=True) as progress:
        task = progress.add_task(markup_escape(who), total=spec.duration_s)

        def tick(elapsed: float) -> None:
            progress.update(task, completed=elapsed)
            progress.refresh()

        return record(spec, tick)
