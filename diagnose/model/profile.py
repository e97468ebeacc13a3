"""The profile model: interned frames, threads, samples aggregated per unique stack, capture facts."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal["kernel", "user"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One function as it appears in stacks: name, module (DSO path) and where it runs."""

    name: str
    module: str
    kind: Kind

    @property
    def label(self) -> str:
        return self.name

    @property
    def module_base(self) -> str:
        """The module's file name ("libc.so.6"), "" when the module is unknown."""
        return self.module.rsplit("/", 1)[-1]

    @property
    def named(self) -> bool:
        """False for a frame with no symbol ([unknown], [libfoo.so] named by its module, an address)."""
        n = self.name
        return not (n.startswith("[") and n.endswith("]")) and not n.startswith("0x")


@dataclass(frozen=True, slots=True)
class Thread:
    """A thread a sample ran on. pid is None when the input did not say (perf's default prints only the tid)."""

    comm: str
    pid: int | None
    tid: int | None


@dataclass(slots=True)
class Stack:
    """Samples that share one call stack on one thread. frames are frame ids, root first."""

    thread: int
    frames: tuple[int, ...]
    samples: int
    weight: int


class StackTally:
    """Threads interned and samples summed per (thread, stack), as a reader builds a profile."""

    def __init__(self) -> None:
        self.threads: list[Thread] = []
        self._thread_ids: dict[Thread, int] = {}
        self._stacks: dict[tuple[int, tuple[int, ...]], Stack] = {}
        self.total = 0
        self.stackless = 0

    def thread(self, t: Thread) -> int:
        tid = self._thread_ids.get(t)
        if tid is None:
            tid = self._thread_ids[t] = len(self.threads)
            self.threads.append(t)
        return tid

    def add(self, thread: int, frames: tuple[int, ...], samples: int, weight: int) -> None:
        key = (thread, frames)
        st = self._stacks.get(key)
        if st is None:
            self._stacks[key] = Stack(thread, frames, samples, weight)
        else:
            st.samples += samples
            st.weight += weight
        self.total += samples
        if not frames:
            self.stackless += samples

    def stacks(self) -> list[Stack]:
        return list(self._stacks.values())


@dataclass
class CaptureInfo:
    """Facts about how the capture was made, where the input tells them."""

    source: str
    format: str
    event: str | None = None
    events: dict[str, int] = field(default_factory=dict)
    frequency_hz: float | None = None
    frequency_source: str | None = None
    duration_s: float | None = None
    duration_source: str | None = None
    time_first: float | None = None
    time_last: float | None = None
    total_samples: int = 0
    stackless_samples: int = 0
    # Samples of the idle task left out (diagnose.model.idle): not in total_samples.
    idle_samples: int = 0
    command: str | None = None
    # Processes the recording was attached to (perf record -p), when the input says.
    target_pids: list[int] = field(default_factory=list)
    hostname: str | None = None
    os_release: str | None = None
    perf_version: str | None = None
    cpus_online: int | None = None
    cpu_model: str | None = None
    captured_on: str | None = None
    # How perf recorded the call chains: "fp", "dwarf", "lbr", "none" (no -g); None: not said.
    call_graph: str | None = None
    kernel_frames_known: bool = True
    truncated: bool = False
    warnings: list[str] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    # The threads chosen with --pid/--tid/--comm (diagnose.model.select), or None: every thread.
    selection: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True, eq=False)
class Origin:
    """Where the frames and stacks of a profile selected from another (diagnose.model.select)
    come from: each frame's id and each stack's index in the parent. What was computed per frame
    or per stack of the parent (a frame's category, a stack's owner) is then looked up, not
    computed again, for each process evaluated alone."""

    parent: Profile
    frames: list[int]
    stacks: list[int]


