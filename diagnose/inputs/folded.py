"""Reading folded stacks (`root;...;leaf count`), as written by stackcollapse-perf.pl, inferno,
py-spy, bcc `profile -f` and async-profiler."""

from __future__ import annotations

import re
from collections.abc import Iterable

from diagnose.errors import input_error
from diagnose.profile import CaptureInfo, Frame, Profile, Stack, Thread

# "stack count" or a differential "stack before after"; counts may be decimal ("12.", "12.5").
_LINE = re.compile(rb"^(.*?)\s+(\d+(?:\.\d*)?)(?:\s+(\d+(?:\.\d*)?))?\s*$")
_ANNOTATION = re.compile(r"_\[([kjiw])\]$")
# The first frame of stackcollapse-perf output: comm, comm-PID or comm-PID/TID.
_PROCESS_TID = re.compile(r"^(.*)-(\d+|\?)/(\d+)$")
_PROCESS_PID = re.compile(r"^(.*)-(\d+|\?)$")
# "[libvpx.so.9]" names the module of a frame whose symbol was unknown.
_MODULE_ONLY = re.compile(r"^\[([^\[\] ]+)\]$")


def parse_count(text: bytes) -> int:
    if b"." not in text:
        return int(text)  # exact, however large
    value = float(text)
    return int(value) if value == int(value) else round(value)


def read_folded(chunks: Iterable[bytes], path: str, root_is_process: bool = True) -> Profile:
    """Folded stacks into a Profile. The first frame is the process (comm) unless told otherwise."""
    raw: dict[bytes, int] = {}
    line_no = 0
    carry = b""
    fractional = differential = 0
    for piece in chunks:
        data = carry + piece
        lines = data.split(b"\n")
        carry = lines.pop()
        for line in lines:
            line_no += 1
            fractional, differential = _take(line, line_no, path, raw, fractional, differential)
    if carry:
        line_no += 1
        fractional, differential = _take(carry, line_no, path, raw, fractional, differential)
    warnings = []
    if differential:
        warnings.append(f"{differential} lines carry two counts (a differential file): the second (after) count is used")
    if fractional:
        warnings.append(f"{fractional} lines have fractional counts, rounded to whole samples")
    return _profile(raw, path, root_is_process, warnings)


def _take(line: bytes, line_no: int, path: str, raw: dict[bytes, int], fractional: int, differential: int) -> tuple[int, int]:
    line = line.rstrip(b"\r")
    if not line.strip() or line.startswith(b"#"):
        return fractional, differential
    m = _LINE.match(line)
    if m is None:
        last = line.rsplit(None, 1)[-1][:40].decode("utf-8", "replace")
        raise input_error(path, f"folded line has no sample count (ends with {last!r})",
                          "each line must be `frame;frame;... COUNT` with a number after the last space", line=line_no)
    stack, first, second = m.groups()
    count_text = second if second is not None else first
    if second is not None:
        differential += 1
    if b"." in count_text and float(count_text) != int(float(count_text)):
        fractional += 1
    raw[stack] = raw.get(stack, 0) + parse_count(count_text)
    return fractional, differential


def _profile(raw: dict[bytes, int], path: str, root_is_process: bool, warnings: list[str]) -> Profile:
    frames: list[Frame] = []
    frame_ids: dict[Frame, int] = {}
    threads: list[Thread] = []
    thread_ids: dict[Thread, int] = {}
    stacks: dict[tuple[int, tuple[int, ...]], Stack] = {}
    name_cache: dict[str, int] = {}
    kernel_annotated = False
    total = stackless = 0

    def frame_id(name: str) -> int:
        nonlocal kernel_annotated
        fid = name_cache.get(name)
        if fid is not None:
            return fid
        kind = "user"
        clean = name
        m = _ANNOTATION.search(name)
        if m:
            clean = name[: m.start()]
            if m.group(1) == "k":
                kind, kernel_annotated = "kernel", True
        mm = _MODULE_ONLY.match(clean)
        module = mm.group(1) if mm and mm.group(1) != "unknown" else ""
        frame = Frame(clean, module, kind)  # type: ignore[arg-type]
        fid = frame_ids.get(frame)
        if fid is None:
            fid = frame_ids[frame] = len(frames)
            frames.append(frame)
        name_cache[name] = fid
        return fid

    for stack_b, count in raw.items():
        if count <= 0:
            continue
        parts = stack_b.decode("utf-8", "replace").split(";")
        thread = Thread("", None, None)
        if root_is_process and parts:
            thread = _thread_of(parts[0])
            parts = parts[1:]
        t = thread_ids.get(thread)
        if t is None:
            t = thread_ids[thread] = len(threads)
            threads.append(thread)
        ids = tuple(frame_id(p) for p in parts if p != "")
        key = (t, ids)
        st = stacks.get(key)
        if st is None:
            stacks[key] = Stack(t, ids, count, count)
        else:
            st.samples += count
            st.weight += count
        total += count
        if not ids:
            stackless += count
    capture = CaptureInfo(source=path, format="folded", total_samples=total, stackless_samples=stackless,
                          kernel_frames_known=kernel_annotated, warnings=warnings)
    if not kernel_annotated:
        capture.warnings.append("folded input without _[k] annotations: kernel and user frames cannot be told apart "
                                "(fold with `diagnose collapse --kernel` to keep that)")
    return Profile(frames, threads, list(stacks.values()), capture)


def _thread_of(root: str) -> Thread:
    m = _PROCESS_TID.match(root)
    if m:
        pid = None if m.group(2) == "?" else int(m.group(2))
        return Thread(m.group(1), pid, int(m.group(3)))
    m = _PROCESS_PID.match(root)
    if m and m.group(2) != "?":
        return Thread(m.group(1), int(m.group(2)), None)
    if m:
        return Thread(m.group(1), None, None)
    return Thread(root, None, None)
