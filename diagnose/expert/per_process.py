"""Rules evaluated per process in a capture of several processes.

A rule whose threshold is a share can miss a process drowned by a busy peer: a process spending
40% of its samples in UDP receive is at 8% once merged with a process four times its size. The
merged evaluation stays (it is the machine view); then each process with enough samples is
evaluated alone, and a rule that fires for a process but not on the merged capture is added as
that process's finding: its `process` says so, its summary starts with the process's name, and
its shares are of that process's samples. A rule that fires on the merged capture is not added
again (its `processes` already say whose samples it has).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from diagnose.expert.finding_processes import name_processes
from diagnose.expert.findings import Finding, rank
from diagnose.expert.rule_format import SEVERITIES
from diagnose.model.profile import Profile
from diagnose.model.select import select, selection

if TYPE_CHECKING:
    from diagnose.expert.engine import Evaluation
    from diagnose.expert.knowledge import Knowledge
    from diagnose.expert.rules import RuleSet

# Only the largest processes are evaluated alone, and only those with as many samples as a
# finding needs to be rated above info (engine.MIN_SAMPLES).
MAX_PROCESSES = 8
PREFIX = {"en": "In {name} alone ({samples:,} samples): ", "zh": "仅看 {name}（{samples:,} 个采样）："}


def process_samples(profile: Profile) -> dict[int, int]:
    per: dict[int, int] = {}
    for s in profile.stacks:
        pid = profile.threads[s.thread].pid
        if pid is not None and s.frames:
            per[pid] = per.get(pid, 0) + s.samples
    return per


def add_process_findings(evaluation: Evaluation, profile: Profile, ruleset: RuleSet, kb: Knowledge) -> None:
    """Add to the merged evaluation the findings that only a process evaluated alone shows."""
    # networkx: loaded only when this runs
    from diagnose.expert.engine import MIN_SAMPLES, evaluate

    per = process_samples(profile)
    if len(per) < 2:
        return
    fired = {f.id for f in evaluation.findings}
    names = profile.program_names()
    best: dict[str, Finding] = {}
    # A rule the merged capture fired, rated higher in one process alone: (that rating, pid, samples).
    higher: dict[str, tuple[Finding, int, int]] = {}
    ranked = sorted(per.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_PROCESSES]
    for pid, n in ranked:
        if n < MIN_SAMPLES:
            continue
        alone = select(profile, selection(pids=[pid]), keep_origin=True)
        # (What fired on the merged capture is not added again: its evidence is not gathered.)
        for f in evaluate(alone, ruleset, kb, brief=fired).findings:
            if f.quality_note:
                continue
            if f.id in fired:
                if f.id not in higher or f.score > higher[f.id][0].score:
                    higher[f.id] = (f, pid, n)
                continue
            if f.id not in best or f.score > best[f.id].score:
                _scope(f, pid, names.get(pid, ""), n)
                best[f.id] = f
    raised = _rate_by_the_process(evaluation.findings, higher, names)
    if best or raised:
        evaluation.findings = rank([*evaluation.findings, *best.values()])
        for t in evaluation.trace:
            f = best.get(t.id)
            if f is not None and f.process is not None:
                t.why_not = (f"{t.why_not}; on the merged capture only: it fired for {f.process['comm']} "
                             f"{f.process['pid']} alone (see the finding)")


def _rate_by_the_process(findings: list[Finding], higher: dict[str, tuple[Finding, int, int]],
                         names: dict[int, str]) -> bool:
    """A finding of the merged capture that one process alone rates a severity higher takes that
    rating, and its summary adds what it is in that process: a codec at 21% of a machine's
    samples (low) is 65% of the publisher that runs it (high), and the publisher is what the
    advice is for. Its shares, evidence and expected gain stay the merged capture's. A process
    that only scores a few points more, at the same severity, changes nothing (the merged
    summary says it already). Whether any was raised."""
    raised = False
    for f in findings:
        got = higher.get(f.id)
        if got is None or f.capped is not None or got[0].score <= f.score or \
                SEVERITIES.index(got[0].severity) <= SEVERITIES.index(f.severity):
            continue
        alone, pid, samples = got
        name = f"{names.get(pid, '')} {pid}".strip()
        f.values["score_from_process"] = {"pid": pid, "comm": names.get(pid, ""), "samples": samples,
                                          "score": round(alone.score, 1), "severity": alone.severity}
        f.summary = {lang: text + (" " if lang != "zh" else "") +
                     PREFIX.get(lang, PREFIX["en"]).format(name=name, samples=samples) + alone.summary.get(lang, "")
                     for lang, text in f.summary.items()}
        f.score, f.severity = alone.score, alone.severity
        raised = True
    return raised


def _scope(f: Finding, pid: int, comm: str, samples: int) -> None:
    name = f"{comm} {pid}".strip()
    f.process = {"pid": pid, "comm": comm, "samples": samples,
                 "why": "fired on this process's samples alone, not on the merged capture: shares are of its samples"}
    f.summary = {lang: PREFIX.get(lang, PREFIX["en"]).format(name=name, samples=samples) + text
                 for lang, text in f.summary.items()}
    f.explained_by, f.explains = None, []
    if f.samples is not None:
        f.processes = [{"pid": pid, "comm": comm, "samples": f.samples, "share": 1.0}]
    name_processes(f.recommendations, [{"pid": pid, "comm": comm, "share": 1.0}])
