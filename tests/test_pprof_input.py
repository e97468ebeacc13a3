"""Reading pprof: a real Go program's CPU profile agrees with `go tool pprof` function by function."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, assert_one_line_error, fixture, run_cli
from diagnose.inputs.pprof import read_pprof
from diagnose.inputs.source import detect
from helpers.pprof_top import GO, parse_top, pprof_top

GOCPU = ROOT / "tests" / "helpers" / "gocpu"
needs_go = pytest.mark.skipif(GO is None, reason="go is not installed (Debian's golang-go builds the test program)")


def analysed(path: Path) -> dict:
    proc = run_cli("analyze", str(path), "--format", "json", "--all-functions")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def by_name(report: dict) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for f in report["profile"]["functions"]:
        assert f["name"] not in out, f"{f['name']} in two modules"
        out[f["name"]] = f
    return out


@pytest.fixture(scope="module")
def go_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test program built and run here for 3 s: its own CPU profile."""
    if GO is None:
        pytest.skip("go is not installed (Debian's golang-go builds the test program)")
    work = tmp_path_factory.mktemp("gocpu")
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off"}
    subprocess.run([GO, "build", "-o", str(work / "gocpu"), "."], cwd=GOCPU, env=env, check=True, timeout=300)
    out = work / "cpu.pb.gz"
    subprocess.run([str(work / "gocpu"), str(out), "3"], check=True, timeout=60, capture_output=True)
    return out


@needs_go
def test_analyze_agrees_with_go_tool_pprof_function_by_function(go_profile: Path) -> None:
    report = analysed(go_profile)
    ours = by_name(report)
    total = report["profile"]["total_samples"]
    assert total == report["capture"]["total_samples"] > 50
    assert report["capture"]["format"] == "pprof" and report["capture"]["frequency_hz"] == 100
    # pprof's default view: CPU time, 10 ms a sample, shown rounded.
    top = pprof_top(go_profile)
    period_ns = 1e9 / report["capture"]["frequency_hz"]
    assert abs(total * period_ns - top.total) <= top.total_step
    assert len(top.rows) >= 10, top.text
    for name, row in top.rows.items():
        f = ours[name]
        assert abs(f["self_samples"] * period_ns - row.flat) <= row.flat_step, (name, f, row)
        assert abs(f["inclusive_samples"] * period_ns - row.cum) <= row.cum_step, (name, f, row)
    # The sample counts themselves: exactly equal.
    counts = pprof_top(go_profile, "-sample_index=samples")
    assert counts.total == total
    for name, row in counts.rows.items():
        assert (ours[name]["self_samples"], ours[name]["inclusive_samples"]) == (row.flat, row.cum), name


@needs_go
def test_the_inlined_function_is_a_frame_of_its_own_under_its_caller(go_profile: Path) -> None:
    profile = read_pprof(str(go_profile))
    names = [f.name for f in profile.frames]
    mix, loop = names.index("main.mix"), names.index("main.mixLoop")
    inside = [s for s in profile.stacks if mix in s.frames]
    # Directly under its caller (pprof keeps both on one location). Whether the samples in mix have
    # it as their leaf depends on the Go runtime's preemption, which a loaded machine changes.
    assert inside and all(loop in s.frames and s.frames.index(mix) == s.frames.index(loop) + 1 for s in inside)
    profile.check()


def test_recorded_go_profile_matches_what_go_tool_pprof_said_when_it_was_recorded() -> None:
    """The fixture's sidecar holds `go tool pprof -top -sample_index=samples` of it, run when it was
    recorded: diagnose reads the same numbers without Go installed."""
    sidecar = fixture("gocpu.yaml").read_text()
    table = sidecar.split("go_tool_pprof_top: |", 1)[1]
    top = parse_top("\n".join(line[2:] for line in table.splitlines()[1:]))
    report = analysed(fixture("gocpu.pprof.pb.gz"))
    ours = by_name(report)
    assert report["profile"]["total_samples"] == top.total
    assert len(top.rows) >= 10
    for name, row in top.rows.items():
        assert (ours[name]["self_samples"], ours[name]["inclusive_samples"]) == (row.flat, row.cum), name
    cap = report["capture"]
    assert cap["frequency_hz"] == 100 and cap["frequency_source"] == "pprof period"
    m = re.search(r"Duration: ([\d.]+)s", table)
    assert m and abs(cap["duration_s"] - float(m.group(1))) < 0.006
    assert cap["kernel_frames_known"] is False
    assert [t["comm"] for t in cap["threads"]] == ["gocpu"]  # no labels: one thread, the binary's name


def test_go_write_wrapper_counts_as_the_write_call_with_lower_confidence() -> None:
    """No kernel frames in a Go profile: runtime/internal/syscall.Syscall6 under syscall.write is
    time in write(2), read from the wrapper (issue 6's rule)."""
    report = analysed(fixture("gocpu.pprof.pb.gz"))
    syscalls = report["profile"]["syscalls"]
    calls = {c["name"]: c for c in syscalls["calls"]}
    assert syscalls["inferred_from_wrappers"] is True
    wrapper = by_name(report)["runtime/internal/syscall.Syscall6"]["self_samples"]
    assert calls["write"]["samples"] >= wrapper > 0
    finding = next(f for f in report["findings"] if f["id"] == "syscall-heavy")
    assert "write" in finding["summary"] and finding["confidence"] < 1


