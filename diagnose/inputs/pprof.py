"""Reading pprof profiles (profile.proto, gzip'd or not), as Go's runtime/pprof, `go tool pprof`
and perf_to_profile write them, into the Profile model.

- The sample count is the "samples"/"count" value; without one, the CPU time value ("cpu" in
  nanoseconds) divided by the period. `--event` may name another sample type.
- Frames are user space (pprof from Go holds no kernel frames), except those of a mapping named
  like perf's kernel ("[kernel.kallsyms]", as diagnose's own pprof writer marks them); the module
  of a frame is its mapping's file name.
- Inlined functions (several Line entries in one Location) are separate frames, the innermost
  on the leaf side, as `go tool pprof` shows them.
- Labels "comm"/"thread" (name), "pid", "tid" and "goroutine" say the thread where present; else
  every sample is on one thread named after the main binary (the first mapping).
"""

from __future__ import annotations

from datetime import UTC, datetime

from diagnose.core.errors import DiagnoseError, input_error
from diagnose.inputs.source import TruncatedGzip, read_chunks
from diagnose.model.profile import CaptureInfo, Frame, Profile, StackTally, Thread, positive

# A decompressed pprof larger than this is refused (protobuf's own limit is 2 GB).
MAX_BYTES = 1 << 30
KERNEL_MAPPINGS = ("[kernel.kallsyms]", "[kernel]", "[vmlinux]")
# Sample types that count CPU samples, best first: (type, unit). "samples" is a count already.
COUNT_TYPES = (("samples", "count"), ("sample", "count"))
CPU_TYPES = (("cpu", "nanoseconds"), ("cpu-clock", "nanoseconds"))
NO_KERNEL_WARNING = ("pprof profile: user space only (no kernel frames); a leaf in a system-call wrapper "
                     "(Go's syscall.Syscall6 under syscall.write) is counted as time in that call, with lower "
                     "confidence")

def _read_bytes(path: str) -> bytes:
    parts: list[bytes] = []
    size = 0
    try:
        for chunk in read_chunks(path):
            size += len(chunk)
            if size > MAX_BYTES:
                raise input_error(path, f"pprof profile larger than {MAX_BYTES >> 20} MB decompressed",
                                  "pass a smaller profile (go tool pprof -proto with -focus or -nodecount cuts one)")
            parts.append(chunk)
    except TruncatedGzip:
        raise input_error(path, "the compressed pprof profile ends early (cut short)",
                          "copy the whole file again; a profile cannot be read in part") from None
    return b"".join(parts)


def _parse(path: str):  # type: ignore[no-untyped-def]
    try:  # protobuf only when a pprof file is read (and a broken install said in one line)
        from google.protobuf.message import DecodeError

        from diagnose.inputs import profile_pb2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise DiagnoseError(f"{path}: reading pprof needs the protobuf package ({exc}); reinstall diagnose") from None
    msg = profile_pb2.Profile()
    try:
        msg.ParseFromString(_read_bytes(path))
    except DecodeError as exc:
        raise input_error(path, f"not a readable pprof profile ({exc})",
                          "check that the file is complete (a profile cut short cannot be read)") from None
    return msg


def _choose(types: list[tuple[str, str]], event: str | None, path: str) -> tuple[int | None, int | None]:
    """(index of the count value, index of the CPU time value) of the sample types."""
    shown = ", ".join(f"{t}/{u}" for t, u in types) or "none"
    if event is not None:
        for i, (t, u) in enumerate(types):
            if event in (t, f"{t}/{u}"):
                return (i, None) if u == "count" else (None, i)
        raise DiagnoseError(f"{path}: the pprof profile has no sample type {event!r} (it has: {shown}); "
                            f"choose one of them with --event, or leave --event out")
    count = next((types.index(t) for t in COUNT_TYPES if t in types), None)
    cpu = next((types.index(t) for t in CPU_TYPES if t in types), None)
    if count is None and cpu is None:
        raise input_error(path, f"a pprof profile without CPU samples (sample types: {shown})",
                          "pass a CPU profile (Go: pprof.StartCPUProfile, or /debug/pprof/profile), or name a "
                          "sample type with --event")
    return count, cpu


class _Labels:
    """The thread of a sample from its labels."""

    def __init__(self, strings: list[str], binary: str) -> None:
        self.strings = strings
        self.binary = binary

    def thread(self, labels) -> Thread:  # type: ignore[no-untyped-def]
        st = self.strings
        name: str | None = None
        pid = tid = goroutine = None
        for lab in labels:
            key = st[lab.key] if 0 <= lab.key < len(st) else ""
            text = st[lab.str] if 0 < lab.str < len(st) else None
            num = lab.num if text is None else (int(text) if text.isdigit() else None)
            if key in ("comm", "thread") and text:
                name = text
            elif key == "pid" and num is not None:
                pid = num
            elif key in ("tid", "thread_id") and num is not None:
                tid = num
            elif key == "goroutine" and (num is not None or text):
                goroutine = num if num is not None else text
        if name is None:
            name = self.binary if goroutine is None else f"{self.binary} goroutine {goroutine}"
        return Thread(name, pid, tid)


