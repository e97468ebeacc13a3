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
    from test_run import recording_checked_against_its_samples

    proc = run_cli("analyze", str(run_folder), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    cap = json.loads(proc.stdout)["capture"]
    env = json.loads((run_folder / "environment.json").read_text())
    assert cap["environment"] == env
    assert env["sysctl"]["kernel.perf_event_paranoid"] is not None
    assert cap["duration_source"] == "recording"
    assert cap["duration_s"] == pytest.approx(env["recorded"]["duration_s"])
    assert cap["duration_s"] >= 1.5  # as asked (stopped by the duration); no upper bound a busy machine keeps
    recording_checked_against_its_samples(run_folder)
    assert cap["source"].endswith("perf.script.txt.gz")


# -- a folder read back is trusted in nothing ------------------------------------------------

SECRET_CONTENT = "root:TOPSECRET-HASH:19000:0:99999:7:::"


@pytest.mark.parametrize("name", ["environment.json", "perf.script.txt.gz"])
def test_a_listed_file_that_is_a_symlink_is_refused_unread(tmp_path: Path, name: str) -> None:
    secret = tmp_path / "shadow"
    secret.write_text(SECRET_CONTENT)
    folder = make_folder(tmp_path / "cap")
    (folder / name).unlink()
    (folder / name).symlink_to(secret)
    edit_manifest(folder, {"files": [{**f, "bytes": len(SECRET_CONTENT)} if f["path"] == name else f
                                     for f in json.loads((folder / "manifest.json").read_text())["files"]]})
    proc = run_cli("analyze", str(folder), "--format", "json")
    assert_one_line_error(proc, str(folder / name), "symbolic link", "not followed")
    assert "TOPSECRET" not in proc.stderr + proc.stdout


def test_a_manifest_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "cap")
    real = tmp_path / "elsewhere.json"
    (folder / "manifest.json").rename(real)
    (folder / "manifest.json").symlink_to(real)
    assert_one_line_error(run_cli("analyze", str(folder)), "manifest.json", "symbolic link")


@pytest.mark.parametrize("path", ["../x", "/etc/shadow", "sub/perf.data", ".."])
def test_a_listed_path_out_of_the_folder_is_refused(tmp_path: Path, path: str) -> None:
    folder = make_folder(tmp_path / "cap")
    edit_manifest(folder, {"files": [{"path": path, "role": "perf-script"}]})
    assert_one_line_error(run_cli("analyze", str(folder)), "no usable name", "plain names inside the folder")


@pytest.mark.parametrize("change, text", [
    ({"recording": {**ENV["recorded"], "pids": ["x"]}}, "recording.pids is not a list of process ids"),
    ({"recording": {**ENV["recorded"], "pids": [True]}}, "recording.pids"),
    ({"recording": {**ENV["recorded"], "duration_s": "12"}}, "recording.duration_s is a text"),
    ({"recording": [1, 2]}, "recording is a list"),
    ({"warnings": 3}, "warnings is not a list of texts"),
    ({"missing": "report.json"}, "missing is not a list"),
])
def test_wrong_types_in_the_manifest_are_one_line(tmp_path: Path, change: dict, text: str) -> None:
    folder = make_folder(tmp_path / "cap")
    edit_manifest(folder, change)
    assert_one_line_error(run_cli("analyze", str(folder)), "manifest.json", text, "damaged")


