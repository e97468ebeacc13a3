"""Choosing the threads to analyse: `--pid`, `--tid` and `--comm` narrow a profile to the
threads they select, keeping every count true to those threads.

Each option is repeatable. Values of one option are alternatives (`--pid 1 --pid 2`: either
process); different options must all hold (`--pid 1 --comm 'enc.*'`: threads of process 1 whose
name matches). `--comm` patterns run on RE2 (diagnose.core.patterns) and match the whole thread name
as perf printed it (`comm`), like the rule packs' patterns: `enc.*` matches `encoder`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from diagnose.core.errors import DiagnoseError
from diagnose.core.patterns import PatternError, compile_pattern
from diagnose.model.profile import Frame, Origin, Profile, Stack, Thread

# How many processes the "selects nothing" error lists.
LISTED = 12


@dataclass(frozen=True)
class Selection:
    """The threads to keep. Empty (no option given): everything is kept."""

    pids: tuple[int, ...] = ()
    tids: tuple[int, ...] = ()
    comms: tuple[str, ...] = ()
    _patterns: tuple[Any, ...] = field(default=(), compare=False, repr=False)

    def __bool__(self) -> bool:
        return bool(self.pids or self.tids or self.comms)

    def matches(self, comm: str, pid: int | None, tid: int | None) -> bool:
        if self.pids and pid not in self.pids:
            return False
        if self.tids and tid not in self.tids:
            return False
        return not self._patterns or any(p.fullmatch(comm) is not None for p in self._patterns)

    def describe(self) -> str:
        """`pid 1264187`, `pid 1 or 2, comm matching 'enc.*'`."""
        parts = []
        for name, values in (("pid", self.pids), ("tid", self.tids)):
            if values:
                parts.append(f"{name} " + " or ".join(map(str, values)))
        if self.comms:
            parts.append("comm matching " + " or ".join(repr(c) for c in self.comms))
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"pids": list(self.pids), "tids": list(self.tids), "comms": list(self.comms)}


def selection(pids: Iterable[int] | None = None, tids: Iterable[int] | None = None,
              comms: Iterable[str] | None = None, only_pids: Iterable[int] | None = None,
              only_tids: Iterable[int] | None = None) -> Selection:
    """The selection the options give (`--only-pid` is `--pid` under another name); a `--comm`
    pattern that cannot be used is one line."""
    pid_list = tuple(dict.fromkeys([*(pids or []), *(only_pids or [])]))
    tid_list = tuple(dict.fromkeys([*(tids or []), *(only_tids or [])]))
    comm_list = tuple(dict.fromkeys(comms or []))
    for name, values in (("--pid", pid_list), ("--tid", tid_list)):
        bad = [v for v in values if v < 0]
        if bad:
            raise DiagnoseError(f"{name} {bad[0]}: a process or thread id is a number of 0 or more")
    patterns = []
    for c in comm_list:
        try:
            patterns.append(compile_pattern(c))
        except PatternError as exc:
            raise DiagnoseError(f"--comm {c!r}: {exc}") from None
    return Selection(pid_list, tid_list, comm_list, tuple(patterns))


def thread_filter(sel: Selection) -> Callable[[bytes, bytes | None, bytes], bool]:
    """The selection as a test on a perf script parse's thread key (comm, pid, tid as bytes)."""
    def keep(comm: bytes, pid: bytes | None, tid: bytes) -> bool:
        return sel.matches(comm.decode("utf-8", "replace"), task_id(pid), task_id(tid))
    return keep


def task_id(b: bytes | None) -> int | None:
    return int(b) if b is not None and b.isdigit() and len(b) <= 19 else None


def check_ids_known(sel: Selection, threads: Iterable[Thread], source: str, folded: bool = False) -> None:
    """--pid on an input that names no process ids (perf script's default prints only the
    tid; folded stacks without comm-PID roots): one line, not an empty report."""
    threads = list(threads)
    if sel.pids and not any(t.pid is not None for t in threads):
        hint = ("folded stacks carry process ids only in `comm-PID` or `comm-PID/TID` roots "
                "(fold with `diagnose collapse --pid` or `--tid`)") if folded else \
            "record or convert with `perf script -F +pid` (diagnose run does), or select threads with --tid"
        raise DiagnoseError(f"{source}: --pid cannot select: the input names no process ids; {hint}")
    if sel.tids and not any(t.tid is not None for t in threads):
        raise DiagnoseError(f"{source}: --tid cannot select: the input names no thread ids "
                            f"(folded stacks carry them only in `comm-PID/TID` roots: fold with `diagnose collapse --tid`)")