def test_raw_protobuf_is_recognised_like_the_gzipd_one(tmp_path: Path) -> None:
    raw = tmp_path / "cpu.pb"
    raw.write_bytes(gzip.decompress(fixture("gocpu.pprof.pb.gz").read_bytes()))
    assert detect(str(raw)).format == "pprof"
    assert detect(str(fixture("gocpu.pprof.pb.gz"))).format == "pprof"
    a, b = analysed(raw), analysed(fixture("gocpu.pprof.pb.gz"))
    assert a["profile"]["functions"] == b["profile"]["functions"]


def test_a_cut_pprof_is_one_line_and_exit_2(tmp_path: Path) -> None:
    data = fixture("gocpu.pprof.pb.gz").read_bytes()
    cut = tmp_path / "cut.pb.gz"
    cut.write_bytes(data[: len(data) // 2])
    assert_one_line_error(run_cli("analyze", str(cut)), str(cut), "pprof")
    raw = gzip.decompress(data)
    cut_raw = tmp_path / "cut.pb"
    cut_raw.write_bytes(raw[: len(raw) - 7])
    proc = run_cli("analyze", str(cut_raw))
    assert_one_line_error(proc, str(cut_raw))


def test_a_profile_without_cpu_samples_is_refused(tmp_path: Path) -> None:
    from diagnose.inputs import profile_pb2

    msg = profile_pb2.Profile()
    msg.string_table.extend(["", "alloc_space", "bytes", "main.f"])
    msg.sample_type.add(type=1, unit=2)
    msg.function.add(id=1, name=3)
    msg.location.add(id=1).line.add(function_id=1)
    msg.sample.add(location_id=[1], value=[4096])
    heap = tmp_path / "heap.pb.gz"
    heap.write_bytes(gzip.compress(msg.SerializeToString()))
    assert_one_line_error(run_cli("analyze", str(heap)), "without CPU samples", "alloc_space/bytes")
    proc = run_cli("analyze", str(heap), "--event", "alloc_space", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["profile"]["functions"][0]["name"] == "main.f"


def test_labels_name_the_threads(tmp_path: Path) -> None:
    from diagnose.inputs import profile_pb2

    msg = profile_pb2.Profile()
    msg.string_table.extend(["", "samples", "count", "work", "thread", "net", "tid", "pid", "goroutine"])
    msg.sample_type.add(type=1, unit=2)
    msg.function.add(id=1, name=3)
    msg.location.add(id=1).line.add(function_id=1)
    s = msg.sample.add(location_id=[1], value=[3])
    s.label.add(key=4, str=5)
    s.label.add(key=6, num=12)
    s.label.add(key=7, num=10)
    msg.sample.add(location_id=[1], value=[2]).label.add(key=8, num=7)
    path = tmp_path / "labels.pb"
    path.write_bytes(msg.SerializeToString())
    profile = read_pprof(str(path))
    got = sorted((t.comm, t.pid, t.tid, sum(st.samples for st in profile.stacks if profile.threads[st.thread] == t))
                 for t in profile.threads)
    assert got == [("net", 10, 12, 3), ("pprof goroutine 7", None, None, 2)]


def test_other_binary_data_is_still_not_a_profile(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 64)
    assert_one_line_error(run_cli("analyze", str(junk)), "binary data, not a profile")


def test_unsymbolised_locations_are_named_by_their_module(tmp_path: Path) -> None:
    from diagnose.inputs import profile_pb2

    msg = profile_pb2.Profile()
    msg.string_table.extend(["", "samples", "count", "/srv/app", "/usr/lib/libvpx.so.7", "main.run"])
    msg.sample_type.add(type=1, unit=2)
    msg.mapping.add(id=1, filename=3)
    msg.mapping.add(id=2, filename=4)
    msg.function.add(id=1, name=5)
    root = msg.location.add(id=1, mapping_id=1)
    root.line.add(function_id=1)
    msg.location.add(id=2, mapping_id=2, address=0x7F001234)
    msg.sample.add(location_id=[2, 1], value=[5])
    path = tmp_path / "unsymbolised.pb"
    path.write_bytes(msg.SerializeToString())
    profile = read_pprof(str(path))
    assert [(f.name, f.module_base) for f in profile.frames] == [("main.run", "app"), ("[libvpx.so.7]", "libvpx.so.7")]
    assert [t.comm for t in profile.threads] == ["app"]
    assert profile.self_counts() == [0, 5]


def test_a_profile_with_cpu_time_only_counts_samples_by_the_period(tmp_path: Path) -> None:
    from diagnose.inputs import profile_pb2

    msg = profile_pb2.Profile()
    msg.string_table.extend(["", "cpu", "nanoseconds", "main.spin"])
    msg.sample_type.add(type=1, unit=2)
    msg.period_type.type, msg.period_type.unit, msg.period = 1, 2, 4_000_000  # 250 Hz
    msg.function.add(id=1, name=3)
    msg.location.add(id=1).line.add(function_id=1)
    msg.sample.add(location_id=[1], value=[12_000_000])
    path = tmp_path / "cpu-only.pb"
    path.write_bytes(msg.SerializeToString())
    profile = read_pprof(str(path))
    assert profile.capture.total_samples == 3 and profile.capture.frequency_hz == 250
    assert [(s.samples, s.weight) for s in profile.stacks] == [(3, 12_000_000)]
