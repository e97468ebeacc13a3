"""-o never destroys what it points at: a character device stays a device, a FIFO's reader gets
the whole output, a symbolic link stays a link (its target is written), a failed write (full
disk) leaves the old file byte for byte with no temp file; a folder, a trailing / or a missing
folder is one line and exit code 2; a closed stdout pipe is no error."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import ROOT, assert_one_line_error, fixture, run_cli

CAPTURE = str(fixture("ffmpeg-libvpx-vp8-cpu8.perf.txt.gz"))
OTHER = str(fixture("stress-ng-memcpy.perf.txt.gz"))


def _args(command: str, tmp_path: Path) -> list[str]:
    """A real invocation of each command that writes a file with -o."""
    if command == "analyze":
        return ["analyze", CAPTURE, "--format", "json"]
    if command == "collapse":
        return ["collapse", CAPTURE]
    if command == "flamegraph":
        return ["flamegraph", CAPTURE]
    if command == "graph":
        return ["graph", CAPTURE, "--format", "graphml"]
    if command == "diff":
        return ["diff", CAPTURE, OTHER, "--format", "markdown"]
    report = tmp_path / "saved.json"
    if not report.exists():
        proc = run_cli("analyze", CAPTURE, "--format", "json", "-o", str(report))
        assert proc.returncode == 0, proc.stderr
    return ["explain", str(report), "--width", "100"]


COMMANDS = ["analyze", "collapse", "flamegraph", "graph", "diff", "explain"]


def _device(path: Path, minor: int) -> Path:
    """A private character device (1, 3 is null; 1, 7 is full), so no test touches /dev."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))
    except PermissionError:
        pytest.skip("making a character device node needs root (CAP_MKNOD)")
    return path


@pytest.mark.parametrize("command", COMMANDS)
def test_a_character_device_stays_a_device(tmp_path: Path, command: str) -> None:
    null = _device(tmp_path / "null", 3)
    proc = run_cli(*_args(command, tmp_path), "-o", str(null))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert stat.S_ISCHR(os.stat(null).st_mode), "the device was replaced by a file"
    assert os.stat(null).st_rdev == os.makedev(1, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["null", *(["saved.json"] if command == "explain"
                                                                            else [])])


def test_a_device_that_refuses_the_write_is_one_line(tmp_path: Path) -> None:
    full = _device(tmp_path / "full", 7)
    proc = run_cli("analyze", CAPTURE, "--format", "json", "-o", str(full))
    assert_one_line_error(proc, str(full), "No space left on device")
    assert stat.S_ISCHR(os.stat(full).st_mode)


def _drain_fifo(fifo: Path, into: list[bytes]) -> threading.Thread:
    def read() -> None:
        with open(fifo, "rb") as f:
            into.append(f.read())

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return t


def _release(fifo: Path, reader: threading.Thread) -> None:
    """If the command never opened the FIFO, open it ourselves so that the reader thread ends."""
    if reader.is_alive():
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    reader.join(timeout=30)


@pytest.mark.parametrize("command", ["collapse", "analyze"])
def test_a_fifo_reader_gets_the_whole_output(tmp_path: Path, command: str) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    args = _args(command, tmp_path)
    expected = run_cli(*args)
    assert expected.returncode == 0 and expected.stdout
    got: list[bytes] = []
    reader = _drain_fifo(fifo, got)
    try:
        proc = run_cli(*args, "-o", str(fifo))
    finally:
        _release(fifo, reader)
    assert proc.returncode == 0, proc.stderr
    assert got and got[0].decode() == expected.stdout
    assert stat.S_ISFIFO(os.stat(fifo).st_mode), "the FIFO was replaced by a file"


