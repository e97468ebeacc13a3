"""Reading folded stacks (`root;...;leaf count`), as written by stackcollapse-perf.pl, inferno,
py-spy, bcc `profile -f` and async-profiler."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator

from diagnose.core.errors import input_error
from diagnose.inputs.source import TruncatedGzip
from diagnose.model.profile import CaptureInfo, Frame, Profile, Stack, Thread
from diagnose.model.stack_counts import profile_counts

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


# A folded line is one stack: a line longer than this is not one (a binary file, a missing newline).
MAX_LINE_BYTES = 64 * 1024 * 1024
# The first this many distinct stacks tell py-spy output from the others.
SNIFF_STACKS = 200


def folded_lines(chunks: Iterable[bytes], path: str, counts: _Counts | None = None) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of folded text read piece by piece; what is carried between pieces
    is one partial line, at most MAX_LINE_BYTES. A compressed file that ends early (a gzip cut)
    ends the lines at the last whole one, noted in `counts`: the cut line's count would be wrong."""
    line_no = 0
    carry: list[bytes] = []  # the pieces of a line that spans several
    carried = 0
    cut: list[TruncatedGzip] = []
    for piece in _until_cut(chunks, cut):
        start = 0
        if carry:
            nl = piece.find(b"\n")
            if nl < 0:
                carry.append(piece)
                carried += len(piece)
                _check_line_length(carried, line_no + 1, path)
                continue
            carry.append(piece[:nl])
            line_no += 1
            yield line_no, b"".join(carry)
            carry, carried, start = [], 0, nl + 1
        lines = piece[start:].split(b"\n")
        last = lines.pop()
        for line in lines:
            line_no += 1
            yield line_no, line
        if last:
            carry, carried = [last], len(last)
            _check_line_length(carried, line_no + 1, path)
    if cut:
        if counts is not None:
            counts.cut_after, counts.cut_line = line_no, bool(carry)
    elif carry:
        yield line_no + 1, b"".join(carry)


def _until_cut(chunks: Iterable[bytes], cut: list[TruncatedGzip]) -> Iterator[bytes]:
    """The chunks up to a gzip cut, which is noted in `cut` rather than raised."""
    try:
        yield from chunks
    except TruncatedGzip as exc:
        cut.append(exc)


def _check_line_length(n: int, line_no: int, path: str) -> None:
    if n > MAX_LINE_BYTES:
        raise input_error(path, f"a line longer than {MAX_LINE_BYTES >> 20} MB, not a folded stack",
                          "each line must be `frame;frame;... COUNT`; check that this is a folded-stack file",
                          line=line_no)


