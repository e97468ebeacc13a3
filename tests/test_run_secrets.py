"""diagnose run keeps no secret of its targets: real perf records a real process whose command
line and environment hold secrets, and no file of the run folder but perf.data, nor what the
command prints, holds one; --keep-secrets keeps them, --anonymize also drops host and path
names from what is meant to be shared."""

from __future__ import annotations

import gzip
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli
from test_run import perf_can_record, stop

SECRETS = ("SEKRET123", "hunter2x", "bob:pw99", "tok-SEKRET456", "hunter3")
# The API key is also how --name finds this target, and this target only (the pytest pid in it).
API_KEY = f"SEKRET123-{os.getpid()}"
TARGET_ARGS = [f"--api-key={API_KEY}", "--password", "hunter2x", "https://bob:pw99@host/x", "DB_PASSWORD=hunter3"]
LOOP = "import time\nwhile 1: sum(range(10000))"


@pytest.fixture(scope="module")
def target() -> Iterator[subprocess.Popen[bytes]]:
    if perf_can_record() is not None:
        pytest.skip(str(perf_can_record()))
    proc = subprocess.Popen([sys.executable, "-c", LOOP, *TARGET_ARGS], env={**os.environ, "MY_TOKEN": "tok-SEKRET456"})
    try:
        yield proc
    finally:
        stop(proc)


def record(target: subprocess.Popen[bytes], folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    proc = run_cli("run", "--pid", str(target.pid), "--duration", "2", "--out", str(folder), "--format", "json", *extra)
    assert proc.returncode == 0, proc.stderr
    return proc


def shared_texts(folder: Path) -> dict[str, str]:
    """Every file of a run folder but perf.data, decompressed, as text."""
    out = {}
    for path in folder.iterdir():
        if path.name == "perf.data":
            continue
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        out[path.name] = data.decode("utf-8", "replace")
    return out


@pytest.fixture(scope="module")
def redacted(target: subprocess.Popen[bytes], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    folder = tmp_path_factory.mktemp("secrets") / "cap"
    # The secret is in diagnose's own command line too: --name finds the target by it.
    proc = run_cli("run", "--name", f"api-key={API_KEY}", "--duration", "2", "--out", str(folder), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return folder, proc


def test_no_secret_reaches_a_file_or_the_terminal(redacted: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    folder, proc = redacted
    texts = shared_texts(folder)
    assert {"environment.json", "manifest.json", "report.json", "perf.script.txt.gz", "stacks.folded"} <= set(texts)
    for name, text in [*texts.items(), ("stdout", proc.stdout), ("stderr", proc.stderr)]:
        for secret in SECRETS:
            assert secret not in text, (secret, name)


def test_the_command_line_is_kept_with_its_secrets_redacted(target: subprocess.Popen[bytes],
                                                            redacted: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    folder, proc = redacted
    env = json.loads((folder / "environment.json").read_text())
    [process] = env["processes"]
    assert process["pid"] == target.pid
    assert process["cmdline"][-5:] == ["--api-key=[redacted]", "--password", "[redacted]", "https://[redacted]@host/x",
                                       "DB_PASSWORD=[redacted]"]
    m = json.loads((folder / "manifest.json").read_text())
    assert m["diagnose"]["command"][2:4] == ["--name", "api-key=[redacted]"]
    assert m["recording"]["name_pattern"] == "api-key=[redacted]"
    # 4 in the target's command line; diagnose's own --name value, and its copy as name_pattern.
    assert m["redaction"] == {"redacted": 6, "secrets_kept": False, "anonymized": False}
    assert env["redaction"] == m["redaction"]
    report = json.loads(proc.stdout)
    assert report["capture"]["redaction"]["redacted"] == 6
    assert re.search(r"\| Redaction \| 6 value\(s\) that looked secret replaced by \\\[redacted\\\]",
                     (folder / "report.md").read_text())


def test_perf_data_is_marked_private_and_the_folder_is_owner_only(redacted: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    folder, _ = redacted
    m = json.loads((folder / "manifest.json").read_text())
    assert {f["path"]: f["private"] for f in m["files"]}["perf.data"] is True
    assert [f["path"] for f in m["files"] if f["private"]] == ["perf.data"]
    assert folder.stat().st_mode & 0o777 == 0o700
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in folder.iterdir()} == \
        {p.name: "0o600" for p in folder.iterdir()}


def test_keep_secrets_keeps_them(target: subprocess.Popen[bytes], tmp_path: Path) -> None:
    folder = tmp_path / "cap"
    record(target, folder, "--keep-secrets")
    env = json.loads((folder / "environment.json").read_text())
    assert env["processes"][0]["cmdline"][-5:] == TARGET_ARGS
    assert json.loads((folder / "manifest.json").read_text())["redaction"] == \
        {"redacted": 0, "secrets_kept": True, "anonymized": False}


def test_anonymize_drops_host_and_path_names_from_what_is_shared(target: subprocess.Popen[bytes], tmp_path: Path) -> None:
    folder = tmp_path / "cap"
    proc = record(target, folder, "--anonymize")
    host = socket.gethostname()
    absolute = re.compile(r"(?<![\w:/.~-])/(?:usr|root|home|tmp|opt|var)/")
    texts = shared_texts(folder)
    for name, text in [*texts.items(), ("stdout", proc.stdout)]:
        for secret in SECRETS:
            assert secret not in text, (secret, name)
        assert str(tmp_path) not in text, name
        assert not re.search(rf"(?<![\w-]){re.escape(host)}(?![\w-])", text), (host, name)
        # (the knowledge base's advice names perf's JIT map files, /tmp/perf-PID.map, in general)
        assert not [m.group() for m in absolute.finditer(text) if not text.startswith("/tmp/perf-", m.start())], name
    # The analysis still names the modules (by their file names) and the host as [host].
    report = json.loads(proc.stdout)
    assert report["capture"]["hostname"] == "[host]"
    assert any(f["module"].startswith("libpython") or f["module"].startswith("python")
               for f in report["profile"]["functions"])
    assert json.loads((folder / "manifest.json").read_text())["redaction"]["anonymized"] is True
