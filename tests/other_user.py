"""Running `diagnose` as another (unprivileged) user, wherever the clone sits.

The clone, its .venv and pytest's tmp_path may sit inside a private (0700) directory such as
/root or a Debian home, where uid 65534 cannot reach them. So the tool is copied, once per test
session, into a world-readable temporary folder: the package source with its rules and knowledge,
and the installed distributions it needs at run time (found from its own metadata). The other
user runs the base interpreter (not the venv's link to it) with PYTHONPATH on that copy.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

NOBODY = 65534
ROOT = Path(__file__).resolve().parent.parent


def _requirement_names(dist: importlib.metadata.Distribution) -> list[str]:
    """Names of the run-time requirements of a distribution (extras and foreign markers left out)."""
    names = []
    for req in dist.requires or []:
        name, _, marker = req.partition(";")
        if "extra" in marker:
            continue
        if marker.strip() and not _marker_holds(marker):
            continue
        names.append(re.split(r"[\s<>=!~\[(]", name.strip(), maxsplit=1)[0])
    return names


def _marker_holds(marker: str) -> bool:
    """Environment markers of the run-time requirements we meet (python_version, sys_platform...),
    evaluated with packaging when it is there; a requirement is kept when in doubt."""
    try:
        from packaging.markers import Marker
    except ImportError:
        return True
    try:
        return Marker(marker.strip()).evaluate()
    except Exception:
        return True


def _runtime_distributions() -> list[importlib.metadata.Distribution]:
    """diagnose's run-time requirements, transitively, as installed in this interpreter."""
    seen: dict[str, importlib.metadata.Distribution] = {}
    todo = _requirement_names(importlib.metadata.distribution("diagnose"))
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # an optional requirement that is not installed
        seen[key] = dist
        todo.extend(_requirement_names(dist))
    return list(seen.values())


def _copy_tool(dest: Path) -> tuple[Path, Path]:
    src, site = dest / "src", dest / "site"
    src.mkdir()
    site.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", src / "pyproject.toml")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("diagnose", "rules", "knowledge"):
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    for dist in _runtime_distributions():
        for f in dist.files or []:
            located = Path(dist.locate_file(f))
            if f.parts[0] == ".." or "__pycache__" in f.parts or not located.is_file():
                continue  # console scripts and byte code are not needed
            target = site / f
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(located, target)
    return src, site


def _open_up(top: Path) -> None:
    """Readable (and folders enterable) by every user; the folder itself stays root's."""
    for folder, dirs, files in os.walk(top):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


class OtherUser:
    """How to run the tool (or Python) as uid/gid 65534 with nothing from the clone's location."""

    def __init__(self, home: Path, src: Path, site: Path, setpriv: str) -> None:
        self.home = home  # a folder of its own, owned by that user, for captures and outputs
        self.prefix = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        self.python = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
        self.env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{site}", "HOME": str(home),
                    "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "120"}
        self.env.pop("VIRTUAL_ENV", None)

    def python_command(self, *args: str) -> list[str]:
        return [*self.prefix, self.python, "-s", *args]

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        """Python started as that user (e.g. a busy target it may record), returned once setpriv
        has become it: until then the process is still root's setpriv, which that user's perf may
        not watch (on a loaded machine a recording could otherwise start in between)."""
        proc = subprocess.Popen(self.python_command(*args), env=self.env, cwd=self.home)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = Path(f"/proc/{proc.pid}/status").read_text()
                exe = os.path.realpath(f"/proc/{proc.pid}/exe")
            except OSError:
                break
            uid = next((line.split()[1] for line in status.splitlines() if line.startswith("Uid:")), None)
            if uid == str(NOBODY) and exe == self.python:
                return proc
            time.sleep(0.01)
        proc.kill()
        proc.wait()
        raise AssertionError(f"python as uid {NOBODY} did not start (exit code {proc.returncode})")

    def run_cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.python_command("-m", "diagnose", *args), capture_output=True, text=True,
                              env=self.env, cwd=self.home, timeout=timeout)


def other_user_session() -> Iterator[OtherUser]:
    """The session fixture's body (see conftest.other_user): skips, naming why, where it cannot be done."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to run diagnose as another user (uid 65534)")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("needs setpriv (util-linux), to run diagnose as another user (uid 65534)")
    top = Path(tempfile.mkdtemp(prefix="diagnose-other-user-", dir="/tmp"))
    try:
        src, site = _copy_tool(top)
        home = top / "home"
        home.mkdir()
        _open_up(top)
        os.chown(home, NOBODY, NOBODY)
        os.chmod(home, 0o700)
        user = OtherUser(home, src, site, setpriv)
        probe = subprocess.run(user.python_command("-c", "import diagnose.cli"), capture_output=True, text=True,
                               env=user.env, cwd=home, timeout=120)
        if probe.returncode != 0:
            last = (probe.stderr.strip().splitlines() or ["no error output"])[-1]
            pytest.skip(f"uid {NOBODY} cannot run the interpreter {user.python} with a copy of diagnose "
                        f"({last}); install Python where every user can reach it")
        yield user
    finally:
        shutil.rmtree(top, ignore_errors=True)
