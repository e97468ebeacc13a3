"""Reading capture folders back: what a complete folder gives the analysis (environment, exact
recording duration, recording warnings), and one clear line for every kind of broken folder."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import assert_one_line_error, fixture, run_cli

from diagnose import capture_dir

ENV = {"sysctl": {"net.core.rmem_max": "212992", "net.ipv4.udp_mem": "1\t2\t3"},
       "cpu": {"model": "Test CPU", "count": 2, "online": "0-1", "online_count": 2, "flags_aes": True},
       "kernel": {"release": "6.1.0-test", "version": "#1", "machine": "x86_64"}, "vulnerabilities": {},
       "processes": [{"pid": 1, "comm": "x", "cmdline": ["x"], "uid": 0, "threads": [{"tid": 1, "comm": "x"}]}],
       "recorded": {"start": "2026-01-01T00:00:00+00:00", "duration_s": 12.5, "frequency_hz": 99,
                    "call_graph": "fp", "event": "cpu-clock", "stopped_by": "duration"}}


def make_folder(folder: Path, script: str = "ffmpeg-libvpx-vp8-cpu8.perf.txt.gz") -> Path:
    """A capture folder as `diagnose run` leaves it, built from a recorded fixture (no perf needed)."""
    writer = capture_dir.CaptureWriter(folder)
    folder.mkdir()
    shutil.copy(fixture(script), writer.path(capture_dir.PERF_SCRIPT))
    writer.write_json(capture_dir.ENVIRONMENT, ENV)
    writer.write_manifest({
        "diagnose": {"version": "0.1.0", "command": ["diagnose", "run", "--pid", "1"]},
        "perf": {"version": "6.1", "record_command": ["perf", "record"], "messages": []},
        "recording": {**ENV["recorded"], "requested_duration_s": 12.5, "pids": [4242], "name_pattern": None,
                      "exited": []},
        "warnings": ["pid 4243 exited 3.0 s into the capture; it was recorded until then"],
    })
    return folder


def edit_manifest(folder: Path, change: dict) -> None:
    path = folder / "manifest.json"
    m = json.loads(path.read_text())
    m.update(change)
    path.write_text(json.dumps(m))


def test_analyze_uses_the_folder_environment_and_recording(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "cap")
    proc = run_cli("analyze", str(folder), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    cap = json.loads(proc.stdout)["capture"]
    assert cap["environment"] == ENV
    assert cap["duration_s"] == 12.5 and cap["duration_source"] == "recording"
    assert cap["frequency_hz"] == 99 and cap["frequency_source"] == "recording"
    assert cap["target_pids"] == [4242]
    assert "pid 4243 exited 3.0 s into the capture" in proc.stderr
    terminal = run_cli("analyze", str(folder))
    assert terminal.returncode == 0 and "12.50 s (from the recording)" in terminal.stdout


def test_collapse_reads_a_folder_like_its_perf_script(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "cap")
    a = run_cli("collapse", "--tid", str(folder))
    b = run_cli("collapse", "--tid", str(folder / capture_dir.PERF_SCRIPT))
    assert a.returncode == 0 and a.stdout and a.stdout == b.stdout


def test_manifest_lists_every_file_with_size_and_sha256(tmp_path: Path) -> None:
    import hashlib

    folder = make_folder(tmp_path / "cap")
    m = json.loads((folder / "manifest.json").read_text())
    assert m["schema"] == capture_dir.SCHEMA and m["complete"] is True
    assert [f["path"] for f in m["files"]] == ["perf.script.txt.gz", "environment.json"]
    for f in m["files"]:
        data = (folder / f["path"]).read_bytes()
        assert f["bytes"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest()
    assert {f["role"] for f in m["files"]} == {"perf-script", "environment"}


def test_folder_without_manifest_is_an_incomplete_capture(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "cap")
    (folder / "manifest.json").unlink()
    proc = run_cli("analyze", str(folder))
    assert_one_line_error(proc, str(folder), "incomplete capture folder: no manifest.json",
                          "the capture did not finish", "record again")


def test_plain_folder_is_not_called_a_capture(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    line = assert_one_line_error(run_cli("analyze", str(tmp_path)), "directory without a capture manifest")
    assert "incomplete" not in line


def test_manifest_listing_a_missing_file(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "cap")
    (folder / "environment.json").unlink()
    proc = run_cli("analyze", str(folder))
    assert_one_line_error(proc, str(folder / "environment.json"), "missing", "manifest.json lists it")


def test_file_cut_short_after_the_manifest(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "cap")
    script = folder / capture_dir.PERF_SCRIPT
    script.write_bytes(script.read_bytes()[:100])
    assert_one_line_error(run_cli("analyze", str(folder)), str(script), "bytes, but manifest.json says")


@pytest.mark.parametrize("change, text", [
    ({"complete": False}, "incomplete capture folder"),
    ({"schema": "diagnose.capture/v9"}, "unknown schema"),
    ({"files": [{"path": "../etc/passwd", "role": "perf-script"}]}, "no usable name"),
    ({"files": "perf.data"}, "not a capture manifest"),
])
def test_broken_manifest(tmp_path: Path, change: dict, text: str) -> None:
    folder = make_folder(tmp_path / "cap")
    edit_manifest(folder, change)
    assert_one_line_error(run_cli("analyze", str(folder)), text)


def test_manifest_that_is_not_json(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "cap")
    (folder / "manifest.json").write_text("{not json")
    assert_one_line_error(run_cli("analyze", str(folder)), "manifest.json", "not a readable capture manifest")


def test_failure_inside_creating_removes_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "cap"
    with pytest.raises(RuntimeError):
        with capture_dir.creating(target) as writer:
            writer.write("perf.data", b"x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(KeyboardInterrupt):
        with capture_dir.creating(empty) as writer:
            writer.write("perf.data", b"x")
            raise KeyboardInterrupt
    assert empty.is_dir() and list(empty.iterdir()) == []


# -- a folder from a real run ----------------------------------------------------------------

@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    import subprocess
    import sys

    from test_run import BUSY, perf_can_record

    if perf_can_record() is not None:
        pytest.skip(str(perf_can_record()))
    folder = tmp_path_factory.mktemp("rundir") / "cap"
    busy = subprocess.Popen([sys.executable, "-c", BUSY, "30"])
    try:
        proc = run_cli("run", "--pid", str(busy.pid), "--duration", "1.5", "--out", str(folder), "--format", "json")
    finally:
        busy.kill()
        busy.wait()
    assert proc.returncode == 0, proc.stderr
    yield folder


def test_analyze_of_a_run_folder_uses_its_environment(run_folder: Path) -> None:
    proc = run_cli("analyze", str(run_folder), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    cap = json.loads(proc.stdout)["capture"]
    env = json.loads((run_folder / "environment.json").read_text())
    assert cap["environment"] == env
    assert env["sysctl"]["kernel.perf_event_paranoid"] is not None
    assert cap["duration_source"] == "recording"
    assert cap["duration_s"] == pytest.approx(env["recorded"]["duration_s"])
    assert 1.4 <= cap["duration_s"] <= 2.5
    assert cap["source"].endswith("perf.script.txt.gz")
