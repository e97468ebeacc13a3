"""Opening an input: gzip read transparently, the format told from the content, bytes streamed in chunks."""

from __future__ import annotations

import errno
import gzip
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

from diagnose.core.errors import DiagnoseError, input_error
from diagnose.inputs.pprof_sniff import looks_like_pprof

Format = Literal["perf-script", "folded", "perf-data", "capture-dir", "pprof"]

GZIP_MAGIC = b"\x1f\x8b"
PERF_DATA_MAGICS = (b"PERFILE2", b"2ELIFREP", b"PERFFILE")
CAPTURE_MANIFEST = "manifest.json"

# How much decompressed text is looked at to recognise the format.
SNIFF_BYTES = 256 * 1024
CHUNK_BYTES = 4 * 1024 * 1024
GZIP_READ_BYTES = 1024 * 1024

# A perf script sample line: "comm [pid/]tid [cpu] [time:] [period] event:" (the same shape
# as perf/inferno expect). The frame line after it: "<hex address> <symbol> (<dso>)".
_EVENT_LINE = re.compile(rb"^\s*\S.*?\s+(?:\d+/)?\d+\s+.*?\S+:(?:\s|$)")
_FRAME_LINE = re.compile(rb"^\s*[0-9a-fA-F]+\s+\S.* \(.*\)")
# Lines of the header `perf script --header` prints.
_PERF_HEADER = re.compile(rb"^#\s*(?:event|cmdline|perf version|captured on)\s*:")
_FOLDED_LINE = re.compile(rb"^\S.*?\s+\d+(?:\.\d*)?(?:\s+\d+(?:\.\d*)?)?\s*$")


@dataclass
class InputSource:
    """An input file (or capture folder) whose format is known."""

    path: str
    format: Format
    compressed: bool = False
    # For a capture folder: the file inside it that holds the stacks.
    inner: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.path


