"""Wires the stages together: input -> parse -> profile -> (call graph, summaries, findings).
The command line only parses arguments and calls these functions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from diagnose.inputs.collapse import CollapseOptions, fold, folded_lines
from diagnose.core.errors import DiagnoseError
from diagnose.inputs.folded import collapse_folded, read_folded
from diagnose.inputs.perf_profile import build_profile
from diagnose.inputs.perf_reader import parse_file_in_parts
from diagnose.inputs.source import InputSource, detect, read_chunks
from diagnose.model.idle import is_idle_task, without_idle
from diagnose.model.profile import Profile
from diagnose.model.programs import several_without_pids
from diagnose.model.select import Selection, select

from diagnose.orchestrate import preload
from diagnose.orchestrate.perf_read import parse_warnings, read_perf, require_samples

if TYPE_CHECKING:
    from diagnose.expert.analysis import Analysis


def resolve(path: str) -> InputSource:
    if os.path.isdir(path):
        # A capture folder (or one that did not finish: capture_read says so in one line).
        from diagnose.capture.capture_read import stacks_file

        inner = stacks_file(path)
        inner_source = detect(inner)
        inner_source.path = inner
        return inner_source
    return detect(path)


def collapse_input(path: str, opts: CollapseOptions, jobs: int | None = None,
                   selection: Selection | None = None) -> tuple[bytes, list[str]]:
    pieces, warnings = collapse_stream(path, opts, jobs, selection)
    return b"".join(pieces), warnings


def collapse_stream(path: str, opts: CollapseOptions, jobs: int | None = None,
                    selection: Selection | None = None) -> tuple[Iterator[bytes], list[str]]:
    """The folded output in pieces (written as they come, never held whole), and the warnings.
    With a selection (--only-pid, --only-tid, --comm), only the selected threads' samples."""
    source = resolve(path)
    if selection:
        from diagnose.orchestrate.collapse_select import collapse_selected

        return collapse_selected(source, opts, selection, jobs)
    if source.format == "folded":
        lines, warnings = collapse_folded(read_chunks(source.path), source.path)
        return folded_lines(lines), warnings
    if source.format == "pprof":
        from diagnose.inputs.pprof import read_pprof
        from diagnose.report.folded import profile_counts

        profile = read_pprof(source.path)
        return folded_lines(profile_counts(profile)), profile.capture.warnings
    in_parts = parse_file_in_parts(source.path, opts.addrs, jobs) if source.format == "perf-script" else None
    if in_parts is not None:
        # A large file parsed across processes: folded part by part, never merged (one part's
        # stacks held at a time).
        summary, parts = in_parts
        require_samples(summary, source)
        folded: dict[bytes, int] = {}
        for part in parts:
            fold(part, opts, into=folded, events=summary)
            del part
        return folded_lines(folded), parse_warnings(summary, source, False)
    parse, warnings, _ = read_perf(source, keep_unknown_addresses=opts.addrs, jobs=jobs)
    folded = fold(parse, opts)
    del parse
    return folded_lines(folded), warnings


def load_profile(path: str, event: str | None = None, jobs: int | None = None,
                 selection: Selection | None = None) -> Profile:
    """The profile of a capture; with a selection (--pid, --tid, --comm), of the selected threads
    only (diagnose.select)."""
    profile = _load_profile(path, event, jobs)
    if not (selection and _asks_for_idle(selection, profile)):
        profile = without_idle(profile)  # a system-wide recording's idle CPUs (diagnose.model.idle)
    if selection:
        profile = select(profile, selection)
    several = several_without_pids(profile)
    if several:  # processes the text cannot tell apart (diagnose.model.programs)
        profile.capture.warnings.append(
            f"{path}: the samples carry no process ids, and {several}: every share and rating is of all the "
            f"processes together; export with `perf script -F +pid` to analyse each process, or pick threads "
            f"with --comm or --tid")
    return profile


