"""Writing a rendered result: to stdout, or atomically to a file (temp file, then rename)."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from diagnose.errors import DiagnoseError


def atomic_write(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Write `data` (bytes, or pieces of it) to `path` so that a reader never sees a partial file."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise DiagnoseError(f"{path}: the folder {directory} does not exist; create it or choose another -o path")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=directory)
    except OSError as exc:
        raise DiagnoseError(f"{path}: cannot write there ({exc.strerror}); choose another -o path") from None
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                for piece in data:
                    f.write(piece)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_output(data: bytes | str | Iterable[bytes], output: Path | None) -> None:
    """Write to stdout or atomically to a file; pieces (an iterable of bytes) are written as they come."""
    raw = data.encode() if isinstance(data, str) else data
    if output is None or str(output) == "-":
        if isinstance(raw, bytes):
            sys.stdout.buffer.write(raw)
        else:
            for piece in raw:
                sys.stdout.buffer.write(piece)
        sys.stdout.buffer.flush()
    else:
        atomic_write(output, raw)
