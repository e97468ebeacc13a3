"""`diagnose analyze` and `diagnose collapse` from the command line: what a user sees."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import fixture, run_cli


def test_terminal_summary_of_the_report_shaped_capture() -> None:
    proc = run_cli("analyze", str(fixture("original-report-shape.perf.txt.gz")), "--width", "120")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for text in ("Capture overview", "6,200", "30.00 s", "99 Hz", "2.09 = 6,200 samples / (99 Hz × 30.00 s)",
                 "rtc_peer 1264187", "rtc_peer 1264202", "95% CI", "Hottest functions by self time",
                 "Hottest functions by inclusive time", "Kernel / user", "By module", "By thread"):
        assert text in out, text
    assert "__libc_recvmsg (23.50%)" in out
    assert "├── entry_SYSCALL_64_after_hwframe (11.48%)" in out
    assert "└── syscall_return_via_sysret (9.03%)" in out
    assert "unix_stream_recvmsg (1.95%)" in out
    assert proc.stderr == ""


def test_json_report_contract(tmp_path: Path) -> None:
    proc = run_cli("analyze", str(fixture("original-report-shape.perf.txt.gz")), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["schema"] == "diagnose.report/v1"
    cap = r["capture"]
    assert cap["source"].endswith("original-report-shape.perf.txt.gz")
    assert cap["total_samples"] == 6200
    assert cap["frequency_hz"] == 99
    assert cap["duration_s"] == 30
    assert sorted(p["pid"] for p in cap["processes"]) == [1264187, 1264202]
    assert {t["comm"] for t in cap["threads"]} >= {"network_thread", "worker_thread"}
    assert r["profile"]["total_samples"] == 6200
    funcs = {(f["name"], f["module"]): f for f in r["profile"]["functions"]}
    recv = funcs[("__libc_recvmsg", "/usr/lib/x86_64-linux-gnu/libc.so.6")]
    assert recv["kind"] == "user" and recv["inclusive_samples"] == 1457 and recv["self_samples"] == 185
    unix = funcs[("unix_stream_recvmsg", "[kernel.kallsyms]")]
    assert unix["kind"] == "kernel" and unix["inclusive_samples"] == 121
    for f in r["profile"]["functions"]:
        assert set(f) >= {"name", "module", "kind", "self_samples", "inclusive_samples"}
        assert f["kind"] in ("kernel", "user")
        lo, hi = f["inclusive_ci95"]
        assert lo <= f["inclusive_share"] <= hi


def test_output_file_is_written_whole_and_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    proc = run_cli("analyze", str(fixture("stress-ng-futex.perf.txt.gz")), "--format", "json", "-o", str(out))
    assert proc.returncode == 0 and proc.stdout == ""
    assert json.loads(out.read_text())["schema"] == "diagnose.report/v1"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_terminal_format_to_a_file_has_no_colour_codes(tmp_path: Path) -> None:
    out = tmp_path / "summary.txt"
    proc = run_cli("analyze", str(fixture("stress-ng-memcpy.perf.txt.gz")), "-o", str(out))
    assert proc.returncode == 0
    text = out.read_text()
    assert "Capture overview" in text and "\x1b[" not in text


def test_collapse_writes_sorted_folded_stacks(tmp_path: Path) -> None:
    path = str(fixture("iperf3-udp-recv.perf.txt.gz"))
    proc = run_cli("collapse", path)
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines == sorted(lines, key=lambda s: s.encode())
    total = sum(int(line.rsplit(" ", 1)[1]) for line in lines)
    periods = run_cli("analyze", path, "--format", "json")
    r = json.loads(periods.stdout)
    assert total == r["capture"]["total_samples"] * 10101010  # cpu-clock at 99 Hz: period in ns
    out = tmp_path / "f.folded"
    assert run_cli("collapse", path, "--tid", "-o", str(out)).returncode == 0
    assert all(line.split(";", 1)[0].rsplit("-", 1)[1].count("/") == 1 for line in out.read_text().splitlines())


def test_analyze_accepts_folded_stacks(tmp_path: Path) -> None:
    folded = tmp_path / "x.folded"
    folded.write_text(run_cli("collapse", "--kernel", str(fixture("socat-unix-ipc.perf.txt.gz"))).stdout)
    proc = run_cli("analyze", str(folded), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    names = {f["name"]: f for f in r["profile"]["functions"]}
    assert names["unix_stream_sendmsg"]["kind"] == "kernel"
    assert r["capture"]["format"] == "folded"


def test_idle_capture_says_why_there_is_nothing() -> None:
    proc = run_cli("analyze", str(fixture("idle-sleep.perf.txt.gz")), "--width", "120")
    assert proc.returncode == 0
    assert "No samples" in proc.stdout and "idle" in proc.stdout


def test_json_lists_the_top_functions_by_self_and_inclusive_and_says_how_many_there_are() -> None:
    capture = str(fixture("aiortc-call.perf.txt.gz"))  # 293 functions with samples
    top = json.loads(run_cli("analyze", capture, "--format", "json").stdout)["profile"]
    every = json.loads(run_cli("analyze", capture, "--format", "json", "--all-functions").stdout)["profile"]
    assert every["function_count"] == top["function_count"] == len(every["functions"]) == every["functions_listed"]
    assert every["functions_limit"] is None and top["functions_limit"] == 200
    listed = top["functions"]
    assert top["functions_listed"] == len(listed) < top["function_count"]
    by_incl = sorted(every["functions"], key=lambda f: -f["inclusive_samples"])
    by_self = sorted(every["functions"], key=lambda f: -f["self_samples"])
    names = {(f["name"], f["module"]) for f in listed}
    # Every function above the 200th by either measure is listed, in inclusive order as before.
    assert {(f["name"], f["module"]) for f in by_incl if f["inclusive_samples"] > by_incl[200]["inclusive_samples"]} <= names
    assert {(f["name"], f["module"]) for f in by_self if f["self_samples"] > by_self[200]["self_samples"]} <= names
    assert listed == [f for f in every["functions"] if (f["name"], f["module"]) in names]