@pytest.mark.parametrize("change, text", [
    ({"sysctl": ["net.core.rmem_max", "212992"]}, "sysctl is a list, not a mapping"),
    ({"sysctl": {"net.core.rmem_max": {"v": 1}}}, "sysctl net.core.rmem_max is a mapping"),
    ({"cpu": "Test CPU"}, "cpu is a text, not a mapping"),
    ({"cpu": {**ENV["cpu"], "count": "2"}}, "cpu.count is a text"),
    ({"processes": {"pid": 1}}, "processes is a mapping, not a list"),
    ({"processes": [{"pid": "x"}]}, "processes[0].pid is not a process id"),
    ({"processes": [{"pid": 1, "cmdline": "x --y"}]}, "processes[0].cmdline is not a list of texts"),
    ({"processes": [{"pid": 1, "threads": [{"tid": "1", "comm": "x"}]}]}, "processes[0].threads"),
    ({"network": 5}, "network is a number, not a mapping"),
])
def test_wrong_types_in_the_environment_are_one_line(tmp_path: Path, change: dict, text: str) -> None:
    folder = make_folder(tmp_path / "cap")
    writer = capture_dir.CaptureWriter(folder)
    writer.write_json(capture_dir.ENVIRONMENT, {**ENV, **change})
    writer.write_manifest(json.loads((folder / "manifest.json").read_text()) | {"files": []})
    proc = run_cli("analyze", str(folder), "--format", "json")
    assert_one_line_error(proc, "environment.json", text, "damaged")


def test_environment_that_is_not_a_mapping(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "cap")
    writer = capture_dir.CaptureWriter(folder)
    writer.write_json(capture_dir.ENVIRONMENT, ["x"])
    writer.write_manifest(json.loads((folder / "manifest.json").read_text()) | {"files": []})
    assert_one_line_error(run_cli("analyze", str(folder)), "environment.json", "is a list, not a mapping")


def test_a_folder_missing_its_reports_analyses_quietly_and_one_missing_stacks_says_so(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "cap")
    edit_manifest(folder, {"missing": [{"path": "report.json", "role": "report-json", "why": "not written: interrupted"}]})
    proc = run_cli("analyze", str(folder), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert "misses" not in proc.stderr
    edit_manifest(folder, {"missing": [{"path": "stacks.folded", "role": "folded-stacks",
                                        "why": "not written: interrupted (Ctrl-C)"}]})
    proc = run_cli("analyze", str(folder), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert "misses stacks.folded (not written: interrupted (Ctrl-C)); analysed perf.script.txt.gz" in proc.stderr


# -- writing: one run per folder, private, kept once saved ------------------------------------

def test_a_second_writer_of_the_same_folder_is_refused_and_touches_nothing(tmp_path: Path) -> None:
    from diagnose.errors import DiagnoseError

    folder = tmp_path / "cap"
    with capture_dir.creating(folder) as first:
        first.write("perf.data", b"first")
        with pytest.raises(DiagnoseError, match=r"another diagnose run \(pid \d+\) is writing into it"):
            with capture_dir.creating(folder):
                pass
        assert (folder / "perf.data").read_bytes() == b"first"
    assert [p.name for p in folder.iterdir()] == ["perf.data"]  # the lock went with the first run
    with pytest.raises(DiagnoseError, match="not empty"):
        with capture_dir.creating(folder):
            pass
    assert [p.name for p in folder.iterdir()] == ["perf.data"]


def test_the_folder_is_private(tmp_path: Path) -> None:
    folder = tmp_path / "cap"
    with capture_dir.creating(folder) as writer:
        writer.write_json(capture_dir.ENVIRONMENT, ENV)
        writer.write_manifest({})
    assert folder.stat().st_mode & 0o777 == 0o700
    assert {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()} == {"environment.json": 0o600,
                                                                            "manifest.json": 0o600}
    empty = tmp_path / "given"
    empty.mkdir(mode=0o755)
    with capture_dir.creating(empty):
        pass
    assert empty.stat().st_mode & 0o777 == 0o700


def test_a_failure_after_the_manifest_keeps_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "cap"
    with pytest.raises(KeyboardInterrupt):
        with capture_dir.creating(folder, ["environment.json", "report.json"]) as writer:
            writer.write_json(capture_dir.ENVIRONMENT, ENV)
            writer.write_manifest({})
            writer.keep({}, "not written: interrupted")
            raise KeyboardInterrupt
    m = json.loads((folder / "manifest.json").read_text())
    assert [f["path"] for f in m["files"]] == ["environment.json"]
    assert m["missing"] == [{"path": "report.json", "role": "report-json", "why": "not written: interrupted"}]
    assert sorted(p.name for p in folder.iterdir()) == ["environment.json", "manifest.json"]
