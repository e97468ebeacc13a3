"""diagnose graph: the call graph as Graphviz DOT or GraphML, pruned to what matters."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from diagnose.commands.common import CommFilter, PidFilter, TidFilter, check_lang, thread_selection, warn
from diagnose.report.graph_options import DEFAULT_EDGE_THRESHOLD, DEFAULT_NODE_THRESHOLD

FORMATS = ("dot", "graphml")


def command(
    input: Annotated[str, typer.Argument(help="perf script text (gzip ok), folded stacks, perf.data, or a capture folder.")],
    format: Annotated[str, typer.Option("--format", "-f", help="dot (Graphviz: dot -Tsvg) or graphml.")] = "dot",
    output: Annotated[Optional[str], typer.Option("-o", "--output", help="Write to FILE instead of stdout.")] = None,
    node_threshold: Annotated[float, typer.Option("--node-threshold", help="Leave out functions with less than this "
                                                  "share of the samples in their stack (inclusive), in %.")]
    = DEFAULT_NODE_THRESHOLD,
    edge_threshold: Annotated[float, typer.Option("--edge-threshold", help="Leave out calls made in less than this "
                                                  "share of the samples, in %.")] = DEFAULT_EDGE_THRESHOLD,
    rules: Annotated[Optional[list[str]], typer.Option("--rules", help="A rule pack file or folder (repeatable); "
                                                       "the findings' frames are marked.")] = None,
    event: Annotated[Optional[str], typer.Option("--event", help="Event to draw (default: the CPU-time event).")] = None,
    lang: Annotated[str, typer.Option("--lang", help="Language of the labels: en or zh.")] = "en",
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Parser processes (default: CPU count).")] = None,
    pid: PidFilter = None,
    tid: TidFilter = None,
    comm: CommFilter = None,
) -> None:
    """Write the call graph: a node per function (self and inclusive share, its component's
    colour), an edge per call with the samples that made it, findings' frames marked."""
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.core.errors import DiagnoseError
    from diagnose.core.output import check_output, write_output
    from diagnose.orchestrate.pipeline import analyze
    from diagnose.report.graph_export import export_graph
    from diagnose.report.graph_options import GraphOptions

    check_lang(lang)
    fmt = format.lower()
    if fmt not in FORMATS:
        raise DiagnoseError(f"unknown --format {format!r}; choose one of: {', '.join(FORMATS)}")
    opts = GraphOptions(node_threshold=node_threshold, edge_threshold=edge_threshold, lang=lang).check()
    check_output(output)
    selection = thread_selection(pid, tid, comm)
    analysis = analyze(input, event=event, jobs=jobs, rules=rules, lang=lang, selection=selection)
    for w in analysis.profile.capture.warnings:
        warn(w)
    if analysis.profile.stack_samples == 0:
        warn(f"{input}: no samples with a call chain, the graph is empty; record with call graphs (perf record -g)")
    graph, notes = export_graph(analysis, opts)
    for note in notes:
        warn(note)
    if fmt == "graphml":
        # imported when the command runs: diagnose.cli loads every command module for --help
        from diagnose.report.graph_graphml import render_graphml

        write_output(render_graphml(graph), output)
    else:
        # imported when the command runs: diagnose.cli loads every command module for --help
        from diagnose.report.graph_dot import render_dot

        write_output(render_dot(graph, lang), output)
