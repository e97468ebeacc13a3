"""diagnose collapse: folded stacks exactly as stackcollapse-perf.pl writes them."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from diagnose.commands.common import CommFilter, OnlyPid, OnlyTid, check_lang, thread_selection, warn
from diagnose.core.output import check_output, write_output


def command(
    input: Annotated[str, typer.Argument(help="perf script text (gzip ok), perf.data, folded stacks or a capture folder.")],
    pid: Annotated[bool, typer.Option("--pid", help="Root frame comm-PID.")] = False,
    tid: Annotated[bool, typer.Option("--tid", help="Root frame comm-PID/TID.")] = False,
    kernel: Annotated[bool, typer.Option("--kernel", help="Suffix kernel frames with _\\[k].")] = False,
    jit: Annotated[bool, typer.Option("--jit", help="Suffix JIT frames with _\\[j].")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Both --kernel and --jit.")] = False,
    addrs: Annotated[bool, typer.Option("--addrs", help="Keep raw addresses of unknown symbols.")] = False,
    event: Annotated[Optional[str], typer.Option("--event", help="Event to fold (default: the first in the input).")] = None,
    output: Annotated[Optional[str], typer.Option("-o", "--output", help="Write to FILE instead of stdout.")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Parser processes (default: CPU count).")] = None,
    only_pid: OnlyPid = None,
    only_tid: OnlyTid = None,
    comm: CommFilter = None,
    lang: Annotated[str, typer.Option("--lang", help="Language of warnings and errors: en or zh.")] = "en",
) -> None:
    """Write folded stacks (`a;b;c count`) exactly as stackcollapse-perf.pl does."""
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.inputs.collapse import CollapseOptions
    from diagnose.orchestrate.pipeline import collapse_stream

    check_lang(lang)
    check_output(output)
    selection = thread_selection(only_pid, only_tid, comm)
    opts = CollapseOptions(pid=pid, tid=tid, kernel=kernel or all_, jit=jit or all_, addrs=addrs, event=event)
    pieces, warnings = collapse_stream(input, opts, jobs=jobs, selection=selection)
    for w in warnings:
        warn(w)
    write_output(pieces, output)
