"""Turning a perf script parse into a Profile: which event, frame names and kinds, capture facts."""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import replace

from diagnose.core.errors import DiagnoseError
from diagnose.model.call_graph_mode import call_graph_mode
from diagnose.inputs.perf_script import FrameRec, PartialParse
from diagnose.model.programs import programs_without_pids
from diagnose.model.profile import CaptureInfo, Frame, Kind, Profile, Stack, Thread, positive
from diagnose.model.symbols import display_name

# Events that measure CPU time; the first present is analysed unless --event says otherwise.
CPU_TIME_EVENTS = ("cpu-clock", "task-clock", "cycles", "cpu-cycles", "cpu_core/cycles/", "cpu_atom/cycles/",
                   "ref-cycles")
# Events whose period is in nanoseconds, so that the sampling frequency follows from it.
NANOSECOND_EVENTS = ("cpu-clock", "task-clock")
_USER_PSEUDO_MODULES = {b"[vdso]", b"[vdso32]", b"[vdsox32]", b"[vsyscall]", b"[heap]", b"[stack]", b"[anon]",
                        b"[uprobes]", b"[jit]", b"[unknown]"}
_KO = (b".ko", b".ko.xz", b".ko.zst", b".ko.gz")
# Linux task ids are 32-bit: a longer one is a corrupt line, not a task.
MAX_TASK_ID_DIGITS = 10


def event_base(event: str) -> str:
    """"cpu-clock:ppp" -> "cpu-clock"; "cpu_core/cycles/u" -> "cpu_core/cycles/"."""
    base = event.split(":", 1)[0]
    if base.count("/") >= 2:
        base = base[: base.rindex("/") + 1]
    return base


def choose_event(events: dict[str, int], requested: str | None) -> str | None:
    """The event to analyse: the requested one, else a CPU-time event, else the most sampled."""
    named = {e: n for e, n in events.items() if e}
    if requested is not None:
        for e in named:
            if e == requested or event_base(e) == requested:
                return e
        have = ", ".join(sorted(named)) or "none"
        raise DiagnoseError(f"no samples of event {requested!r} in the input (events present: {have}); "
                            f"pass one of those to --event")
    if not named:
        return None
    for wanted in CPU_TIME_EVENTS:
        candidates = [e for e in named if event_base(e) == wanted]
        if candidates:
            return max(candidates, key=lambda e: named[e])
    return max(named, key=lambda e: named[e])


def frame_kind(module: bytes, kernel_address: bool) -> Kind:
    if module.startswith(b"[") and module not in _USER_PSEUDO_MODULES:
        return "kernel"  # [kernel.kallsyms], [nf_conntrack], [bpf_prog], ...
    base = module.rsplit(b"/", 1)[-1]
    if base.startswith(b"vmlinux") or base.endswith(_KO):
        return "kernel"
    if module == b"[unknown]" or module == b"inlined":
        return "kernel" if kernel_address else "user"
    return "user"


class _FrameTable:
    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.ids: dict[Frame, int] = {}

    def add(self, frame: Frame) -> int:
        fid = self.ids.get(frame)
        if fid is None:
            fid = self.ids[frame] = len(self.frames)
            self.frames.append(frame)
        return fid