def _open_raw(path: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise input_error(path, "no such file", "check the path") from None
    except IsADirectoryError:
        raise input_error(path, "is a directory without a capture manifest",
                          "pass a perf script text, folded stacks, perf.data or a `diagnose run` folder") from None
    except PermissionError:
        raise input_error(path, "cannot read the file (permission denied)",
                          "fix its permissions or run as a user who may read it") from None
    except OSError as exc:
        raise input_error(path, f"cannot read the file ({os.strerror(exc.errno or errno.EIO)})",
                          "check the path and the disk") from None


def open_stream(path: str) -> tuple[BinaryIO, bool]:
    """Open `path` for reading bytes, decompressing gzip transparently. Returns (stream, compressed)."""
    raw = _open_raw(path)
    head = raw.read(2)
    raw.seek(0)
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb"), True  # type: ignore[return-value]
    return raw, False


def read_chunks(path: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Yield the (decompressed) bytes of `path` in chunks. A gzip stream cut short (or corrupt
    part-way) yields everything that decompresses before the cut, then raises `TruncatedGzip`
    for the caller to turn into a warning."""
    raw = _open_raw(path)
    with raw:
        if raw.read(2) != GZIP_MAGIC:
            raw.seek(0)
            yield from _plain_chunks(raw, path, chunk_bytes)
        else:
            raw.seek(0)
            yield from gunzip_chunks(raw, path, chunk_bytes)


def _plain_chunks(raw: BinaryIO, path: str, chunk_bytes: int) -> Iterator[bytes]:
    while True:
        try:
            data = raw.read(chunk_bytes)
        except OSError as exc:
            raise input_error(path, f"read failed ({exc})", "check the file") from None
        if not data:
            return
        yield data


def gunzip_chunks(raw: BinaryIO, path: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The decompressed bytes of a gzip file (of one member or several, as `cat a.gz b.gz`
    makes), in pieces of at most `chunk_bytes`: memory stays bounded whatever the compression
    ratio. Unlike GzipFile.read(n), which drops the n bytes it was decompressing when the
    stream turns out cut, everything before a cut is yielded before TruncatedGzip is raised."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    started = False  # has the current member taken any input?
    while True:
        try:
            data = raw.read(GZIP_READ_BYTES)
        except OSError as exc:
            raise input_error(path, f"read failed ({exc})", "check the file") from None
        if not data:
            break
        pending = False  # output may be waiting for input already taken
        while data or pending:
            if not started:
                data = data.lstrip(b"\x00")  # gzip allows zero padding after a member
                if not data:
                    break
            started = True
            try:
                out = d.decompress(data, chunk_bytes)
            except zlib.error as exc:
                raise TruncatedGzip(path, f"corrupt compressed data: {exc}") from None
            if out:
                yield out
            if d.eof:
                rest = d.unused_data.lstrip(b"\x00")
                if rest and not rest.startswith(GZIP_MAGIC[:len(rest)]):
                    raise TruncatedGzip(path, "data after the compressed stream is not gzip")
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                started, pending, data = False, False, rest
            else:
                data = d.unconsumed_tail
                pending = len(out) == chunk_bytes
    if started and not d.eof:
        tail = d.flush()
        if tail:
            yield tail
        raise TruncatedGzip(path, "the file ends before the end of the compressed stream")


class TruncatedGzip(Exception):
    """The gzip stream ended early: what was read so far is usable."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"{path}: compressed data ends early ({detail})")
        self.path = path


def _sniff(path: str) -> tuple[bytes, bool]:
    raw = _open_raw(path)
    with raw:
        compressed = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        if not compressed:
            try:
                return raw.read(SNIFF_BYTES), False
            except OSError as exc:
                raise input_error(path, f"read failed ({exc})", "check the file") from None
        # A truncated or corrupt gzip: take what decompresses.
        data = b""
        pieces = gunzip_chunks(raw, path, SNIFF_BYTES)
        try:
            for piece in pieces:
                data += piece
                if len(data) >= SNIFF_BYTES:
                    break
        except TruncatedGzip:
            if not data:
                raise input_error(path, "corrupt gzip data", "check the file, or decompress it to see what is left") from None
        finally:
            pieces.close()
    return data[:SNIFF_BYTES], True


def detect(path: str) -> InputSource:
    """Recognise the input format from its content (never from its name)."""
    if os.path.isdir(path):
        manifest = os.path.join(path, CAPTURE_MANIFEST)
        if os.path.isfile(manifest):
            return InputSource(path=path, format="capture-dir")
        raise input_error(path, "is a directory without a capture manifest",
                          "pass a perf script text, folded stacks, perf.data or a complete `diagnose run` folder")
    data, compressed = _sniff(path)
    if not data:
        raise input_error(path, "the file is empty", "record a capture first (perf record -g) and pass its output")
    if data.startswith(PERF_DATA_MAGICS):
        return InputSource(path=path, format="perf-data", compressed=compressed)
    if looks_like_pprof(data, whole=len(data) < SNIFF_BYTES):
        return InputSource(path=path, format="pprof", compressed=compressed)
    fmt, line_no, first = classify_text(data)
    if fmt == "binary":
        raise input_error(path, "binary data, not a profile",
                          "pass `perf script` text, folded stacks (`a;b;c 42`), a perf.data file or a pprof profile")
    if fmt is None:
        if first is None:
            raise input_error(path, "holds only comments or blank lines, no samples",
                              "record a capture with samples (perf record -g) and pass its output")
        shown = first[:60].decode("utf-8", "replace")
        raise input_error(path, f"unknown format (first data line: {shown!r})",
                          "expected `perf script` output, folded stacks (`a;b;c 42`) or perf.data",
                          line=line_no)
    return InputSource(path=path, format=fmt, compressed=compressed)


def classify_text(data: bytes) -> tuple[Format | Literal["binary"] | None, int | None, bytes | None]:
    """Classify the start of a text input. Returns (format or None, line number, first data line)."""
    if b"\x00" in data[:SNIFF_BYTES]:
        return "binary", None, None
    sample = data if len(data) > SNIFF_BYTES else data[:SNIFF_BYTES]  # a long first line: whole
    # Lots of undecodable bytes means binary even without NULs.
    text = sample.decode("utf-8", "replace")
    if text.count("\ufffd") > max(8, len(text) // 50):
        return "binary", None, None
    lines = sample.split(b"\n")
    # The prefix may end inside a line: that line is looked at only if no whole one says more.
    cut = lines.pop() if len(sample) == SNIFF_BYTES and not sample.endswith(b"\n") else None
    first_line_no: int | None = None
    first: bytes | None = None
    perf_header = False
    fences = 0
    for i, line in enumerate(lines):
        stripped = line.strip()
        if line.startswith(b"# ========"):
            fences += 1
        if fences == 1 or not stripped or stripped.startswith(b"#"):
            # inside perf's header a value may run over several lines
            perf_header = perf_header or _PERF_HEADER.match(stripped) is not None
            continue
        first_line_no, first = i + 1, line.rstrip(b"\r")
        nxt = _next_data_line(lines, i + 1)
        nxt_is_frame = nxt is not None and _FRAME_LINE.match(nxt) is not None and (
            nxt[:1].isspace() or not _EVENT_LINE.match(nxt))
        if _EVENT_LINE.match(first) and (nxt is None or nxt_is_frame or _EVENT_LINE.match(nxt)):
            if not _FOLDED_LINE.match(first) or nxt_is_frame:
                return "perf-script", first_line_no, first
        if _FOLDED_LINE.match(first) and not first[:1].isspace():
            return "folded", first_line_no, first
        return None, first_line_no, first
    if cut is not None and fences != 1 and cut.strip() and not cut.startswith(b"#"):
        # A data line longer than the prefix (a folded stack of thousands of frames): a stack
        # of `;`-separated frames is folded stacks, whose reader checks the count at its end.
        first_line_no, first = len(lines) + 1, cut
        return ("folded" if not cut[:1].isspace() and b";" in cut else None), first_line_no, first
    if perf_header:
        return "perf-script", None, None  # `perf script --header` of a capture without samples
    return None, first_line_no, first


def _next_data_line(lines: list[bytes], start: int) -> bytes | None:
    for line in lines[start:start + 50]:
        if line.strip():
            return line.rstrip(b"\r")
        return None  # a blank line right after the event line: no stack
    return None


def require_format(source: InputSource, allowed: tuple[Format, ...], command: str) -> None:
    if source.format not in allowed:
        raise DiagnoseError(
            f"{source.path}: {source.format} input is not accepted by `diagnose {command}`; "
            f"pass one of: {', '.join(allowed)}"
        )
