"""perf script's default text has thread ids, not process ids: what the analysis makes of the
processes then. The inputs are real captures with their pids taken out, as `perf script` without
`-F +pid` would have printed them; each is compared with the same capture analysed with its pids."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import yaml

from conftest import FIXTURES, run_cli

# "comm  pid/tid  [cpu] time:" -> "comm  tid  [cpu] time:" on each sample's first line.
_PID_TID = re.compile(rb"^(\S.*?\s+)\d+/(\d+)(\s)", re.MULTILINE)


def without_pids(name: str, tmp_path: Path, header: bool = True) -> Path:
    text = gzip.decompress((FIXTURES / f"{name}.perf.txt.gz").read_bytes())
    stripped = _PID_TID.sub(rb"\1\2\3", text)
    assert stripped != text
    if not header:
        stripped = b"".join(line for line in stripped.splitlines(keepends=True) if not line.startswith(b"#"))
    out = tmp_path / f"{name}-no-pids.perf.txt"
    out.write_bytes(stripped)
    return out


def report(path: Path) -> tuple[dict, str]:
    proc = run_cli("analyze", str(path), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


def processes(r: dict) -> dict[int, int]:
    """pid -> samples of the processes told apart (a recording's pids the samples could not be
    given to are listed without samples)."""
    return {p["pid"]: p["samples"] for p in r["capture"]["processes"] if "samples" in p}


def test_threads_of_one_recorded_process_are_that_process(tmp_path: Path) -> None:
    # perf record -p 8813 of a Python program with worker threads
    with_pids, _ = report(FIXTURES / "python-threads.perf.txt.gz")
    r, err = report(without_pids("python-threads", tmp_path))
    assert processes(r) == processes(with_pids) and list(processes(r)) == [8813]
    assert "no process ids" not in err


def test_single_threaded_processes_recorded_together_are_told_apart_by_their_thread_ids(tmp_path: Path) -> None:
    # perf record -p 6346,6348,6347,6349: four stress-ng workers, one thread each
    with_pids, _ = report(FIXTURES / "stress-ng-futex.perf.txt.gz")
    r, err = report(without_pids("stress-ng-futex", tmp_path))
    assert len(processes(with_pids)) == 4
    assert processes(r) == processes(with_pids)
    assert "no process ids" not in err


def test_multi_threaded_processes_recorded_together_are_not_guessed(tmp_path: Path) -> None:
    # perf record -p 9897,9904: two aiortc peers, each with several threads
    with_pids, _ = report(FIXTURES / "aiortc-call.perf.txt.gz")
    assert len(processes(with_pids)) == 2
    r, err = report(without_pids("aiortc-call", tmp_path))
    assert processes(r) == {}
    warning = [line for line in err.splitlines() if "no process ids" in line]
    assert len(warning) == 1 and "followed 2 processes" in warning[0] and "perf script -F +pid" in warning[0]


def test_a_system_wide_recording_without_pids_says_its_processes_cannot_be_told_apart(tmp_path: Path) -> None:
    _, err = report(FIXTURES / "janus-videoroom-system.perf.txt.gz")
    assert "no process ids" not in err
    path = without_pids("janus-videoroom-system", tmp_path)
    r, err = report(path)
    assert processes(r) == {}
    assert any("no process ids" in line and "system-wide" in line for line in err.splitlines())
    terminal = run_cli("analyze", str(path), env={"COLUMNS": "150"}).stdout
    assert re.search(r"Processes\s+several, not told apart", terminal)
    # Threads picked by name: the shares are of what the user chose, nothing to warn about.
    picked = run_cli("analyze", str(path), "--comm", "hloop .*", "--format", "json")
    assert picked.returncode == 0 and "no process ids" not in picked.stderr, picked.stderr


def test_several_programs_without_pids_or_header_are_named(tmp_path: Path) -> None:
    """Two captures' texts, headers and pids removed, one after the other: what a default perf
    script of a recording of two programs looks like (bzip2 beside a file reader). The programs
    show by the executables their stacks run in."""
    a = without_pids("bzip2-dwarf", tmp_path, header=False).read_bytes()
    b = without_pids("file-read", tmp_path, header=False).read_bytes()
    both = tmp_path / "two-programs.perf.txt"
    both.write_bytes(a + b"\n" + b)
    r, err = report(both)
    warning = [line for line in err.splitlines() if "no process ids" in line]
    n = {name: yaml.safe_load((FIXTURES / f"{name}.yaml").read_text())["samples"] for name in ("bzip2-dwarf", "file-read")}
    total = sum(n.values())
    seen = f"2 programs (file_reader {n['file-read'] / total:.0%}, bzip2 {n['bzip2-dwarf'] / total:.0%})"
    assert len(warning) == 1 and seen in warning[0], err
    assert processes(r) == {}
