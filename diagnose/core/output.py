"""Writing a rendered result where -o points, and every check of that path.

- nothing or `-`: standard output (a reader that stops early, like `| head`, is no error);
- a regular file, or nothing yet: atomically (a temp file in the same folder, then a rename), so
  a reader never sees a partial file and a failed write leaves the old file as it was;
- a symbolic link: its target is written that way, the link stays a link;
- a character device or a FIFO: written straight through (never replaced by a file);
- a folder, a path ending in `/`, a missing folder, anything else: refused.

Every failure is one DiagnoseError line; no temp file is left behind."""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from diagnose.core.errors import DiagnoseError

# What to do about a failed write, by errno.
_FIX = {
    errno.ENOSPC: "free some space or choose another path",
    errno.EDQUOT: "free some space or choose another path",
    errno.EACCES: "check its permissions or choose another path",
    errno.EPERM: "check its permissions or choose another path",
    errno.EROFS: "choose a path on a writable file system",
}


def write_output(data: bytes | str | Iterable[bytes], output: str | Path | None) -> None:
    """Write the output (bytes, text, or pieces of bytes written as they come, never held whole)."""
    raw = data.encode() if isinstance(data, str) else data
    if output is None or str(output) == "-":
        write_stdout(raw)
    else:
        _write_path(str(output), raw)


def _pieces(data: bytes | Iterable[bytes]) -> Iterable[bytes]:
    return (data,) if isinstance(data, bytes) else data


def write_stdout(raw: bytes | Iterable[bytes]) -> None:
    """Standard output. A closed pipe ends the output quietly (the reader has what it wanted)."""
    if sys.stdout is None:
        raise DiagnoseError("standard output is closed; write to a file with -o FILE")
    try:
        for piece in _pieces(raw):
            sys.stdout.buffer.write(piece)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        _discard_stdout()
    except OSError as exc:
        _discard_stdout()
        raise DiagnoseError(f"cannot write to standard output ({exc.strerror}); "
                            f"{_FIX.get(exc.errno or 0, 'write to a file with -o FILE')}") from None


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that what is still buffered cannot fail again at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _write_path(text: str, raw: bytes | Iterable[bytes]) -> None:
    """Write `raw` where the -o argument `text` (as the user typed it) points."""
    target = check_output(text)
    if target is None:
        _write_through(text, raw)
    else:
        atomic_write(target, raw, shown=text)


def check_output(text: str | None) -> Path | None:
    """Refuse an -o path that cannot take the output (commands call this before their work, so a
    typo costs no analysis). Returns the regular file to write atomically (a link's target), or
    None for stdout, a character device or a FIFO."""
    if text is None or text == "-":
        return None
    if not text:
        raise DiagnoseError("-o: an empty path; give a file name, or - for standard output")
    if text.endswith(os.sep):
        folder = text.rstrip(os.sep) or os.sep
        what = "is a folder" if os.path.isdir(text) else "ends in / (a folder) and there is no such folder"
        raise DiagnoseError(f"{text}: {what}; give a file path such as {os.path.join(folder, 'FILE')}")
    try:
        st = os.stat(text)  # follows symbolic links
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        raise DiagnoseError(f"{text}: a part of this path is a file, not a folder; choose another -o path") from None
    except OSError as exc:
        raise DiagnoseError(f"{text}: cannot use it ({exc.strerror}); choose another -o path") from None
    if st is None or stat.S_ISREG(st.st_mode):
        # A link (even one whose target does not exist yet) is followed: its target is written.
        target = Path(os.path.realpath(text)) if os.path.islink(text) else Path(text)
        folder = target.parent
        if not folder.is_dir():
            raise DiagnoseError(f"{text}: the folder {folder} does not exist; create it (mkdir -p {folder}) "
                                f"or choose another -o path")
        return target
    if stat.S_ISDIR(st.st_mode):
        raise DiagnoseError(f"{text}: is a folder; give a file path such as {os.path.join(text, 'FILE')}")
    if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        return None
    kind = "a block device" if stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else \
        "not a regular file"
    raise DiagnoseError(f"{text}: is {kind}; -o takes a file, a character device, a FIFO or -; "
                        f"choose another -o path")


def _write_through(text: str, raw: bytes | Iterable[bytes]) -> None:
    """A character device or FIFO: opened for writing as it is (a FIFO waits for its reader)."""
    try:
        fd = os.open(text, os.O_WRONLY | os.O_NOCTTY)
    except OSError as exc:
        raise _write_error(text, exc, existed=False) from None
    try:
        for piece in _pieces(raw):
            view = memoryview(piece)
            while view:
                view = view[os.write(fd, view):]
    except BrokenPipeError:
        raise DiagnoseError(f"{text}: its reader closed it before the whole output was written; "
                            f"keep the reader open until the end") from None
    except OSError as exc:
        raise _write_error(text, exc, existed=False) from None
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes | Iterable[bytes], shown: str | None = None, mode: int | None = None,
                 exclusive: bool = False) -> None:
    """Write `data` to the regular file `path` so that a reader never sees a partial file, and a
    failure leaves the file that was there as it was. An existing file keeps its mode and owner;
    with `mode` (0o600 for a run folder) the file has that mode whatever was there. `exclusive`:
    never replace a file (FileExistsError when `path` exists, even one made meanwhile)."""
    shown = shown or str(path)
    try:
        old = os.stat(path)
    except OSError:
        old = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise _write_error(shown, exc, existed=old is not None) from None
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                for piece in _pieces(data):
                    f.write(piece)
                f.flush()
                os.fsync(f.fileno())
            if mode is not None:
                os.chmod(tmp, mode)  # mkstemp made it 0600: never readable by others meanwhile
            else:
                _take_mode(tmp, old)
            if exclusive:
                os.link(tmp, path)  # fails if path exists: no file is ever replaced
                os.unlink(tmp)
            else:
                os.replace(tmp, path)
        except FileExistsError:
            raise
        except OSError as exc:
            raise _write_error(shown, exc, existed=old is not None) from None
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _take_mode(tmp: str, old: os.stat_result | None) -> None:
    if old is None:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        return
    os.chmod(tmp, stat.S_IMODE(old.st_mode))
    if (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.chown(tmp, old.st_uid, old.st_gid)
        except OSError:
            pass  # not ours to give away; the file is still written


def _write_error(shown: str, exc: OSError, existed: bool) -> DiagnoseError:
    kept = "; the file there is unchanged" if existed else ""
    fix = _FIX.get(exc.errno or 0, "choose another path")
    return DiagnoseError(f"{shown}: cannot write it ({exc.strerror}){kept}; {fix}")