class Profile:
    """Frames, threads and stacks of one capture (one event), with the capture facts."""

    def __init__(self, frames: list[Frame], threads: list[Thread], stacks: list[Stack], capture: CaptureInfo,
                 origin: Origin | None = None) -> None:
        self.frames = frames
        self.threads = threads
        self.stacks = stacks
        self.capture = capture
        self.origin = origin
        self._inclusive: list[int] | None = None
        self._self: list[int] | None = None
        self._stack_samples: int | None = None
        self._program_names: dict[int, str] | None = None
        self._frame_executables: list[str | None] | None = None

    # -- totals -------------------------------------------------------------------------

    @property
    def total_samples(self) -> int:
        """All samples of the chosen event, with or without a stack."""
        return self.capture.total_samples

    @property
    def stack_samples(self) -> int:
        """Samples that have at least one frame: the denominator of every share."""
        if self._stack_samples is None:
            self._stack_samples = sum(s.samples for s in self.stacks if s.frames)
        return self._stack_samples

    # -- per-frame counts ---------------------------------------------------------------

    def self_counts(self) -> list[int]:
        if self._self is None:
            counts = [0] * len(self.frames)
            for s in self.stacks:
                if s.frames:
                    counts[s.frames[-1]] += s.samples
            self._self = counts
        return self._self

    def inclusive_counts(self) -> list[int]:
        """Samples whose stack holds the frame at least once (recursion counted once)."""
        if self._inclusive is None:
            counts = [0] * len(self.frames)
            for s in self.stacks:
                n = s.samples
                fr = s.frames
                if len(fr) == len(set(fr)):
                    for f in fr:
                        counts[f] += n
                else:
                    for f in set(fr):
                        counts[f] += n
            self._inclusive = counts
        return self._inclusive

    # -- exact path questions -----------------------------------------------------------

    def samples_where(self, frame_ids: Iterable[int]) -> int:
        """Samples whose stack holds any of the given frames (each sample counted once)."""
        wanted = set(frame_ids)
        return sum(s.samples for s in self.stacks if not wanted.isdisjoint(s.frames))

    def samples_below(self, above: Iterable[int], below: Iterable[int]) -> int:
        """Samples in which a frame of `below` is called (directly or not) from a frame of
        `above` in the same stack. Answered from the stacks, never from graph reachability."""
        a, b = set(above), set(below)
        total = 0
        for s in self.stacks:
            seen_a = False
            for f in s.frames:
                if seen_a and f in b:
                    total += s.samples
                    break
                if f in a:
                    seen_a = True
        return total

    def samples_self_in(self, frame_ids: Iterable[int]) -> int:
        wanted = set(frame_ids)
        return sum(s.samples for s in self.stacks if s.frames and s.frames[-1] in wanted)

    # -- processes ----------------------------------------------------------------------

    def program_names(self) -> dict[int, str]:
        """pid -> the name of the program: as the run folder's environment recorded it (the
        process's own comm, read before recording), else the sampled thread whose tid is the pid
        (the main thread), else the executable its frames run in (a system-wide recording of
        Janus samples its 17 `hloop <id>` threads, never the main thread: it is `janus`, not
        one of them), else the thread name with the most samples. Cached."""
        if self._program_names is not None:
            return self._program_names
        names: dict[int, str] = {}
        by_name: dict[int, dict[str, int]] = {}
        for th in self.threads:
            if th.pid is not None and th.tid == th.pid:
                names[th.pid] = th.comm
        missing = {th.pid for th in self.threads if th.pid is not None and th.pid not in names}
        if missing:
            executables: dict[int, dict[str, int]] = {}
            exe_of = self.frame_executables()
            for s in self.stacks:
                th = self.threads[s.thread]
                if th.pid not in missing:
                    continue
                c = by_name.setdefault(th.pid, {})
                c[th.comm] = c.get(th.comm, 0) + s.samples
                for exe in {exe_of[f] for f in s.frames} - {None}:
                    e = executables.setdefault(th.pid, {})
                    e[exe] = e.get(exe, 0) + s.samples  # type: ignore[index]
            for pid in missing:
                exes = executables.get(pid)
                c = by_name.get(pid)
                if exes:
                    names[pid] = max(sorted(exes), key=lambda k: exes[k])
                elif c:
                    names[pid] = max(sorted(c), key=lambda k: c[k])
            for th in self.threads:  # a process whose sampled threads have no stack at all
                if th.pid is not None:
                    names.setdefault(th.pid, th.comm)
        for p in (self.capture.environment or {}).get("processes") or []:
            if isinstance(p, dict) and isinstance(p.get("pid"), int) and p.get("comm"):
                names[p["pid"]] = str(p["comm"])
        self._program_names = names
        return names

    def frame_executables(self) -> list[str | None]:
        """The program each frame runs in (executable_of its module; None in a library, the
        kernel, JIT code), by frame id. Computed once."""
        if self._frame_executables is None:
            by_module: dict[str, str | None] = {}
            self._frame_executables = [by_module[f.module] if f.module in by_module else
                                       by_module.setdefault(f.module, executable_of(f.module)) for f in self.frames]
        return self._frame_executables

    # -- invariants ---------------------------------------------------------------------

    def check(self) -> None:
        """Assert the model's invariants (the tests call this)."""
        inc, slf = self.inclusive_counts(), self.self_counts()
        total = self.stack_samples
        assert sum(slf) == total, "self samples must add up to the samples with a stack"
        for i, (n_inc, n_self) in enumerate(zip(inc, slf)):
            assert 0 <= n_self <= n_inc <= total, f"frame {self.frames[i]}: self {n_self} inclusive {n_inc} total {total}"
        assert self.capture.total_samples == sum(s.samples for s in self.stacks)
        assert self.capture.stackless_samples == sum(s.samples for s in self.stacks if not s.frames)
        for s in self.stacks:
            assert s.samples > 0 and 0 <= s.thread < len(self.threads)


def positive(x: float | None) -> float | None:
    """A duration or frequency as an input states it, if it can be one: finite and above 0. An
    input can say `sleep inf`, `sample_freq = 999...9` or time stamps too large for a float; such
    a value is unknown (None), never Infinity or NaN in a report."""
    if x is None or not math.isfinite(x) or x <= 0:
        return None
    return x


def executable_of(module: str) -> str | None:
    """The file name of a module that is a program, not a library, the kernel, the vDSO, a JIT map
    or a deleted mapping: "/usr/bin/janus" -> "janus"; None otherwise."""
    if not module.startswith("/") or module.startswith("//") or " " in module or module.endswith(".map"):
        return None  # (//anon: perf's name for anonymous executable memory, JIT code)
    base = module.rsplit("/", 1)[-1]
    if ".so" in base or base.startswith("[") or base.startswith("memfd:") or not base:
        return None
    return base


def cores_used(samples: int, frequency_hz: float | None, duration_s: float | None) -> float | None:
    """CPU cores used on average: samples / (frequency x duration)."""
    if not frequency_hz or not duration_s:
        return None
    return samples / (frequency_hz * duration_s)