class _Counts:
    """Line-level facts of a folded file: lines with two counts, with fractional counts, where a
    gzip cut ended it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fractional = 0
        self.differential = 0
        self.cut_after: int | None = None  # the whole lines before a gzip cut
        self.cut_line = False  # a partial line was dropped at the cut

    @property
    def truncated(self) -> bool:
        return self.cut_after is not None

    def warnings(self) -> list[str]:
        out = []
        if self.cut_after is not None:
            out.append(f"{self.path}: the compressed data ends early; analysed the {self.cut_after:,} whole lines "
                       f"before the cut" + (f", not the cut line {self.cut_after + 1}" if self.cut_line else ""))
        if self.differential:
            out.append(f"{self.differential} lines carry two counts (a differential file): the second (after) count "
                       f"is used")
        if self.fractional:
            out.append(f"{self.fractional} lines have fractional counts, rounded to whole samples")
        return out


def _stacks(chunks: Iterable[bytes], path: str, counts: _Counts) -> tuple[bool, Iterator[tuple[bytes, int]]]:
    """(py-spy?, (stack, count) of every line in order). Whether it is py-spy output is told from
    the first SNIFF_STACKS distinct stacks, which are held until then."""
    lines = folded_lines(chunks, path, counts)
    head: list[tuple[bytes, int]] = []
    distinct: set[bytes] = set()
    for line_no, line in lines:
        got = _take(line, line_no, path, counts)
        if got is not None:
            head.append(got)
            distinct.add(got[0])
            if len(distinct) >= SNIFF_STACKS:
                break
    pyspy = _looks_like_pyspy(dict.fromkeys(stack for stack, _ in head))

    def rest() -> Iterator[tuple[bytes, int]]:
        yield from head
        head.clear()
        for line_no, line in lines:
            got = _take(line, line_no, path, counts)
            if got is not None:
                yield got
    return pyspy, rest()


def read_folded(chunks: Iterable[bytes], path: str, root_is_process: bool = True) -> Profile:
    """Folded stacks into a Profile, line by line. The first frame is the process (comm) unless
    told otherwise."""
    counts = _Counts(path)
    pyspy, stacks = _stacks(chunks, path, counts)
    builder = _Builder(root_is_process, pyspy)
    for stack, count in stacks:
        builder.add(stack, count)
    profile = builder.profile(path, counts.warnings())
    profile.capture.truncated = counts.truncated
    return profile


def collapse_folded(chunks: Iterable[bytes], path: str) -> tuple[dict[bytes, int], list[str]]:
    """Folded stacks as `diagnose collapse` writes them (the root the process name, frame
    annotations dropped), summed per line, without building a profile: the same lines as
    report.folded.profile_folded(read_folded(...)) in bounded memory."""
    counts = _Counts(path)
    pyspy, stacks = _stacks(chunks, path, counts)
    if pyspy:  # py-spy names are rewritten per frame: through the profile
        builder = _Builder(True, True)
        for stack, count in stacks:
            builder.add(stack, count)
        profile = builder.profile(path, counts.warnings())
        return profile_counts(profile), profile.capture.warnings
    roots: dict[str, str] = {}
    out: dict[bytes, int] = {}
    kernel_annotated = False
    for stack_b, count in stacks:
        if count <= 0:
            continue
        parts = stack_b.decode("utf-8", "replace").split(";")
        root = roots.get(parts[0])
        if root is None:
            root = roots[parts[0]] = _thread_of(parts[0]).comm.replace(" ", "_")
        names = [root] if root else []
        for part in parts[1:]:
            if part:
                if part[-1:] == "]" and part[-4:-2] == "_[" and part[-2] in "kjiw":
                    kernel_annotated = kernel_annotated or part[-2] == "k"
                    part = part[:-4]
                names.append(part)
        key = ";".join(names).encode()
        out[key] = out.get(key, 0) + count
    warnings = counts.warnings()
    if not kernel_annotated:
        warnings.append(_NO_KERNEL_WARNING)
    return out, warnings


_NO_KERNEL_WARNING = ("folded input without _[k] annotations: kernel and user frames cannot be told apart "
                      "(fold with `diagnose collapse --kernel` to keep that)")


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


def _take(line: bytes, line_no: int, path: str, counts: _Counts) -> tuple[bytes, int] | None:
    line = line.rstrip(b"\r")
    if not line.strip() or line.startswith(b"#"):
        return None
    m = _LINE.match(line)
    if m is None:
        last = line.rsplit(None, 1)[-1][-40:].decode("utf-8", "replace")
        raise input_error(path, f"folded line has no sample count (ends with {last!r})",
                          "each line must be `frame;frame;... COUNT` with a number after the last space", line=line_no)
    stack, first, second = m.groups()
    count_text = second if second is not None else first
    if second is not None:
        counts.differential += 1
    count = parse_count(count_text)
    if count is None:
        shown = count_text[:20].decode("ascii") + ("..." if len(count_text) > 20 else "")
        raise input_error(path, f"folded count {shown} ({len(count_text):,} characters) is too large for a number of samples",
                          f"a count has at most {MAX_COUNT_DIGITS} digits; check the line (two numbers glued together?)",
                          line=line_no)
    if fraction_of(count_text):
        counts.fractional += 1
    return stack, count


class _Builder:
    """A Profile grown one folded line at a time: frames interned by name, stacks summed per
    thread and frame ids (kept in the order they first appear)."""

    def __init__(self, root_is_process: bool, pyspy: bool) -> None:
        self.root_is_process = root_is_process
        self.pyspy = pyspy
        self.frames: list[Frame] = []
        self.frame_ids: dict[Frame, int] = {}
        self.threads: list[Thread] = []
        self.thread_ids: dict[Thread, int] = {}
        self.roots: dict[str, int] = {}  # first frame text -> thread index (not for py-spy)
        self.stacks: list[dict[tuple[int, ...], Stack]] = []  # per thread
        self.order: list[Stack] = []
        self.name_cache: dict[str, int] = {}
        self.kernel_annotated = False
        self.total = self.stackless = 0

    def frame_id(self, name: str) -> int:
        kind = "user"
        clean = name
        m = _ANNOTATION.search(name)
        if m:
            clean = name[: m.start()]
            if m.group(1) == "k":
                kind, self.kernel_annotated = "kernel", True
        if self.pyspy:
            clean, module = _pyspy_frame(clean)
        else:
            mm = _MODULE_ONLY.match(clean)
            module = mm.group(1) if mm and mm.group(1) != "unknown" else ""
        frame = Frame(clean, module, kind)  # type: ignore[arg-type]
        fid = self.frame_ids.get(frame)
        if fid is None:
            fid = self.frame_ids[frame] = len(self.frames)
            self.frames.append(frame)
        self.name_cache[name] = fid
        return fid

    def thread(self, thread: Thread) -> int:
        t = self.thread_ids.get(thread)
        if t is None:
            t = self.thread_ids[thread] = len(self.threads)
            self.threads.append(thread)
            self.stacks.append({})
        return t

    def add(self, stack_b: bytes, count: int) -> None:
        if count <= 0:
            return
        parts = stack_b.decode("utf-8", "replace").split(";")
        if self.pyspy:
            found = _pyspy_root(parts[0]) if parts else None
            if found is not None:
                t = self.thread(found)
                parts = parts[1:]
            else:
                t = self.thread(Thread("", None, None))
        elif self.root_is_process and parts:
            t = self.roots.get(parts[0])  # type: ignore[assignment]
            if t is None:
                t = self.roots[parts[0]] = self.thread(_thread_of(parts[0]))
            parts = parts[1:]
        else:
            t = self.thread(Thread("", None, None))
        cache = self.name_cache
        ids = tuple(cache[p] if p in cache else self.frame_id(p) for p in parts if p != "")
        per_thread = self.stacks[t]
        st = per_thread.get(ids)
        if st is None:
            st = per_thread[ids] = Stack(t, ids, count, count)
            self.order.append(st)
        else:
            st.samples += count
            st.weight += count
        self.total += count
        if not ids:
            self.stackless += count

    def profile(self, path: str, warnings: list[str]) -> Profile:
        capture = CaptureInfo(source=path, format="folded", total_samples=self.total,
                              stackless_samples=self.stackless, kernel_frames_known=self.kernel_annotated,
                              warnings=warnings)
        if self.pyspy:
            capture.warnings.append("py-spy stacks: user space only (no kernel frames); a leaf in a system-call "
                                    "wrapper is counted as time in that call, with lower confidence")
        elif not self.kernel_annotated:
            capture.warnings.append(_NO_KERNEL_WARNING)
        return Profile(self.frames, self.threads, self.order, capture)


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
