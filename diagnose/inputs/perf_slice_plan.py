"""How many `perf script` processes read a perf.data (perf_slices): the CPUs this process may use
and the recording's size decide, before anything is run."""

from __future__ import annotations

import os

# Below this size a perf.data is read by one perf script. Measured: each perf script costs 0.11
# CPU s on an 84 kB recording (its start: symbols, the events that are not samples), 0.39 on
# 7.1 MB; the parse 0.36 s on 7.1 MB. A second slice saves about half of the rest (0.045 s per
# MB) and costs a fork, a hand-over and a merge (0.03 s on 7.1 MB): even on idle CPUs it pays
# from about 1 MB; 4 MB leaves a margin for CPUs that are not quite idle.
SLICE_MIN_BYTES = 4 * 1024 * 1024
# Each slice keeps two CPUs busy, its perf script and its parser: with fewer than two idle CPUs
# per slice the slices only add work (2 CPUs: 1.12 s against 0.81 s for one stream, see README).
CPUS_PER_SLICE = 2
# perf script's time per slice stops falling beyond this (its fixed cost): one perf 0.39 CPU s,
# 2 slices at most 0.24 each, 3 slices 0.21, 4 slices 0.21 (7.1 MB system-wide recording).
MAX_SLICES = 3


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def planned_slices(path: str, jobs: int | None = None, min_bytes: int = SLICE_MIN_BYTES) -> int:
    """The number of time slices to read `path` in (jobs when given), 1 for one stream: fewer
    than 2 * CPUS_PER_SLICE usable CPUs, or a recording under min_bytes. (perf_slices.slices_for
    still falls back to one stream when the header gives no sample times.)"""
    n = min(MAX_SLICES, usable_cpus() // CPUS_PER_SLICE) if jobs is None else max(1, jobs)
    try:
        small = os.path.getsize(path) < min_bytes
    except OSError:
        return 1
    return 1 if n < 2 or small else n
