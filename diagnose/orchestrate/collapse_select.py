"""`diagnose collapse --only-pid/--only-tid/--comm`: folded stacks of the selected threads only.
(`--pid` and `--tid` of collapse keep their stackcollapse-perf.pl meaning: the id in the root.)"""

from __future__ import annotations

from collections.abc import Iterator

from diagnose.inputs.collapse import CollapseOptions, fold, folded_lines
from diagnose.inputs.folded import read_folded
from diagnose.inputs.perf_script import PartialParse, count
from diagnose.inputs.source import InputSource, read_chunks
from diagnose.model.profile import Thread
from diagnose.model.select import (
    Selection,
    check_ids_known,
    nothing_selected,
    select,
    selection_note,
    task_id,
    thread_filter,
)
from diagnose.model.stack_counts import profile_counts
from diagnose.orchestrate.perf_read import read_perf


def collapse_selected(source: InputSource, opts: CollapseOptions, sel: Selection,
                      jobs: int | None = None) -> tuple[Iterator[bytes], list[str]]:
    if source.format == "folded":
        profile = select(read_folded(read_chunks(source.path), source.path), sel)
        return folded_lines(profile_counts(profile)), profile.capture.warnings
    parse, warnings, _ = read_perf(source, keep_unknown_addresses=opts.addrs, jobs=jobs)
    threads = _threads(parse)
    check_ids_known(sel, threads, source.path)
    keep = thread_filter(sel)
    kept_groups = {i for i, ((comm, pid, tid), _, _) in enumerate(parse.groups) if keep(comm, pid, tid)}
    per_thread: dict[Thread, int] = {}
    kept = total = 0
    for key, c in parse.counts.items():
        n = count(c)[0]
        total += n
        th = threads[key[0]]
        per_thread[th] = per_thread.get(th, 0) + n
        if key[0] in kept_groups:
            kept += n
    if not kept:
        raise nothing_selected(sel, per_thread, source.path)
    n_threads = len({threads[g] for g in kept_groups})
    note = selection_note({"text": sel.describe(), "samples": kept, "of_samples": total, "threads": n_threads,
                           "of_threads": len(set(threads))})
    folded = fold(parse, opts, keep=keep)
    return folded_lines(folded), [*warnings, note]


def _threads(parse: PartialParse) -> list[Thread]:
    """The thread of each group of the parse."""
    return [Thread(comm.decode("utf-8", "replace"), task_id(pid), task_id(tid)) for (comm, pid, tid), _, _ in parse.groups]