def _decode(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def build_profile(parse: PartialParse, source: str, fmt: str, requested_event: str | None) -> Profile:
    events = {_decode(e): st.samples for e, st in parse.events.items()}
    chosen = choose_event(events, requested_event)
    if chosen is None and not parse.counts:
        chosen = header_event(parse.header)  # a capture without samples still names its event
    chosen_b = chosen.encode() if chosen is not None else None
    keep = {chosen_b, b""} if chosen_b is not None else {b""}

    table = _FrameTable()
    threads: dict[tuple[bytes, bytes | None, bytes], int] = {}
    thread_list: list[Thread] = []
    recs = parse.frames
    # A parsed frame -> its profile frame id (an int), or the ids of an inline chain (a tuple):
    # a list for the usual case, a dict for Java threads and inlined frames that borrow a module.
    plain: list[int | tuple[int, ...] | None] = [None] * len(recs)
    per_rec: dict[tuple[int, bool, bytes | None], int | tuple[int, ...]] = {}
    modules: dict[bytes, str] = {}
    # Per thread: frame ids -> Stack; `order` keeps the stacks in input order.
    stacks: list[dict[tuple[int, ...], Stack]] = []
    order: list[Stack] = []

    def convert(fid: int, is_java: bool, module_override: bytes | None) -> int | tuple[int, ...]:
        rec: FrameRec = recs[fid]
        module = module_override if module_override is not None else rec.module
        kind = frame_kind(module, rec.kernel_address)
        mod = modules.get(module)
        if mod is None:
            mod = modules[module] = "" if module == b"[unknown]" else _decode(module)
        names = display_name(_decode(rec.func), mod, is_java)
        # perf lists an inline chain "A->B->C" outermost first; in root-first order it stays so.
        if len(names) == 1:
            return table.add(Frame(names[0], mod, kind))
        return tuple(table.add(Frame(n, mod, kind)) for n in names)

    odd_ids = 0
    groups = []
    for thread_key, event, _strict in parse.groups:
        if event not in keep:
            groups.append(None)
            continue
        t = threads.get(thread_key)
        if t is None:
            comm, pid, tid = thread_key
            t = threads[thread_key] = len(thread_list)
            pid_n, tid_n = _task_id(pid), _task_id(tid)
            if (pid and pid_n is None) or (tid and tid_n is None):
                odd_ids += 1
            thread_list.append(Thread(_decode(comm), pid_n, tid_n))
            stacks.append({})
        groups.append((t, thread_key[0] == b"java"))

    total = stackless = 0
    for key, c in parse.counts.items():
        n, weight = (1, c) if type(c) is int else c  # type: ignore[misc]
        group = groups[key[0]]
        if group is None:
            continue
        t, is_java = group
        frame_ids: list[int] = []
        # Frame ids are leaf first. perf prints an "(inlined)" frame just before the function it
        # was inlined into, so walking root first, that function comes first and lends its module.
        containing_module: bytes | None = None
        for k in range(len(key) - 1, 0, -1):
            fid = key[k]
            rec = recs[fid]
            if rec.module != b"inlined":
                containing_module = rec.module
                if is_java:
                    got = per_rec.get((fid, True, None))
                    if got is None:
                        got = per_rec[(fid, True, None)] = convert(fid, True, None)
                else:
                    got = plain[fid]
                    if got is None:
                        got = plain[fid] = convert(fid, False, None)
            else:
                got = per_rec.get((fid, is_java, containing_module))
                if got is None:
                    got = per_rec[(fid, is_java, containing_module)] = convert(fid, is_java, containing_module)
            # Within an inline chain, names are outermost first.
            if type(got) is int:
                frame_ids.append(got)
            else:
                frame_ids.extend(got)  # type: ignore[arg-type]
        ids = tuple(frame_ids)
        per_thread = stacks[t]
        st = per_thread.get(ids)
        if st is None:
            st = per_thread[ids] = Stack(t, ids, n, weight)
            order.append(st)
        else:
            st.samples += n
            st.weight += weight
        total += n
        if not frame_ids:
            stackless += n

    capture = CaptureInfo(source=source, format=fmt, event=chosen, events=events, total_samples=total,
                          stackless_samples=stackless)
    if odd_ids:
        capture.warnings.append(f"{source}: {odd_ids} thread(s) carry a pid or tid of more than {MAX_TASK_ID_DIGITS} "
                                f"digits (a corrupt line?); their samples are counted without it")
    apply_header(capture, parse.header, chosen)
    if parse.time_min is not None and parse.time_max is not None \
            and math.isfinite(parse.time_min) and math.isfinite(parse.time_max):
        capture.time_first, capture.time_last = parse.time_min, parse.time_max
    st_chosen = parse.events.get(chosen_b) if chosen_b is not None else None
    if st_chosen is not None:
        if capture.frequency_hz is None and chosen is not None and event_base(chosen) in NANOSECOND_EVENTS \
                and st_chosen.samples and st_chosen.period > st_chosen.samples:
            try:
                hz = positive(round(1e9 / (st_chosen.period / st_chosen.samples), 2))
            except OverflowError:  # periods too large for a float: the frequency is unknown
                hz = None
            if hz is not None:
                capture.frequency_hz, capture.frequency_source = hz, "period"
    settle_duration(capture)
    profile = Profile(table.frames, thread_list, order, capture)
    threads_of_targets(profile)
    return profile


def header_event(header: list[bytes]) -> str | None:
    for raw in header:
        m = re.match(r"^#\s*event\s*:\s*name = ([^,]+)", _decode(raw))
        if m:
            return m.group(1).strip()
    return None


_HEADER_FIELD = re.compile(r"^#\s*([a-zA-Z][\w ]*?)\s*:\s*(.*)$")


def apply_header(capture: CaptureInfo, header: list[bytes], event: str | None) -> None:
    """Capture facts from `perf script --header` lines."""
    for raw in header:
        line = _decode(raw)
        m = _HEADER_FIELD.match(line)
        if not m:
            continue
        key, value = m.group(1).strip().lower(), m.group(2).strip()
        if key == "cmdline":
            capture.command = value
            capture.target_pids = pids_from_command(value)
            capture.call_graph = call_graph_mode(value)
        elif key == "hostname":
            capture.hostname = value
        elif key == "os release":
            capture.os_release = value
        elif key == "perf version":
            capture.perf_version = value
        elif key == "nrcpus online":
            capture.cpus_online = _int(value)
        elif key == "cpudesc":
            capture.cpu_model = value
        elif key in ("captured on",):
            capture.captured_on = value
        elif key == "event":
            _event_header(capture, value, event)


def _event_header(capture: CaptureInfo, value: str, event: str | None) -> None:
    name = re.search(r"name = ([^,]+)", value)
    if not name or event is None:
        return
    hname = name.group(1).strip()
    if hname != event and event_base(hname) != event_base(event):
        return
    freq = re.search(r"\{ sample_period, sample_freq \} = (\d+)", value) or re.search(r"sample_freq = (\d+)", value)
    if freq and (re.search(r"\bfreq = 1\b", value) or "sample_freq =" in value and "sample_period" not in value):
        hz = _positive(freq.group(1))
        if hz is not None:
            capture.frequency_hz, capture.frequency_source = hz, "header"


def _task_id(text: bytes | None) -> int | None:
    """A pid or tid as perf prints it; None when absent or longer than any task id can be
    (a corrupt line: its samples are counted, without the id)."""
    if not text:
        return None
    digits = text.lstrip(b"0")
    return int(digits or b"0") if len(digits) <= MAX_TASK_ID_DIGITS else None


def _int(text: str) -> int | None:
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        return None


def command_duration(command: str | None) -> float | None:
    """`perf record ... -- sleep 30` states the capture's wall-clock length."""
    if not command:
        return None
    try:
        args = shlex.split(command)
    except ValueError:
        args = command.split()
    if len(args) >= 2 and args[-2].rsplit("/", 1)[-1] == "sleep":
        return _positive(args[-1])
    return None


def _positive(text: str) -> float | None:
    """A frequency or a duration as the header states it: a finite number above 0, else
    None (not known) rather than inf, nan or a negative that every rate would inherit."""
    try:
        return positive(float(text))
    except ValueError:
        return None


def settle_duration(capture: CaptureInfo) -> None:
    """Duration: as the recording command states it, else from the sample time stamps
    (span plus one sampling interval, so that n evenly spaced samples span n intervals)."""
    if capture.duration_s is not None:
        return
    stated = command_duration(capture.command)
    if stated is not None:
        capture.duration_s, capture.duration_source = stated, "perf record command"
        return
    if capture.time_first is not None and capture.time_last is not None:
        span = capture.time_last - capture.time_first
        if capture.frequency_hz:
            span += 1.0 / capture.frequency_hz
        if positive(span) is not None:
            capture.duration_s, capture.duration_source = round(span, 6), "sample time stamps"


def threads_of_targets(profile: Profile) -> None:
    """The threads' process ids, where the recording's command line tells them and the samples
    do not (perf script's default text has thread ids only), set in place: after `perf record -p
    PID`, every thread is PID's (unless the stacks run in several programs: a child the target
    forked is another process); after `-p PID1,PID2`, a thread whose id is one of them is that
    process's main thread, and when every thread is such a one (single-threaded processes, as in
    two socat or two ffmpeg), each gets its pid. Otherwise the threads stay without one: a
    process made of its main thread alone would be wrong, and several processes' threads cannot
    be told apart (diagnose.model.programs says so). perf's -p wins over -a."""
    threads, targets = profile.threads, profile.capture.target_pids
    if not targets or any(t.pid is not None for t in threads):
        return
    if len(targets) == 1:
        if len(programs_without_pids(profile)) <= 1:
            threads[:] = [replace(t, pid=targets[0]) for t in threads]
    elif all(t.tid in targets for t in threads):
        threads[:] = [replace(t, pid=t.tid) for t in threads]


def pids_from_command(command: str | None) -> list[int]:
    if not command:
        return []
    args = command.split()
    for i, a in enumerate(args):
        value = None
        if a in ("-p", "--pid") and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith("--pid="):
            value = a.split("=", 1)[1]
        if value:
            try:
                return [int(x) for x in value.split(",") if x]
            except ValueError:
                return []
    return []

