"""A profile as pprof (profile.proto, gzip'd), for `go tool pprof` and the tools that read it.

Each frame is one Location with one Line (inlined frames are already frames of their own); the
function's module is its Mapping ("[kernel.kallsyms]" for kernel frames, which pprof shows
like any other). Sample types are samples/count and cpu/nanoseconds (samples × the sampling
period, from the capture's frequency; without a known frequency only samples/count); comm, pid
and tid are labels of each sample. The totals `go tool pprof -top` shows are the profile's."""

from __future__ import annotations

import gzip

from diagnose.model.profile import Profile

KERNEL_MAPPING = "[kernel.kallsyms]"


class _Strings:
    def __init__(self) -> None:
        self.table: list[str] = [""]
        self.ids: dict[str, int] = {"": 0}

    def __call__(self, text: str) -> int:
        i = self.ids.get(text)
        if i is None:
            i = self.ids[text] = len(self.table)
            self.table.append(text)
        return i


def pprof_message(profile: Profile):  # type: ignore[no-untyped-def]
    """The profile.proto Profile message of a profile."""
    # google.protobuf: loaded only when this runs
    from diagnose.inputs import profile_pb2

    msg = profile_pb2.Profile()
    s = _Strings()
    cap = profile.capture
    period = round(1e9 / cap.frequency_hz) if cap.frequency_hz else 0
    vt = msg.sample_type.add()
    vt.type, vt.unit = s("samples"), s("count")
    if period:
        vt = msg.sample_type.add()
        vt.type, vt.unit = s("cpu"), s("nanoseconds")
        msg.period_type.type, msg.period_type.unit = s("cpu"), s("nanoseconds")
        msg.period = period
    if cap.duration_s:
        msg.duration_nanos = round(cap.duration_s * 1e9)

    modules = [f.module or (KERNEL_MAPPING if f.kind == "kernel" else "") for f in profile.frames]
    mappings = _mappings(profile, modules)
    for module, mapping_id in mappings.items():
        m = msg.mapping.add()
        m.id, m.filename, m.has_functions = mapping_id, s(module), True
    functions: dict[tuple[str, str], int] = {}
    for fid, frame in enumerate(profile.frames):
        module = modules[fid]
        mapping_id = mappings.get(module, 0)
        key = (frame.name, module)
        func_id = functions.get(key)
        if func_id is None:
            func_id = functions[key] = len(functions) + 1
            f = msg.function.add()
            f.id, f.name, f.system_name = func_id, s(frame.name), s(frame.name)
        loc = msg.location.add()
        loc.id, loc.mapping_id = fid + 1, mapping_id
        loc.line.add().function_id = func_id

    keys = (s("comm"), s("pid"), s("tid"))
    for st in profile.stacks:
        if st.samples <= 0:
            continue
        sample = msg.sample.add()
        sample.location_id.extend(f + 1 for f in reversed(st.frames))
        sample.value.append(st.samples)
        if period:
            sample.value.append(st.samples * period)
        th = profile.threads[st.thread]
        if th.comm:
            sample.label.add(key=keys[0], str=s(th.comm))
        if th.pid is not None:
            sample.label.add(key=keys[1], num=th.pid)
        if th.tid is not None:
            sample.label.add(key=keys[2], num=th.tid)
    msg.string_table.extend(s.table)
    return msg


def _mappings(profile: Profile, modules: list[str]) -> dict[str, int]:
    """Module -> mapping id, the module of the most inclusive samples first (the main program:
    pprof names the profile after its first mapping), the kernel last."""
    reach: dict[str, int] = {}
    for module, n in zip(modules, profile.inclusive_counts()):
        if module:
            reach[module] = max(reach.get(module, 0), n)
    order = sorted(reach, key=lambda m: (m == KERNEL_MAPPING, -reach[m], m))
    return {m: i + 1 for i, m in enumerate(order)}


def render_pprof(profile: Profile) -> bytes:
    """The gzip'd pprof profile (the same bytes for the same profile: no time stamp in the gzip header)."""
    return gzip.compress(pprof_message(profile).SerializeToString(), compresslevel=6, mtime=0)
