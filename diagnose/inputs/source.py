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

from diagnose.errors import DiagnoseError, input_error

Format = Literal["perf-script", "folded", "perf-data", "capture-dir"]

GZIP_MAGIC = b"\x1f\x8b"
PERF_DATA_MAGICS = (b"PERFILE2", b"2ELIFREP", b"PERFFILE")
CAPTURE_MANIFEST = "manifest.json"

# How much decompressed text is looked at to recognise the format.
SNIFF_BYTES = 256 * 1024
# ... or more, when the first data line is longer (never more than this).
FIRST_LINE_BYTES = 64 * 1024 * 1024
CHUNK_BYTES = 4 * 1024 * 1024

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
    """Yield the (decompressed) bytes of `path` in chunks. A gzip stream cut short ends the
    iteration with a DiagnoseError-free warning recorded by the caller via `TruncatedGzip`."""
    stream, compressed = open_stream(path)
    with stream:
        while True:
            try:
                data = stream.read(chunk_bytes)
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                raise TruncatedGzip(path, str(exc)) from None
            except OSError as exc:
                raise input_error(path, f"read failed ({exc})", "check the file") from None
            if not data:
                return
            yield data


class TruncatedGzip(Exception):
    """The gzip stream ended early: what was read so far is usable."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"{path}: compressed data ends early ({detail})")
        self.path = path


def _sniff(path: str) -> tuple[bytes, bool]:
    stream, compressed = open_stream(path)
    with stream:
        try:
            data = _whole_first_line(stream, stream.read(SNIFF_BYTES))
        except (EOFError, zlib.error, gzip.BadGzipFile):
            # A truncated or corrupt gzip: take what decompresses.
            data = _partial_gunzip(path)
            if not data:
                raise input_error(path, "corrupt gzip data", "check the file, or decompress it to see what is left") from None
        except OSError as exc:
            raise input_error(path, f"read failed ({exc})", "check the file") from None
    return data, compressed


def _whole_first_line(stream: BinaryIO, data: bytes) -> bytes:
    """The sniffed text, read on (up to FIRST_LINE_BYTES) until its first data line is whole: a
    folded stack 100,000 frames deep is one line of megabytes."""
    if len(data) < SNIFF_BYTES:
        return data
    start = 0
    while start < len(data):  # skip comment and blank lines
        nl = data.find(b"\n", start)
        if nl < 0:
            break
        line = data[start:nl].strip()
        if line and not line.startswith(b"#"):
            return data  # a whole data line
        start = nl + 1
    pieces = [data]
    size = len(data)
    while size < FIRST_LINE_BYTES:
        more = stream.read(SNIFF_BYTES * 4)
        if not more:
            break
        pieces.append(more)
        size += len(more)
        if b"\n" in more:
            break
    return b"".join(pieces)


def _partial_gunzip(path: str) -> bytes:
    with open(path, "rb") as f:
        raw = f.read(SNIFF_BYTES * 4)
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, SNIFF_BYTES)
    except zlib.error:
        return b""


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
    fmt, line_no, first = classify_text(data)
    if fmt == "binary":
        raise input_error(path, "binary data, not a profile",
                          "pass `perf script` text, folded stacks (`a;b;c 42`) or a perf.data file")
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
    if len(sample) >= SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut
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