def _asks_for_idle(selection: Selection, profile: Profile) -> bool:
    """--pid 0, --tid 0, or a --comm that picks the idle task out (`swapper`, `swapper/.*`; not
    one like `.*` that matches every thread): the idle task itself is wanted."""
    if 0 in selection.pids or 0 in selection.tids:
        return True
    idle = [t for t in profile.threads if is_idle_task(t)]
    others = [t for t in profile.threads if not is_idle_task(t)]
    return any(any(p.fullmatch(t.comm) is not None for t in idle) and
               not any(p.fullmatch(t.comm) is not None for t in others) for p in selection._patterns)


def _load_profile(path: str, event: str | None = None, jobs: int | None = None) -> Profile:
    source = resolve(path)
    if source.format == "folded":
        if event is not None:
            raise DiagnoseError(f"{path}: folded stacks carry no event names, so --event cannot apply; drop it")
        return read_folded(read_chunks(source.path), source.path)
    if source.format == "pprof":
        from diagnose.inputs.pprof import read_pprof

        return read_pprof(source.path, event)
    parse, warnings, cut = read_perf(source, jobs=jobs)
    profile = build_profile(parse, source.path, source.format, event)
    profile.capture.warnings.extend(warnings)
    if cut:
        profile.capture.truncated = True
    if profile.capture.event is not None and len([e for e in profile.capture.events if e]) > 1:
        others = ", ".join(f"{e} ({n})" for e, n in profile.capture.events.items() if e and e != profile.capture.event)
        profile.capture.warnings.append(f"analysing event {profile.capture.event}; also present: {others} "
                                        f"(choose with --event)")
    if os.path.isdir(path):
        from diagnose.capture.capture_read import attach

        attach(profile.capture, path)  # environment, exact recording duration, recording warnings
    return profile


def analyze(path: str, event: str | None = None, jobs: int | None = None, rules: list[str] | None = None,
            lang: str = "en", run_rules: bool = True, selection: Selection | None = None,
            summaries: bool = True) -> Analysis:
    """Capture -> profile (of the selected threads) -> call graph -> summaries -> rule evaluation
    -> ranked findings. summaries=False leaves out the call graph and the summaries (graph and
    summary are None): for a caller that draws the profile and its findings only (the flame
    graph), which the rules do not read."""
    from diagnose.expert.analysis import Analysis

    warming = preload.start(call_graph=summaries) if run_rules or summaries else None
    profile = load_profile(path, event=event, jobs=jobs, selection=selection)
    if warming is not None:
        warming.join()
    if summaries:
        from diagnose.model.callgraph import ANALYZE_MAX_NODES, build_call_graph
        from diagnose.model.summary import summarize, tree_min_samples

        graph = build_call_graph(profile, min_samples=tree_min_samples(profile.stack_samples), max_nodes=ANALYZE_MAX_NODES)
        analysis = Analysis(profile=profile, graph=graph, summary=summarize(profile, graph), lang=lang)
    else:
        analysis = Analysis(profile=profile, graph=None, summary=None, lang=lang)  # type: ignore[arg-type]
    if run_rules:
        apply_rules(analysis, rules)
    return analysis


def apply_rules(analysis: Analysis, rules: list[str] | None = None) -> None:
    from diagnose.expert.engine import evaluate
    from diagnose.expert.knowledge import builtin_knowledge
    from diagnose.expert.per_process import add_process_findings
    from diagnose.expert.rules import load_packs

    ruleset = load_packs(rules, builtin_knowledge())
    kb = ruleset.knowledge or builtin_knowledge()  # with the packs' own categories, roles, advice
    evaluation = evaluate(analysis.profile, ruleset, kb)
    # Several processes: a rule that fires for one of them alone, drowned in the merged shares.
    add_process_findings(evaluation, analysis.profile, ruleset, kb)
    analysis.knowledge, analysis.ruleset, analysis.evaluation = kb, ruleset, evaluation
    analysis.findings = evaluation.findings