def test_a_symlink_is_followed_and_stays_a_link(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "collapsed.txt"
    target.parent.mkdir()
    target.write_text("old contents\n")
    link = tmp_path / "latest.txt"
    link.symlink_to(Path("reports") / "collapsed.txt")
    proc = run_cli("collapse", CAPTURE, "-o", str(link))
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and os.readlink(link) == str(Path("reports") / "collapsed.txt")
    assert target.read_text() == run_cli("collapse", CAPTURE).stdout
    assert sorted(p.name for p in target.parent.iterdir()) == ["collapsed.txt"]


def test_a_dangling_symlink_gets_its_target_written(tmp_path: Path) -> None:
    link = tmp_path / "latest.txt"
    link.symlink_to("new.txt")
    proc = run_cli("collapse", CAPTURE, "-o", str(link))
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink()
    assert (tmp_path / "new.txt").read_text() == run_cli("collapse", CAPTURE).stdout


def test_an_existing_file_keeps_its_permissions(tmp_path: Path) -> None:
    out = tmp_path / "private.json"
    out.write_text("{}")
    out.chmod(0o600)
    proc = run_cli("analyze", CAPTURE, "--format", "json", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text().startswith("{\n")


PATH_CASES = [("analyze", case) for case in ("folder", "folder/", "missing/", "missing/out.txt", "file/out.txt")]
PATH_CASES += [(command, case) for command in COMMANDS[1:] for case in ("folder", "missing/out.txt")]


@pytest.mark.parametrize(("command", "case"), PATH_CASES)
def test_paths_that_cannot_be_a_file_are_one_line(tmp_path: Path, command: str, case: str) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("keep me\n")
    args = _args(command, tmp_path)
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    target = str(tmp_path / case.rstrip("/")) + ("/" if case.endswith("/") else "")
    proc = run_cli(*args, "-o", target)
    assert_one_line_error(proc, target)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before
    assert (tmp_path / "file").read_text() == "keep me\n"


@pytest.fixture
def full_disk(tmp_path: Path):
    """A 64 KiB tmpfs filled to the last byte, holding report.json from before."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill ({mounted.stderr.strip() or 'mount failed'}); "
                    f"this test needs root and mount permission")
    try:
        (mnt / "report.json").write_bytes(b'{"the old": "report"}\n')
        try:
            with open(mnt / "fill", "wb") as f:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()
        except OSError:
            pass
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_a_full_disk_keeps_the_old_file_and_leaves_no_temp_file(full_disk: Path) -> None:
    old = (full_disk / "report.json").read_bytes()
    proc = run_cli("analyze", CAPTURE, "--format", "json", "-o", str(full_disk / "report.json"))
    line = assert_one_line_error(proc, str(full_disk / "report.json"), "No space left on device")
    assert "unchanged" in line
    assert (full_disk / "report.json").read_bytes() == old
    assert sorted(p.name for p in full_disk.iterdir()) == ["fill", "report.json"]


def test_a_full_disk_behind_stdout_is_one_line(full_disk: Path) -> None:
    with open(full_disk / "stdout.txt", "wb") as out:
        proc = subprocess.run([sys.executable, "-m", "diagnose", "collapse", CAPTURE], stdout=out,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "standard output" in lines[0] and "No space left on device" in lines[0], lines


@pytest.mark.parametrize("command", ["analyze", "collapse"])
def test_a_closed_stdout_pipe_is_no_error(tmp_path: Path, command: str) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte, like `| head -0`
    try:
        proc = subprocess.run([sys.executable, "-m", "diagnose", *_args(command, tmp_path)], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=120)
    finally:
        os.close(write_end)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


@pytest.mark.parametrize("closed", ["stdout", "stderr"])
def test_a_command_started_with_stdout_or_stderr_closed_writes_its_file(tmp_path: Path, closed: str) -> None:
    """`diagnose ... -o FILE >&-` (or `2>&-`): Python starts with that stream set to None; the
    command still writes its file and ends with exit code 0, not with a traceback at exit."""
    out = tmp_path / "report.json"
    script = ("import os, sys\n"
              f"fd = {1 if closed == 'stdout' else 2}\n"
              "pid = os.fork()\n"
              "if pid == 0:\n"
              "    os.close(fd)\n"
              "    os.execv(sys.executable, [sys.executable, '-m', 'diagnose', *sys.argv[1:]])\n"
              "_, status = os.waitpid(pid, 0)\n"
              "sys.exit(os.waitstatus_to_exitcode(status))\n")
    proc = subprocess.run([sys.executable, "-c", script, *_args("analyze", tmp_path), "-o", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert out.read_text().startswith("{")


def test_dash_is_standard_output(tmp_path: Path) -> None:
    proc = run_cli("collapse", CAPTURE, "-o", "-", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == run_cli("collapse", CAPTURE).stdout
    assert list(tmp_path.iterdir()) == []