def nothing_selected(sel: Selection, counts: dict[Thread, int], source: str) -> DiagnoseError:
    """The one line for a selection without a sample: what was asked, and the processes the
    capture has (with their samples) to choose from."""
    per: dict[tuple[int | None, str], int] = {}
    names: dict[int, str] = {}
    for t, n in counts.items():
        if t.pid is not None and (t.tid == t.pid or t.pid not in names):
            names[t.pid] = t.comm
    for t, n in counts.items():
        key = (t.pid, names.get(t.pid, t.comm) if t.pid is not None else t.comm)
        per[key] = per.get(key, 0) + n
    ranked = sorted(per.items(), key=lambda kv: (-kv[1], kv[0][1], kv[0][0] or 0))
    shown = ", ".join(f"{comm} {pid}" if pid is not None else comm for (pid, comm), _ in ranked[:LISTED])
    if len(ranked) > LISTED:
        shown += f" and {len(ranked) - LISTED} more"
    return DiagnoseError(f"{source}: no sample is on a thread with {sel.describe()}; the capture has "
                         f"{len(ranked)} process(es): {shown or 'none'}")


def select(profile: Profile, sel: Selection, keep_origin: bool = False) -> Profile:
    """The profile of the selected threads only: their stacks, the frames those use, the capture
    facts with their sample counts, and `capture.selection` saying what was chosen. Frequency and
    duration stay the recording's, so cores used are the selected threads' own. keep_origin: the
    result says which of the parent's frames and stacks it holds (profile.Origin)."""
    if not sel:
        return profile
    cap = profile.capture
    check_ids_known(sel, profile.threads, cap.source, folded=cap.format == "folded")
    kept_threads = [i for i, t in enumerate(profile.threads) if sel.matches(t.comm, t.pid, t.tid)]
    thread_map = {old: new for new, old in enumerate(kept_threads)}
    stack_origin = [si for si, s in enumerate(profile.stacks) if s.thread in thread_map]
    frames, stacks, frame_origin = renumbered(profile, stack_origin, thread_map)
    total = sum(s.samples for s in stacks)
    stackless = sum(s.samples for s in stacks if not s.frames)
    if not total:
        counts: dict[Thread, int] = {}
        for s in profile.stacks:
            th = profile.threads[s.thread]
            counts[th] = counts.get(th, 0) + s.samples
        raise nothing_selected(sel, counts, cap.source)
    threads = [profile.threads[i] for i in kept_threads]
    # (the idle samples left out were of the whole recording, not of these threads: not said here)
    new_cap = replace(cap, total_samples=total, stackless_samples=stackless, idle_samples=0,
                      warnings=list(cap.warnings))
    pids = {t.pid for t in threads if t.pid is not None}
    tids = {t.tid for t in threads if t.tid is not None}
    new_cap.target_pids = [p for p in cap.target_pids if p in pids or (not pids and p in tids)]
    new_cap.selection = {**sel.to_dict(), "text": sel.describe(), "samples": total,
                         "of_samples": cap.total_samples, "threads": len(threads),
                         "of_threads": len(profile.threads)}
    new_cap.warnings.append(selection_note(new_cap.selection))
    origin = Origin(profile, frame_origin, stack_origin) if keep_origin else None
    return Profile(frames, threads, stacks, new_cap, origin)


def renumbered(profile: Profile, stack_ids: list[int],
               thread_map: dict[int, int]) -> tuple[list[Frame], list[Stack], list[int]]:
    """The stacks `stack_ids` of `profile` as a smaller profile holds them: their threads by
    `thread_map`, the frames they use numbered in order of first use. (frames, stacks, each new
    frame's id in `profile`)."""
    frame_map: dict[int, int] = {}
    frames: list[Frame] = []
    frame_origin: list[int] = []
    stacks = []
    for si in stack_ids:
        s = profile.stacks[si]
        ids = []
        for f in s.frames:
            nf = frame_map.get(f)
            if nf is None:
                nf = frame_map[f] = len(frames)
                frames.append(profile.frames[f])
                frame_origin.append(f)
            ids.append(nf)
        stacks.append(Stack(thread_map[s.thread], tuple(ids), s.samples, s.weight))
    return frames, stacks, frame_origin


def selection_note(sel: dict[str, Any]) -> str:
    return (f"analysing only the threads with {sel['text']}: {sel['samples']:,} of {sel['of_samples']:,} samples, "
            f"{sel['threads']} of {sel['of_threads']} threads; shares are of the selected samples, and what "
            f"`diagnose run` measured beside the samples (threads, sockets, system calls) covers every recorded process")
