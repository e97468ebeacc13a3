"""Which processes a finding comes from, in a capture of more than one process.

A finding's samples are those its main measurement counted, per thread (facts.Measured.by_thread:
owned, inclusive, inside a system call, ...); summed per process they say whose work it is. Each
process gets its samples and its share of the finding's samples, so the shares add up to 1 and
the samples to the finding's. Advice that concerns a program (code, WebRTC settings, what to
investigate) names the processes it is for; machine-wide advice (sysctls, system settings) does
not.
"""

from __future__ import annotations

from typing import Any

from diagnose.model.profile import Profile

# Advice of these kinds is for the whole machine, not for one program.
MACHINE_WIDE = ("sysctl", "system")
# Advice names the processes holding at least this share of the finding's samples: one with less
# would gain little from it.
ADVICE_MIN_SHARE = 0.10


def sampled_pids(profile: Profile) -> set[int]:
    """The processes with samples (threads whose pid the input names)."""
    return {profile.threads[s.thread].pid for s in profile.stacks} - {None}  # type: ignore[return-value]


def processes_of(profile: Profile, by_thread: dict[int, float] | None) -> list[dict[str, Any]]:
    """[{pid, comm, samples, share}] of a finding, most samples first; [] when the capture has one
    process, when the input names no pids, or when the finding was not counted per thread (a
    value measured beside the samples)."""
    if not by_thread or len(sampled_pids(profile)) < 2:
        return []
    names = profile.program_names()
    per: dict[int, float] = {}
    for t, k in by_thread.items():
        pid = profile.threads[t].pid
        if pid is not None and k:
            per[pid] = per.get(pid, 0) + k
    total = sum(per.values())
    if not total:
        return []
    return [{"pid": pid, "comm": names.get(pid, ""), "samples": count_of(k), "share": round(k / total, 6)}
            for pid, k in sorted(per.items(), key=lambda kv: (-kv[1], kv[0]))]


def count_of(k: float) -> int | float:
    """Samples as counted: whole, or a fraction where a measure apportions (attributed shares)."""
    return int(k) if float(k).is_integer() else round(k, 3)


def name_processes(recs: list[dict[str, Any]], processes: list[dict[str, Any]]) -> None:
    """Advice that concerns a program says which processes it is for (`for_processes`)."""
    named = [{"pid": p["pid"], "comm": p["comm"], "share": p["share"]} for p in processes
             if p["share"] >= ADVICE_MIN_SHARE]
    if not named:
        return
    for rec in recs:
        if rec.get("kind") not in MACHINE_WIDE:
            rec["for_processes"] = named


def processes_text(processes: list[dict[str, Any]], limit: int = 4) -> str:
    """`rtc_peer 1264187 1,901 (62%), rtc_peer 1264202 1,166 (38%)`: samples and share of the finding's."""
    parts = []
    for p in processes[:limit]:
        k = p["samples"]
        shown = f"{k:,}" if isinstance(k, int) else f"{k:,.1f}"
        parts.append(f"{p['comm']} {p['pid']} {shown} ({100 * p['share']:.0f}%)")
    if len(processes) > limit:
        parts.append(f"+{len(processes) - limit}")
    return ", ".join(parts)


def for_text(rec: dict[str, Any]) -> str | None:
    """`rtc_peer 1264187, rtc_peer 1264202`: the processes a piece of advice is for."""
    named = rec.get("for_processes")
    if not named:
        return None
    return ", ".join(f"{p['comm']} {p['pid']}" for p in named)
