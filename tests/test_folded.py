"""Reading folded stacks as the common tools write them."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import PEER, assert_one_line_error, require_peer_suite, run_cli
from diagnose.pipeline import load_profile


def write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "stacks.folded"
    p.write_text(text)
    return str(p)


def test_counts_are_summed_per_stack_and_the_root_is_the_process(tmp_path: Path) -> None:
    p = load_profile(write(tmp_path, "app;main;work 3\napp;main;work 2\napp;main 1\nother;idle 4\n"))
    p.check()
    assert p.total_samples == 10
    names = {f.name for f in p.frames}
    assert names == {"main", "work", "idle"}
    assert {t.comm for t in p.threads} == {"app", "other"}


def test_pid_and_tid_roots_kernel_annotations_and_module_names(tmp_path: Path) -> None:
    text = "iperf-27409/28744;[libc.so.6];recv;entry_SYSCALL_64_[k];udp_recvmsg_[k] 5\nrun-?/28797;[unknown] 1\n"
    p = load_profile(write(tmp_path, text))
    threads = {(t.comm, t.pid, t.tid) for t in p.threads}
    assert threads == {("iperf", 27409, 28744), ("run", None, 28797)}
    kinds = {f.name: (f.kind, f.module) for f in p.frames}
    assert kinds["udp_recvmsg"] == ("kernel", "")
    assert kinds["[libc.so.6]"] == ("user", "libc.so.6")
    assert p.capture.kernel_frames_known


def test_decimal_counts_comments_and_blank_lines(tmp_path: Path) -> None:
    p = load_profile(write(tmp_path, "# austin comment\n\napp;a 12.\napp;b 3\n"))
    assert p.total_samples == 15


@pytest.mark.parametrize("name", ["fractional-samples/no-fractionals.txt", "austin/flames.txt", "base/flames.txt",
                                  "colors/async-profiler-collapsed-part.txt",
                                  "unsorted-input/perf-vertx-stacks-01-collapsed-all-unsorted.txt"])
def test_reads_folded_files_written_by_other_tools(name: str) -> None:
    require_peer_suite()
    path = PEER / "inferno" / "tests" / "data" / "flamegraph" / name
    p = load_profile(str(path))
    p.check()
    expected = 0
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            expected += int(float(line.rsplit(None, 1)[1]))
    assert p.total_samples == expected


def test_a_count_that_is_not_a_number_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "app;main;work 3\napp;main;oops many\napp;x 1\n")
    line = assert_one_line_error(run_cli("analyze", path), path + ":2")
    assert "count" in line


def test_large_counts_stay_exact(tmp_path: Path) -> None:
    p = load_profile(write(tmp_path, "app;a 99999999999999999999\napp;b 1\n"))
    assert p.total_samples == 100000000000000000000


def test_py_spy_thread_ids_in_decimal_with_a_leading_zero(tmp_path: Path) -> None:
    # py-spy writes "thread (ID)" with the id in hex or decimal; a decimal one may start with 0.
    p = load_profile(write(tmp_path, "thread (0123): MainThread;main (app.py:3);work (app.py:9) 5\n"
                                     "thread (0x7f3a): worker;run (app.py:20) 2\n"))
    assert {(t.comm, t.tid) for t in p.threads} == {("MainThread", 123), ("worker", None)}
