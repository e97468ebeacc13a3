"""The perf script text of a recording, streamed into a gzip file (its header lines and the
modules' paths through the redaction filters given): what a capture folder keeps to analyse.
Argument lists only, never a shell."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from diagnose.capture.recorder import PIPE_CHUNK, _first_error
from diagnose.core.errors import DiagnoseError
from diagnose.inputs.perf_command import script_command


def export_script(perf: str, perf_data: Path, dest: Path, header_filter: Callable[[str], str] | None = None,
                  path_filter: Callable[[str], str] | None = None) -> None:
    """`perf script --header -F +pid` of perf_data, gzip'd into dest, streamed (never held whole
    in memory), its header lines through header_filter and the modules' paths of its frame lines
    through path_filter. Written to a temporary name of its own first (mode 0600), so dest is
    complete or absent and no other writer can collide with it."""
    cmd = script_command(str(perf_data))
    cmd[0] = perf
    lines = _LineFilter(header_filter, path_filter)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw, tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
            except OSError as exc:
                raise DiagnoseError(f"cannot run {perf} script ({exc.strerror}); check the perf installation") from None
            assert proc.stdout is not None
            wrote = 0
            try:
                # mtime=0: the same recording gives the same bytes.
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
                    while piece := proc.stdout.read(PIPE_CHUNK):
                        gz.write(lines(piece))
                        wrote += len(piece)
                    gz.write(lines.end())
            finally:
                proc.stdout.close()
                code = proc.wait()
            if code != 0 and wrote == 0:
                err.seek(0)
                messages = err.read(1 << 16).decode("utf-8", "replace").splitlines()
                raise DiagnoseError(f"perf script could not read {perf_data} ({_first_error(messages) or code}); "
                                    f"check the perf installation")
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


_FRAME_MODULE = re.compile(rb"\((/[^()\n]*)\)$", re.MULTILINE)


class _LineFilter:
    """perf script text in pieces, whole lines through the filters; without filters, unchanged."""

    def __init__(self, header: Callable[[str], str] | None, path: Callable[[str], str] | None) -> None:
        self.header, self.path = header, path
        self.rest = b""
        self.in_header = True

    def __call__(self, piece: bytes) -> bytes:
        if self.header is None and self.path is None:
            return piece
        data = self.rest + piece
        cut = data.rfind(b"\n") + 1
        self.rest = data[cut:]
        return self._lines(data[:cut])

    def end(self) -> bytes:
        data, self.rest = self.rest, b""
        return self._lines(data) if data else b""

    def _lines(self, data: bytes) -> bytes:
        if self.in_header and self.header is not None:
            lines = data.split(b"\n")
            for i, line in enumerate(lines):
                if line and not line.startswith(b"#"):
                    self.in_header = False
                    break
                lines[i] = _through(self.header, line)
            data = b"\n".join(lines)
        if self.path is not None:
            path = self.path
            data = _FRAME_MODULE.sub(lambda m: b"(" + _through(path, m.group(1)) + b")", data)
        return data


def _through(f: Callable[[str], str], raw: bytes) -> bytes:
    return f(raw.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
