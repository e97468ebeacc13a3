"""What a perf.data's own header says, read from the file (no perf run): the times of its first
and last samples, which `perf record` writes at its end (the HEADER_SAMPLE_TIME feature, which
older perf versions do not write; zero when it recorded with --no-buildid, which skips the pass
that sees them); and whether every event samples call chains.

perf.data layout (tools/perf/Documentation/perf.data-file-format.txt): a 104-byte header, magic
"PERFILE2", holding the data section's place and a bitmap of the features present; after the
data section, one (offset, size) section per feature present, in the bitmap's order.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

HEADER_BYTES = 104
ATTR_SIZE = 16  # offset of the size of one event attribute entry in the attrs section
ATTRS_SECTION = 24  # offset of the attrs section's (offset, size) in the header
DATA_SECTION = 40  # offset of the data section's (offset, size) in the header
FEATURE_BITS = 72  # offset of the feature bitmap (256 bits)
HEADER_SAMPLE_TIME = 21  # the feature's bit


def _file_header(f: BinaryIO) -> bytes | None:
    """The 104-byte header of a perf.data written to a file; None for anything else (another
    format, a file cut short, a recording written to a pipe, whose header is 16 bytes)."""
    head = f.read(HEADER_BYTES)
    if len(head) < HEADER_BYTES or head[:8] != b"PERFILE2":
        return None
    return head if struct.unpack_from("<Q", head, 8)[0] == HEADER_BYTES else None


def sample_times_ns(path: str) -> tuple[int, int] | None:
    """(first, last) sample time in nanoseconds, or None when the header does not say: another
    format (a recording written to a pipe, big-endian), a file cut short, an older perf, a
    recording made with --no-buildid."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = _file_header(f)
            if head is None:
                return None
            data_offset, data_size = struct.unpack_from("<QQ", head, DATA_SECTION)
            features = int.from_bytes(head[FEATURE_BITS:HEADER_BYTES], "little")
            if not data_size or not features >> HEADER_SAMPLE_TIME & 1:
                return None
            index = bin(features & ((1 << HEADER_SAMPLE_TIME) - 1)).count("1")
            table = data_offset + data_size
            if table + 16 * (index + 1) > size:
                return None
            f.seek(table + 16 * index)
            offset, length = struct.unpack("<QQ", f.read(16))
            if length != 16 or offset < table or offset + length > size:
                return None
            f.seek(offset)
            first, last = struct.unpack("<QQ", f.read(16))
    except (OSError, struct.error):
        return None
    return (first, last) if 0 < first <= last else None


PERF_TYPE_TRACEPOINT = 2
PERF_SAMPLE_CALLCHAIN = 1 << 5
MAX_EVENTS = 4096


def every_event_has_call_chains(path: str) -> bool:
    """Whether every event of the recording samples call chains and is not a tracepoint: then
    perf script prints each sample as a sample line and its frame lines. (A tracepoint's samples,
    or an event's recorded without -g, print one line each, which perf indents by padding the
    process name; read without time stamps, such a line would pass for a frame line.)"""
    try:
        with open(path, "rb") as f:
            head = _file_header(f)
            if head is None:
                return False
            # One entry per event: its attribute, then the (offset, size) of its ids.
            entry = struct.unpack_from("<Q", head, ATTR_SIZE)[0]
            offset, size = struct.unpack_from("<QQ", head, ATTRS_SECTION)
            if entry < 48 or not size or size % entry or size // entry > MAX_EVENTS:
                return False
            f.seek(offset)
            table = f.read(size)
    except (OSError, struct.error):
        return False
    if len(table) != size:
        return False
    for k in range(0, size, entry):
        kind = struct.unpack_from("<I", table, k)[0]
        sample_type = struct.unpack_from("<Q", table, k + 24)[0]
        if kind == PERF_TYPE_TRACEPOINT or not sample_type & PERF_SAMPLE_CALLCHAIN:
            return False
    return True


def printed_seconds(ns: int) -> float:
    """A time as perf script prints it (microseconds, cut, not rounded) read back as a number:
    the same float the time stamps of its text give."""
    return float(f"{ns // 1_000_000_000}.{ns // 1000 % 1_000_000:06d}")


def sample_times(path: str) -> tuple[float, float] | None:
    """The first and last sample times of a perf.data, as perf script would print them, when its
    header gives them and every event's samples come with call chains: its text is then asked
    for without time stamps (see perf_counted); None: with them."""
    span = sample_times_ns(path)
    if span is None or not every_event_has_call_chains(path):
        return None
    return printed_seconds(span[0]), printed_seconds(span[1])
