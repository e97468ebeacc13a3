"""Shared test helpers: paths to fixtures and to ../shared, and running the real CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SHARED = ROOT.parent / "shared"
PEER = SHARED / "peer-suites"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", default=False,
                     help="rewrite tests/goldens/* from the current output instead of comparing with them")


def pytest_configure(config: pytest.Config) -> None:
    # A shell without job control starts its background jobs (`make test &` in a script) with
    # SIGINT ignored, and every process they start inherits that: the runs that tests interrupt
    # with Ctrl-C would not see it. The tests start their processes as a terminal does.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def require_peer_suite() -> Path:
    if not PEER.is_dir():
        pytest.skip(f"the peer conformance suite is not here ({PEER}); it sits beside the clone in CI")
    return PEER


def fixture(name: str) -> Path:
    path = FIXTURES / name
    assert path.exists(), f"missing fixture {path}"
    return path


def lab_copy_with_environment(tmp_path: Path, name: str, changes: dict) -> Path:
    """A copy of the lab capture folder `name` whose environment.json has the top-level `changes`
    merged in (a value None removes the key), its manifest kept true to the edited file: a real
    capture as a machine with other hardware or limits would have recorded it."""
    import hashlib
    import json
    import shutil

    folder = tmp_path / name
    shutil.copytree(FIXTURES / "lab" / name, folder)
    env_path = folder / "environment.json"
    env = json.loads(env_path.read_text())
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        elif isinstance(value, dict) and isinstance(env.get(key), dict):
            env[key] = {**env[key], **value}
        else:
            env[key] = value
    env_path.write_text(json.dumps(env))
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    entry = next(e for e in manifest["files"] if e["path"] == "environment.json")
    entry["bytes"], entry["sha256"] = env_path.stat().st_size, hashlib.sha256(env_path.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    return folder


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120,
            prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `diagnose` command (python -m diagnose) and capture its output."""
    full_env = dict(os.environ)
    # The width the tests read reports at, whatever the runner's own is (pytest-xdist's workers
    # set COLUMNS=80): a test that wants another width passes it in env.
    full_env["COLUMNS"] = "120"
    if env:
        full_env.update(env)
    return subprocess.run([*(prefix or []), sys.executable, "-m", "diagnose", *args], capture_output=True,
                          text=True, env=full_env, cwd=cwd or ROOT, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *must_contain: str) -> str:
    """Bad input: exit code 2, exactly one line on stderr, no traceback, nothing on stdout."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for text in must_contain:
        assert text in lines[0], (text, lines[0])
    assert proc.stdout == ""
    return lines[0]


@pytest.fixture(scope="session")
def other_user():
    """Run diagnose as uid 65534 from a world-readable copy (see tests/other_user.py)."""
    from other_user import other_user_session

    yield from other_user_session()
