"""Writing a rendered result: to stdout, or atomically to a file (temp file, then rename)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from diagnose.errors import DiagnoseError


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write `data` to `path` so that a reader never sees a partial file; with `mode` (0o600)
    the file has those permissions from the start, else what the umask gives."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise DiagnoseError(f"{path}: the folder {directory} does not exist; create it or choose another -o path")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=directory)
    except OSError as exc:
        raise DiagnoseError(f"{path}: cannot write there ({exc.strerror}); choose another -o path") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_output(data: bytes | str, output: Path | None) -> None:
    raw = data.encode() if isinstance(data, str) else data
    if output is None or str(output) == "-":
        sys.stdout.buffer.write(raw)
        sys.stdout.buffer.flush()
    else:
        atomic_write(output, raw)
