"""Reading folded stacks (`root;...;leaf count`), as written by stackcollapse-perf.pl, inferno,
py-spy, bcc `profile -f` and async-profiler."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator

from diagnose.errors import input_error
from diagnose.inputs.source import TruncatedGzip
from diagnose.profile import CaptureInfo, Frame, Profile, Stack, Thread

# "stack count" or a differential "stack before after"; counts may be decimal ("12.", "12.5").
_LINE = re.compile(rb"^(.*?)\s+(\d+(?:\.\d*)?)(?:\s+(\d+(?:\.\d*)?))?\s*$")
_ANNOTATION = re.compile(r"_\[([kjiw])\]$")
# The first frame of stackcollapse-perf output: comm, comm-PID or comm-PID/TID.
_PROCESS_TID = re.compile(r"^(.*)-(\d+|\?)/(\d+)$")
_PROCESS_PID = re.compile(r"^(.*)-(\d+|\?)$")
# "[libvpx.so.9]" names the module of a frame whose symbol was unknown.
_MODULE_ONLY = re.compile(r"^\[([^\[\] ]+)\]$")
# py-spy (--format raw): "func (file.py:12)", "func (libc.so.6)", "0x7f00 (libc.so.6)"; the first
# frame is "process 123:\"cmd\"" or "thread (0x7f..)" only when asked for, else a plain frame.
_PYSPY_FRAME = re.compile(r"^(.+) \(([^()]*)\)$")
_PYSPY_SOURCE = re.compile(r"^(.*\.(?:py|pyx|c|cc|cpp|cxx|h|rs)):\d+$")
_PYSPY_PROCESS = re.compile(r'^process (\d+):"(.*)"$')
_PYSPY_THREAD = re.compile(r"^thread \((0x[0-9a-fA-F]+|\d+)\)(?:: (.*))?$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]+$")


# A count is a number of samples (or of weighted events): more than 30 digits before the point
# is not a count but a defect (two numbers glued together, a corrupt file).
MAX_COUNT_DIGITS = 30


def parse_count(text: bytes) -> int | None:
    """The count of a folded line, rounded to a whole number; None when it has more than
    MAX_COUNT_DIGITS digits before the point."""
    whole, _, fraction = text.partition(b".")
    whole = whole.lstrip(b"0")
    if len(whole) > MAX_COUNT_DIGITS:
        return None
    if not fraction.strip(b"0"):
        return int(whole or b"0")  # exact
    return round(float(b"0" + whole + b"." + fraction[:30]))


def fraction_of(text: bytes) -> bool:
    """Does the count have a fractional part ("12.5", not "12." or "12.0")?"""
    return bool(text.partition(b".")[2].strip(b"0"))


def read_folded(chunks: Iterable[bytes], path: str, root_is_process: bool = True) -> Profile:
    """Folded stacks into a Profile. The first frame is the process (comm) unless told otherwise."""
    raw: dict[bytes, int] = {}
    line_no = 0
    carry = b""
    fractional = differential = 0
    cut: list[TruncatedGzip] = []
    for piece in _until_cut(chunks, cut):
        data = carry + piece
        lines = data.split(b"\n")
        carry = lines.pop()
        for line in lines:
            line_no += 1
            fractional, differential = _take(line, line_no, path, raw, fractional, differential)
    if carry and not cut:  # (a line the cut ends in is not whole: its count would be wrong)
        line_no += 1
        fractional, differential = _take(carry, line_no, path, raw, fractional, differential)
    warnings = []
    if cut:
        warnings.append(f"{path}: the compressed data ends early; analysed the {line_no:,} whole lines before the cut"
                        + (f", not the cut line {line_no + 1}" if carry else ""))
    if differential:
        warnings.append(f"{differential} lines carry two counts (a differential file): the second (after) count is used")
    if fractional:
        warnings.append(f"{fractional} lines have fractional counts, rounded to whole samples")
    profile = _profile(raw, path, root_is_process, warnings, pyspy=_looks_like_pyspy(raw))
    profile.capture.truncated = bool(cut)
    return profile


def _until_cut(chunks: Iterable[bytes], cut: list[TruncatedGzip]) -> Iterator[bytes]:
    """The chunks up to a gzip cut, which is noted in `cut` rather than raised."""
    try:
        yield from chunks
    except TruncatedGzip as exc:
        cut.append(exc)


def _looks_like_pyspy(raw: dict[bytes, int]) -> bool:
    """py-spy writes every frame as `name (where)`; stackcollapse-perf.pl and the others do not
    (their frames are bare symbols, with `_[k]` or `[module]` at most)."""
    seen = hits = 0
    for stack in itertools.islice(raw, 200):
        for part in stack.decode("utf-8", "replace").split(";")[1:]:
            seen += 1
            hits += _PYSPY_FRAME.match(part) is not None and _ANNOTATION.search(part) is None
    return seen > 0 and hits >= 0.9 * seen


def _pyspy_frame(text: str) -> tuple[str, str]:
    """A py-spy frame as (function, module): the source line is dropped (one function, one frame),
    a Python or C source file is kept as where the function lives, an address becomes [unknown]."""
    m = _PYSPY_FRAME.match(text)
    if m is None:
        return text, ""
    name, where = m.groups()
    if _ADDRESS.match(name):
        name = "[unknown]"
    src = _PYSPY_SOURCE.match(where)
    if src:
        where = src.group(1)
        return name, where if where.endswith((".py", ".pyx")) else ""
    return name, where


def _take(line: bytes, line_no: int, path: str, raw: dict[bytes, int], fractional: int, differential: int) -> tuple[int, int]:
    line = line.rstrip(b"\r")
    if not line.strip() or line.startswith(b"#"):
        return fractional, differential
    m = _LINE.match(line)
    if m is None:
        last = line.rsplit(None, 1)[-1][-40:].decode("utf-8", "replace")
        raise input_error(path, f"folded line has no sample count (ends with {last!r})",
                          "each line must be `frame;frame;... COUNT` with a number after the last space", line=line_no)
    stack, first, second = m.groups()
    count_text = second if second is not None else first
    if second is not None:
        differential += 1
    count = parse_count(count_text)
    if count is None:
        shown = count_text[:20].decode("ascii") + ("..." if len(count_text) > 20 else "")
        raise input_error(path, f"folded count {shown} ({len(count_text):,} characters) is too large for a number of samples",
                          f"a count has at most {MAX_COUNT_DIGITS} digits; check the line (two numbers glued together?)",
                          line=line_no)
    if fraction_of(count_text):
        fractional += 1
    raw[stack] = raw.get(stack, 0) + count
    return fractional, differential


def _profile(raw: dict[bytes, int], path: str, root_is_process: bool, warnings: list[str],
             pyspy: bool = False) -> Profile:
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
        if pyspy:
            clean, module = _pyspy_frame(clean)
        else:
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
        if pyspy and parts:
            found = _pyspy_root(parts[0])
            if found is not None:
                thread = found
                parts = parts[1:]
        elif root_is_process and parts:
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
    if pyspy:
        capture.warnings.append("py-spy stacks: user space only (no kernel frames); a leaf in a system-call wrapper is "
                                "counted as time in that call, with lower confidence")
    elif not kernel_annotated:
        capture.warnings.append("folded input without _[k] annotations: kernel and user frames cannot be told apart "
                                "(fold with `diagnose collapse --kernel` to keep that)")
    return Profile(frames, threads, list(stacks.values()), capture)


def _pyspy_root(root: str) -> Thread | None:
    m = _PYSPY_PROCESS.match(root)
    if m:
        return Thread(m.group(2).split(" ")[0].rsplit("/", 1)[-1] or "python", int(m.group(1)), None)
    m = _PYSPY_THREAD.match(root)
    if m:
        ident = m.group(1)
        return Thread(m.group(2) or "thread", None, None if ident.startswith("0x") else int(ident))
    return None


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
