"""diagnose flamegraph: an interactive SVG flame graph coloured by component, or a differential one."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from diagnose.commands.common import CommFilter, PidFilter, TidFilter, check_lang, thread_selection, warn


def command(
    input: Annotated[Optional[str], typer.Argument(help="perf script text (gzip ok), folded stacks, perf.data, "
                                                        "or a capture folder.")] = None,
    output: Annotated[Optional[str], typer.Option("-o", "--output", help="Write the SVG to FILE (default: stdout).")] = None,
    diff: Annotated[Optional[tuple[str, str]], typer.Option("--diff", metavar="BEFORE AFTER",
                                                            help="Differential flame graph: widths from AFTER, red "
                                                                 "where a frame's share grew, blue where it shrank.")] = None,
    title: Annotated[Optional[str], typer.Option("--title", help="Title at the top of the graph.")] = None,
    width: Annotated[Optional[int], typer.Option("--width", help="Image width in pixels (default: the width of "
                                                 "the window it is shown in).")] = None,
    min_width: Annotated[float, typer.Option("--min-width", help="Boxes narrower than this (px) are merged into one "
                                                                 "box per parent, or dropped.")] = 0.1,
    icicle: Annotated[bool, typer.Option("--icicle", help="Root at the top, callees below.")] = False,
    colors: Annotated[str, typer.Option("--colors", help="category (component of the knowledge base) or "
                                                         "module (a colour per library).")] = "category",
    lang: Annotated[str, typer.Option("--lang", help="Language of the legend and controls: en or zh.")] = "en",
    rules: Annotated[Optional[list[str]], typer.Option("--rules", help="A rule pack file or folder (repeatable); "
                                                       "the top findings' frames are outlined.")] = None,
    event: Annotated[Optional[str], typer.Option("--event", help="Event to draw (default: the CPU-time event).")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Parser processes (default: CPU count).")] = None,
    off_cpu: Annotated[bool, typer.Option("--off-cpu", help="Draw where the threads waited (a `diagnose run --off-cpu` "
                                                            "folder): widths are microseconds blocked, not samples.")] = False,
    pid: PidFilter = None,
    tid: TidFilter = None,
    comm: CommFilter = None,
) -> None:
    """Write a self-contained interactive SVG flame graph: hover for details, click to zoom,
    Ctrl-F or / to search by regular expression; coloured by component, findings outlined."""
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.core.errors import DiagnoseError
    from diagnose.core.output import check_output, write_output
    from diagnose.report.flamegraph import FlameOptions

    check_lang(lang)
    opts = FlameOptions(title=title, width=width, min_width=min_width, icicle=icicle, colors=colors, lang=lang).check()
    check_output(output)
    selection = thread_selection(pid, tid, comm)
    if (input is None) == (diff is None):
        raise DiagnoseError("give either one INPUT or --diff BEFORE AFTER; "
                            "e.g. `diagnose flamegraph capture.perf.txt -o out.svg`")
    if off_cpu:
        # imported when the command runs: diagnose.cli loads every command module for --help
        from diagnose.orchestrate import offcpu_folder

        if input is None:
            raise DiagnoseError("--off-cpu draws one capture folder; e.g. `diagnose flamegraph --off-cpu FOLDER -o out.svg`")
        if selection:
            raise DiagnoseError("--pid, --tid and --comm select samples of the CPU profile; they do not apply to "
                                "--off-cpu (the off-CPU graph shows every thread by its comm-pid/tid root)")
        svg = offcpu_folder.flamegraph(offcpu_folder.folded_of(input), opts)
    elif diff is not None:
        svg = _diff_svg(diff, opts, event, jobs, selection)
    else:
        # imported when the command runs: diagnose.cli loads every command module for --help
        from diagnose.orchestrate.pipeline import analyze
        from diagnose.report.flamegraph import render_flamegraph

        # The graph draws the profile and outlines the findings: no call graph, no summaries.
        analysis = analyze(input, event=event, jobs=jobs, rules=rules, lang=lang,  # type: ignore[arg-type]
                           selection=selection, summaries=False)
        for w in analysis.profile.capture.warnings:
            warn(w)
        if analysis.profile.stack_samples == 0:
            warn(f"{input}: no samples with a call chain, the graph is empty; record with call graphs (perf record -g)")
        svg = render_flamegraph(analysis, opts)
    write_output(svg, output)


def _diff_svg(paths: tuple[str, str], opts: object, event: str | None, jobs: int | None,
              selection: object = None) -> str:
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.core.errors import DiagnoseError
    from diagnose.orchestrate.diff_run import read_report
    from diagnose.orchestrate.pipeline import load_profile
    from diagnose.report.flamegraph import FlameOptions, render_diff_flamegraph

    assert isinstance(opts, FlameOptions)
    profiles = []
    for which, path in zip(("BEFORE", "AFTER"), paths):
        if read_report(path) is not None:
            raise DiagnoseError(f"{path}: a JSON report has no call stacks to draw; pass the {which} capture "
                                f"itself (or use `diagnose diff` to compare reports)")
        profile = load_profile(path, event=event, jobs=jobs, selection=selection)  # type: ignore[arg-type]
        for w in profile.capture.warnings:
            warn(f"{which.lower()}: {w}")
        profiles.append(profile)
    return render_diff_flamegraph(profiles[0], profiles[1], opts)
