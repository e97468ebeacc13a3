"""The programs a capture without process ids runs in.

`perf script` prints a pid only when asked (`-F +pid`; `diagnose run` does): its default text of
a system-wide recording, or of `perf record -p PID1,PID2`, carries thread ids alone. The threads
of several processes then cannot be told apart, every share is of all of them together, and a
finding that is most of one program's time (a video encoder in a publisher beside an SFU) is
rated by its share of the whole. The executables the stacks run in still show that there were
several programs (`janus`, `gst-launch-1.0`, `python3.11`), as do the recording's own command line
(`perf record -a`, `-p PID1,PID2`, when the text has perf's header) and the idle task's samples
(only a system-wide recording has them): what the capture cannot say, the report says it cannot
(see orchestrate/pipeline).
"""

from __future__ import annotations

import re

from diagnose.model.profile import Profile


# A program named in the warning: at least this share of the samples (a stray helper process
# is not a second program worth the warning).
MIN_SHARE = 0.01


def programs_without_pids(profile: Profile) -> list[tuple[str, int]]:
    """(executable, samples) of each program the samples run in, most samples first, when no
    thread carries a process id; [] when they do (processes are told apart by pid). A sample
    counts for the executable its stack runs in (a stack only in libraries and the kernel, such
    as a GStreamer streaming thread, counts for none). Programs under MIN_SHARE are left out."""
    if any(th.pid is not None for th in profile.threads):
        return []
    cached = getattr(profile, "_programs_without_pids", None)
    if cached is not None:  # (the warning and the overview both ask: one pass over the stacks)
        return cached
    exe_of = profile.frame_executables()
    samples: dict[str, int] = {}
    for s in profile.stacks:
        exe = next((e for e in map(exe_of.__getitem__, s.frames) if e is not None), None)
        if exe is not None:
            samples[exe] = samples.get(exe, 0) + s.samples
    floor = MIN_SHARE * profile.capture.total_samples
    out = sorted(((e, n) for e, n in samples.items() if n >= floor), key=lambda en: (-en[1], en[0]))
    profile._programs_without_pids = out  # type: ignore[attr-defined]
    return out


def several_without_pids(profile: Profile) -> str | None:
    """Why the capture holds several processes that its samples cannot tell apart (no thread
    carries a process id), in words for a warning; None when it does not, or when they can."""
    if any(th.pid is not None for th in profile.threads):
        return None
    programs = programs_without_pids(profile)
    if len(programs) > 1:
        n = profile.capture.total_samples
        seen = ", ".join(f"{exe} {k / n:.0%}" for exe, k in programs[:4])
        return f"they run in {len(programs)} programs ({seen})"
    cap = profile.capture
    if cap.selection:  # threads picked with --pid/--tid/--comm: the user chose what the shares are of
        return None
    if len(cap.target_pids) > 1:  # (perf's -p wins over -a)
        return f"the recording followed {len(cap.target_pids)} processes (perf record -p)"
    if not cap.target_pids and (recorded_system_wide(cap.command) or cap.idle_samples):
        return "the recording is system-wide (perf record -a)"
    return None


# A cluster of perf record's short options that take no value, one of them -a: `-a`, `-ag`, `-ga`.
_ALL_CPUS = re.compile(r"-[agqvsnTdPRiBNk]*a[agqvsnTdPRiBNk]*|--all-cpus")


def recorded_system_wide(command: str | None) -> bool:
    """Whether perf's recorded command line (its header's cmdline) sampled every CPU (-a)."""
    args = (command or "").split()
    own = args[:args.index("--")] if "--" in args else args  # (after --: the command perf ran)
    return any(_ALL_CPUS.fullmatch(a) for a in own)
