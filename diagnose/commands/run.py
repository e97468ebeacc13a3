"""diagnose run: record running processes with perf, save a capture folder, and analyse it."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from diagnose.commands.common import check_fail_on, check_lang, check_width, gate, warn
from diagnose.core.errors import DiagnoseError
from diagnose.core.redact import HOST
from diagnose.inputs.source import CAPTURE_MANIFEST as _MANIFEST

if TYPE_CHECKING:
    from diagnose.capture.preflight import Plan
    from diagnose.capture.recorder import Companion, Recording, RecordSpec
    from diagnose.core.redact import Redactor
    from diagnose.expert.analysis import Analysis

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
    width: Annotated[Optional[int], typer.Option("--width", help="Terminal report width in columns, 40-1000 "
                                                 "(default: the terminal's).")] = None,
    keep_secrets: Annotated[bool, typer.Option(
        "--keep-secrets", help="Keep the targets' command lines as they are (by default values that look secret, "
                               "such as --password X, tokens and URL credentials, become [redacted]).")] = False,
    anonymize: Annotated[bool, typer.Option(
        "--anonymize", help="Also drop host names, user names and absolute paths (kept as their last part) from "
                            "the files meant to be shared and from the report.")] = False,
    all_functions: Annotated[bool, typer.Option("--all-functions", help="The JSON reports list every function, not "
                                                "only the top 200 by self and by inclusive samples.")] = False,
    no_thread_stats: Annotated[bool, typer.Option(
        "--no-thread-stats", help="Do not read the targets' per-thread CPU time, context switches and run-queue "
                                  "waits from /proc at the start and end of the recording.")] = False,
    syscall_counts_on: Annotated[bool, typer.Option(
        "--syscall-counts/--no-syscall-counts", help="Count the targets' system calls per call and per thread over "
                                                     "the recording (perf stat on the syscall tracepoints: about 0.05 "
                                                     "µs per call of the target).")] = True,
    off_cpu: Annotated[bool, typer.Option(
        "--off-cpu", help="Also record where the threads wait (sched:sched_switch with call chains, a second perf "
                          "record; needs root): time blocked by stack and reason, its own table and flame graph "
                          "(offcpu.svg), never mixed into the CPU shares. Costs per context switch.")] = False,
) -> None:
    """Record processes with perf (checked first), save everything in one capture folder
    (perf.data, perf script text, folded stacks, environment, reports, manifest) and print the
    report that `diagnose analyze FOLDER` gives."""
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.capture import capture_dir, environment, netstat, preflight, syscall_counts, threadstat
    from diagnose.capture.offcpu_record import OffCpuRecorder
    from diagnose.capture.recorder import RecordSpec
    from diagnose.core.output import write_output
    from diagnose.core.redact import Redactor
    from diagnose.orchestrate import offcpu_folder, run_folder
    from diagnose.orchestrate.pipeline import analyze
    from diagnose.report.render import render

    # A polite kill (SIGTERM) unwinds like Ctrl-C does: perf stopped, the unfinished folder removed
    # (or, once the capture is saved, kept with what is missing said in its manifest).
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    fmt = format.lower()
    check_lang(lang)
    check_fail_on(fail_on)
    check_width(width)
    request = preflight.RunRequest(tuple(pid or ()), name, duration, frequency, call_graph, out, (fmt,),
                                   run_folder.check_format)
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
    not_measured: list[str] = []  # one line per group of facts that could not be measured
    try:
        expected = [*run_folder.expected_files(), *(offcpu_folder.FILES if off_cpu else ())]
        with capture_dir.creating(plan.folder, expected) as writer, \
                syscall_counts.counting(plan.perf, plan.pids, syscall_counts_on) as counter:
            if counter is not None and counter.problem:
                not_measured.append(f"system-call counts not collected: {counter.problem}")
                warn(not_measured[-1])
            waits = OffCpuRecorder(plan.perf, plan.pids, call_graph, plan.folder / capture_dir.OFFCPU_DATA) \
                if off_cpu else None
            sockets_before = netstat.snapshot(list(plan.pids))
            threads = None if no_thread_stats else threadstat.Window(list(plan.pids), duration)
            companions = [c for c in (counter, waits) if c is not None]
            try:
                if waits is not None:
                    waits.start()
                recording = _record_with_progress(spec, plan, companions, threads.progress if threads else None)
                if waits is not None:
                    waits.finish()
            except BaseException:
                if waits is not None:
                    waits.close()  # given up on: killed, not left to finish
                raise
            env["network"] = netstat.difference(sockets_before, netstat.snapshot(list(plan.pids)))
            env[syscall_counts.KEY] = counter.finish() if counter is not None else syscall_counts.skipped()
            if counter is not None and "unavailable" in env[syscall_counts.KEY] and not not_measured:
                not_measured.append(f"system-call counts not collected: {env[syscall_counts.KEY]['unavailable']}")
                warn(not_measured[-1])
            if threads is not None and (measured := threads.finish()) is not None:
                env["threads"] = measured
                if (unread := threadstat.unread(measured)) is not None:
                    not_measured.append(unread)
                    warn(unread)
            more = [waits.problem] if waits is not None and waits.problem else []
            said = [*recording.warnings, *netstat.not_collected(env["network"]), *more]
            for w in said:
                warn(quiet.text(w))  # now, not after the analysis: the user may be waiting on a Ctrl-C
            info = redactor.value(capture_dir.manifest_info(
                redactor.argv(["diagnose", *sys.argv[1:]]), plan.perf_version, spec, recording, name,
                [*plan.warnings, *not_measured, *said]))
            env = environment.with_recording(env, capture_dir.recorded_facts(spec, recording))
            env["redaction"] = info["redaction"] = redactor.summary()
            stage = "saving the environment"
            try:
                capture_dir.save_recording(writer, env, info)
                stage = "writing the perf script text and folded stacks"
                run_folder.save_stacks(writer, plan.perf, info, quiet.text, quiet.anonymous if anonymize else None)
                if waits is not None:
                    stage = "reading the off-CPU recording"
                    env["off_cpu"], notes = offcpu_folder.save(writer, plan.perf, waits, lang)
                    info["warnings"] += [quiet.text(w) for w in notes]
                    more += notes
                    capture_dir.save_recording(writer, env, info)
                stage = "analysing the capture"
                analysis = analyze(str(plan.folder), rules=rules, lang=lang)
                analysis.all_functions = all_functions
                _redact_report(analysis, quiet)
                stage = "writing the reports"
                run_folder.save_reports(writer, analysis, info)
            except BaseException as exc:
                if writer.saved:  # the capture is kept: its manifest says what is missing and why
                    writer.keep(info, f"not written: {_why(exc, stage)}")
                raise
    except (KeyboardInterrupt, SystemExit, DiagnoseError, OSError) as exc:
        raise _failure(exc, plan.folder, writer is not None and writer.saved, stage) from None
    shown = {quiet.text(w) for w in (*plan.warnings, *not_measured, *said)}
    for w in analysis.profile.capture.warnings:
        if w not in shown:
            warn(w)
    if analysis.ruleset is not None:
        for note in analysis.ruleset.notes:
            warn(note)
    if "flamegraph" in analysis.extra:  # the terminal report points to it where it is
        analysis.extra["flamegraph"] = str(plan.folder / str(analysis.extra["flamegraph"]))
    write_output(render(analysis, fmt, to_terminal=True, width=width), None)
    cap = analysis.profile.capture
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.commands.common import say_line

    say_line(f"capture saved in {plan.folder}/ ({cap.total_samples:,} samples of pid "
             f"{', '.join(map(str, plan.pids))} over {recording.duration_s:.1f} s); "
             f"analyse it again with `diagnose analyze {plan.folder}`")
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
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.expert.knowledge import builtin_knowledge
    from diagnose.expert.rules import load_packs

    load_packs(rules, builtin_knowledge())


def _record_with_progress(spec: RecordSpec, plan: Plan, companions: list[Companion],
                          also: Callable[[float], None] | None = None) -> Recording:
    """The recording, with a progress bar over its duration on a terminal (refreshed from the
    recorder's callback: no refresh thread, so perf is started from a single-threaded process),
    else one line once the recording has started. `also` is called with every progress too."""
    # imported when the command runs: diagnose.cli loads every command module for --help
    from rich.console import Console
    from rich.markup import escape as markup_escape
    from rich.progress import BarColumn, Progress, TextColumn

    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.capture.recorder import record
    from diagnose.core.escape import terminal

    # A process names itself (comm): shown escaped, never as control characters or rich markup.
    who = terminal(", ".join(f"{t.pid} ({t.comm})" for t in plan.targets))
    console = Console(stderr=True)
    if not console.is_terminal:
        said: list[bool] = []

        def started(elapsed: float) -> None:
            # Said once perf has enabled its events, so that the line marks the recording's start.
            if also is not None:
                also(elapsed)
            if not said:
                said.append(True)
                # imported when the command runs: diagnose.cli loads every command module for --help
                from diagnose.commands.common import say_line

                say_line(f"recording pid {who} for {spec.duration_s:g} s (Ctrl-C stops early)")

        return record(spec, started, companions)
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.core.messages import current_lang

    zh = current_lang() == "zh"
    columns = (TextColumn("正在录制 pid {task.description}" if zh else "recording pid {task.description}"), BarColumn(),
               TextColumn("{task.completed:.0f}/{task.total:g} s" + ("（按 Ctrl-C 可提前停止）" if zh
                                                                        else "  (Ctrl-C stops early)")))
    with Progress(*columns, console=console, auto_refresh=False, transient=True) as progress:
        task = progress.add_task(markup_escape(who), total=spec.duration_s)

        def tick(elapsed: float) -> None:
            if also is not None:
                also(elapsed)
            progress.update(task, completed=elapsed)
            progress.refresh()

        return record(spec, tick, companions)
