"""Claiming a capture folder for one `diagnose run`: created with mkdir (mode 0700), or taken
if it exists and is empty, and in both cases owned through a lock file created with O_EXCL. Only
the owner writes into the folder and only the owner may remove what it wrote: a second run
aimed at the same folder fails at once and touches nothing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from diagnose.core.errors import DiagnoseError

LOCK = ".diagnose-run.lock"
FOLDER_MODE = 0o700


class Claim:
    """An owned capture folder: `created` lists the folders this run made (outermost first)."""

    def __init__(self, folder: Path, created: list[Path]) -> None:
        self.folder = folder
        self.created = created

    def release(self) -> None:
        """The capture stays: only the lock goes."""
        (self.folder / LOCK).unlink(missing_ok=True)

    def remove(self) -> None:
        """Remove what this run made: the folders it created, or the contents of the empty
        folder it was given."""
        if self.created:
            shutil.rmtree(self.created[0], ignore_errors=True)
            return
        for child in self.folder.iterdir():
            if child.name == LOCK:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
        self.release()


def claim(folder: Path) -> Claim:
    """Create (or take, when empty) `folder` and own it; DiagnoseError if another run owns it or
    it holds anything."""
    created: list[Path] = []
    probe = folder.absolute()
    while not probe.exists() and not probe.is_symlink():
        created.insert(0, probe)
        probe = probe.parent
    try:
        folder.absolute().parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(folder, FOLDER_MODE)
    except FileExistsError:
        created = [p for p in created if p != folder.absolute()]  # another run made it first
    except OSError as exc:
        raise DiagnoseError(f"--out {folder}: cannot create it ({exc.strerror}); choose another --out") from None
    if folder.is_symlink():
        raise DiagnoseError(f"--out {folder}: is a symbolic link; choose another --out (a folder of its own)")
    if not folder.is_dir():
        raise DiagnoseError(f"--out {folder}: exists and is not a folder; choose another --out")
    try:
        fd = os.open(folder / LOCK, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise DiagnoseError(f"--out {folder}: {holder(folder)}; choose another --out") from None
    except OSError as exc:
        raise DiagnoseError(f"--out {folder}: cannot write in it ({exc.strerror}); choose another --out") from None
    with os.fdopen(fd, "w") as f:
        f.write(f"{os.getpid()}\n")
    owned = Claim(folder, created)
    if any(p.name != LOCK for p in folder.iterdir()):
        owned.release()
        raise DiagnoseError(f"--out {folder}: the folder exists and is not empty; choose another --out or remove it")
    try:
        os.chmod(folder, FOLDER_MODE)  # perf.data can hold process memory: owner only
    except OSError as exc:
        owned.release()
        raise DiagnoseError(f"--out {folder}: cannot make it private ({exc.strerror}); choose another --out") from None
    return owned


def holder(folder: Path) -> str:
    """Who holds the folder's lock, in words."""
    try:
        pid = int((folder / LOCK).read_text().strip())
    except (OSError, ValueError):
        pid = None
    if pid is not None and Path(f"/proc/{pid}").exists():
        return f"another diagnose run (pid {pid}) is writing into it"
    return f"a diagnose run that was killed left its {LOCK} there (its capture may be unfinished)"
