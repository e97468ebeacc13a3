"""The merged profile of many captures: every capture's stacks summed, sample for sample, and
analysed like one capture.

What a merge means: each sample counts once, whatever capture it came from, so the merged
shares are shares of all the samples. That is only a share of CPU time when every sample stands
for the same thing: captures of different events (cpu-clock and cycles) are not merged; a
capture whose event is not known (folded stacks) is merged with a note; captures sampled at
different frequencies are merged with a note (a capture at 999 Hz weighs ten times as much per
CPU second as one at 99 Hz). Threads are merged by name (the same thread name on two servers
is one thread of the merged profile, as in folded stacks without pids), so the merged profile
has no pids, no duration and no CPU cores."""

from __future__ import annotations

from typing import TYPE_CHECKING

from diagnose.expert.analysis import Analysis
from diagnose.inputs.perf_profile import event_base
from diagnose.model.profile import CaptureInfo, Frame, Profile, StackTally, Thread

if TYPE_CHECKING:
    from diagnose.expert.analysis import Analysis
    from diagnose.expert.fleet_result import CaptureResult, Fleet


def merge(fleet: Fleet, rules: list[str] | None) -> None:
    """Fill fleet.merged (the merged analysis) or fleet.merge_refused (why there is none)."""
    ok = [c for c in fleet.captures if c.ok]
    if len(ok) < 2:
        fleet.merge_refused = "fewer than two captures were analysed: nothing to merge"
        return
    events: dict[str, list[int]] = {}
    unknown: list[int] = []
    for c in ok:
        if c.event:
            events.setdefault(event_base(c.event), []).append(c.index)
        else:
            unknown.append(c.index)
    if len(events) > 1:
        listed = "; ".join(f"{e}: {_numbers(ix)}" for e, ix in sorted(events.items()))
        fleet.merge_refused = (f"the captures sample different events ({listed}): their samples do not measure the "
                               f"same thing; analyse the captures of one event together (--event picks it in "
                               f"captures that hold several)")
        return
    if events and unknown:
        fleet.merge_notes.append(f"captures that do not say which event they sampled (folded stacks): {_numbers(unknown)}; "
                                 f"merged as if they sampled {next(iter(events))}")
    freqs: dict[float, list[int]] = {}
    for c in ok:
        if c.frequency_hz:
            freqs.setdefault(c.frequency_hz, []).append(c.index)
    if len(freqs) > 1:
        listed = "; ".join(f"{f:g} Hz: {_numbers(ix)}" for f, ix in sorted(freqs.items()))
        fleet.merge_notes.append(f"the captures were sampled at different frequencies ({listed}): each sample counts "
                                 f"once, so a capture weighs by its samples, not by its CPU time")
    same_rate = len(freqs) == 1 and sum(map(len, freqs.values())) == len(ok)
    fleet.merged = analyse_merged(merged_profile(ok, same_rate), rules, fleet.lang)
    fleet.merged_from = [c.index for c in ok]


def _numbers(indices: list[int]) -> str:
    return ", ".join(f"#{i + 1}" for i in indices)


def merged_profile(captures: list[CaptureResult], same_rate: bool = False) -> Profile:
    """One profile of all the captures' stacks: frames by name, module and kind; threads by name."""
    frames: list[Frame] = []
    frame_ids: dict[Frame, int] = {}
    tally = StackTally()
    events: dict[str, int] = {}
    for c in captures:
        fmap = []
        for f in c.frames:
            fid = frame_ids.get(f)
            if fid is None:
                fid = frame_ids[f] = len(frames)
                frames.append(f)
            fmap.append(fid)
        tmap = [tally.thread(Thread(t.comm, None, None)) for t in c.threads]
        for thread, ids, samples, weight in c.stacks:
            tally.add(tmap[thread], tuple(fmap[i] for i in ids), samples, weight)
        if c.event:
            events[c.event] = events.get(c.event, 0) + c.total_samples
    first = captures[0]
    capture = CaptureInfo(
        source=f"{len(captures)} captures merged", format="merged",
        event=max(events, key=lambda e: events[e]) if events else None, events=events,
        frequency_hz=first.frequency_hz if same_rate else None,
        frequency_source="the captures" if same_rate and first.frequency_hz else None,
        total_samples=tally.total, stackless_samples=tally.stackless,
        kernel_frames_known=all(c.kernel_frames_known for c in captures),
        truncated=any(c.truncated for c in captures))
    return Profile(frames, tally.threads, tally.stacks(), capture)


def analyse_merged(profile: Profile, rules: list[str] | None, lang: str) -> Analysis:
    # networkx: loaded only when this runs
    from diagnose.model.callgraph import ANALYZE_MAX_NODES, build_call_graph
    from diagnose.model.summary import summarize, tree_min_samples

    # re2: loaded only when this runs
    from diagnose.orchestrate.pipeline import apply_rules

    graph = build_call_graph(profile, min_samples=tree_min_samples(profile.stack_samples), max_nodes=ANALYZE_MAX_NODES)
    analysis = Analysis(profile=profile, graph=graph, summary=summarize(profile, graph), lang=lang)
    apply_rules(analysis, rules)
    return analysis