def read_pprof(path: str, event: str | None = None) -> Profile:
    msg = _parse(path)
    st = list(msg.string_table)

    def s(i: int) -> str:
        return st[i] if 0 <= i < len(st) else ""

    types = [(s(t.type), s(t.unit)) for t in msg.sample_type]
    count_i, cpu_i = _choose(types, event, path)
    period = msg.period if msg.period > 0 else 0
    # A time value is samples x period; another chosen value (bytes, say) is taken as it is.
    divisor = period if cpu_i is not None and types[cpu_i][1] == "nanoseconds" else 0
    mappings = {m.id: s(m.filename) for m in msg.mapping}
    binary = next((name for name in mappings.values() if name), "").rsplit("/", 1)[-1] or "pprof"
    functions = {f.id: (s(f.name) or s(f.system_name) or "[unknown]") for f in msg.function}
    frames: list[Frame] = []
    frame_ids: dict[Frame, int] = {}

    def frame(name: str, module: str) -> int:
        kind = "kernel" if module in KERNEL_MAPPINGS else "user"
        fr = Frame(name, module, kind)  # type: ignore[arg-type]
        fid = frame_ids.get(fr)
        if fid is None:
            fid = frame_ids[fr] = len(frames)
            frames.append(fr)
        return fid

    locations: dict[int, tuple[int, ...]] = {}
    for loc in msg.location:
        module = mappings.get(loc.mapping_id, "")
        if loc.line:
            # line[0] is the innermost function: root first means the last line first
            locations[loc.id] = tuple(frame(functions.get(ln.function_id, "[unknown]"), module)
                                      for ln in reversed(loc.line))
        else:  # not symbolised: named by its module, as perf's [unknown] frames are
            base = module.rsplit("/", 1)[-1]
            locations[loc.id] = (frame(f"[{base}]" if base and not base.startswith("[") else base or "[unknown]",
                                       module),)
    labels = _Labels(st, binary)
    tally = StackTally()
    dropped = 0
    for sample in msg.sample:
        values = sample.value
        n = _samples(values, count_i, cpu_i, divisor)
        if n is None:
            dropped += 1
            continue
        if n <= 0:
            continue
        weight = values[cpu_i] if cpu_i is not None and cpu_i < len(values) else n * (period or 1)
        t = tally.thread(labels.thread(sample.label))
        ids: list[int] = []
        for loc_id in reversed(sample.location_id):
            got = locations.get(loc_id)
            if got is None:
                raise input_error(path, f"a sample refers to location {loc_id}, which the profile does not have",
                                  "the profile is damaged; write it again")
            ids.extend(got)
        tally.add(t, tuple(ids), n, weight)
    capture = _capture(msg, path, types, count_i, cpu_i, tally.total, tally.stackless)
    capture.kernel_frames_known = any(f.kind == "kernel" for f in frames)
    if not capture.kernel_frames_known:
        capture.warnings.append(NO_KERNEL_WARNING)
    if dropped:
        capture.warnings.append(f"{path}: skipped {dropped} samples without the chosen value")
    if not tally.threads:
        tally.thread(Thread(binary, None, None))
    return Profile(frames, tally.threads, tally.stacks(), capture)


def _samples(values, count_i: int | None, cpu_i: int | None, period: int) -> int | None:  # type: ignore[no-untyped-def]
    """The samples of one Sample: its count, else its time value / the period (0: the value itself)."""
    if count_i is not None:
        return values[count_i] if count_i < len(values) else None
    if cpu_i is None or cpu_i >= len(values):
        return None
    return round(values[cpu_i] / period) if period else values[cpu_i]


def _capture(msg, path: str, types: list[tuple[str, str]], count_i: int | None, cpu_i: int | None,  # type: ignore[no-untyped-def]
             total: int, stackless: int) -> CaptureInfo:
    chosen = types[count_i if count_i is not None else cpu_i]  # type: ignore[index]
    event = types[cpu_i][0] if cpu_i is not None else chosen[0]
    capture = CaptureInfo(source=path, format="pprof", event=event, events={event: total},
                          total_samples=total, stackless_samples=stackless)
    st = msg.string_table
    ptype = (st[msg.period_type.type], st[msg.period_type.unit]) if len(st) > max(msg.period_type.type,
                                                                                  msg.period_type.unit) else ("", "")
    if msg.period > 0 and ptype[1] == "nanoseconds":
        capture.frequency_hz = positive(round(1e9 / msg.period, 6))
        capture.frequency_source = "pprof period" if capture.frequency_hz else None
    if msg.duration_nanos > 0:
        capture.duration_s = positive(msg.duration_nanos / 1e9)
        capture.duration_source = "pprof duration" if capture.duration_s else None
    if msg.time_nanos > 0:
        try:
            capture.captured_on = datetime.fromtimestamp(msg.time_nanos / 1e9, UTC).strftime("%a %b %d %H:%M:%S %Y UTC")
        except (OverflowError, OSError, ValueError):
            pass
    return capture
