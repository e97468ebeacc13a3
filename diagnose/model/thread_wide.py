"""Frames on (nearly) every stack of the threads they run on: a thread's root, its entry point
(`clone3`, `start_thread`, `rtc::Thread::Run`) or an `[unknown]` frame under everything. Their
inclusive share is the share of their threads, which the thread table already gives; a list of
the hottest functions by inclusive time skips them (and says which), the JSON report keeps them."""

from __future__ import annotations

from diagnose.model.profile import Profile
from diagnose.model.summary import FunctionRow, Summary

# "Nearly every stack": at least this part of the samples of the threads the frame is on.
NEARLY_ALL = 0.95
# A frame that itself runs this much of its inclusive samples is work, not a pass-through: kept.
OWN_WORK = 0.05


def thread_wide(profile: Profile, candidates: list[int]) -> set[int]:
    """The candidates (frame ids) on at least NEARLY_ALL of the samples of the threads they appear
    in, and with (almost) no self samples. Each sample counts once per frame (recursion too)."""
    want = set(candidates)
    if not want:
        return set()
    per_thread: dict[int, int] = {}
    on: dict[tuple[int, int], int] = {}
    for s in profile.stacks:
        if not s.frames:
            continue
        per_thread[s.thread] = per_thread.get(s.thread, 0) + s.samples
        for f in want.intersection(s.frames):
            on[(f, s.thread)] = on.get((f, s.thread), 0) + s.samples
    inside: dict[int, int] = {}
    of_threads: dict[int, int] = {}
    for (f, t), k in on.items():
        inside[f] = inside.get(f, 0) + k
        of_threads[f] = of_threads.get(f, 0) + per_thread[t]
    own = profile.self_counts()
    return {f for f, k in inside.items() if k >= NEARLY_ALL * of_threads[f] and own[f] <= OWN_WORK * k}


def top_inclusive_skipping(summary: Summary, n: int) -> tuple[list[FunctionRow], list[FunctionRow]]:
    """The n hottest functions by inclusive samples that are not thread-wide, and the thread-wide
    ones that ranked above the last of them (skipped)."""
    extra = 2 * n
    while True:
        rows = summary.top_inclusive(n + extra)
        wide = thread_wide(summary.profile, [r.frame for r in rows])
        kept = [r for r in rows if r.frame not in wide]
        if len(kept) >= n or len(rows) < n + extra:
            break
        extra *= 2
    kept = kept[:n]
    last = rows.index(kept[-1]) if kept else len(rows)
    skipped = [r for r in rows[:last + 1] if r.frame in wide] if kept else [r for r in rows if r.frame in wide]
    return kept, skipped
