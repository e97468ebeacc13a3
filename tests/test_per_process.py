"""Per-process findings in a capture of several processes: each finding names the processes its
samples come from, with shares that add up to the finding's samples; advice for a program names
it; a rule that fires for one process alone is that process's finding."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import fixture, run_cli

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from perf_samples import samples  # noqa: E402

SEED = fixture("original-report-shape.perf.txt.gz")
TWO = fixture("two-process-udp-unix.perf.txt.gz")


def _analyze(tmp_path_factory: pytest.TempPathFactory, src: Path, *args: str) -> dict:
    out = tmp_path_factory.mktemp("r") / "r.json"
    proc = run_cli("analyze", str(src), "-f", "json", "-o", str(out), *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _analyze(tmp_path_factory, TWO)


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _analyze(tmp_path_factory, SEED)


def _pids(src: Path) -> dict[str, int]:
    return {s.comm: s.pid for s in samples(src)}


def test_shares_add_up_to_the_findings_samples(two: dict, seed: dict) -> None:
    for report in (two, seed):
        counted = [f for f in report["findings"] if f["processes"]]
        assert counted
        for f in counted:
            assert sum(p["samples"] for p in f["processes"]) == pytest.approx(f["samples"], abs=0.01), f["id"]
            assert sum(p["share"] for p in f["processes"]) == pytest.approx(1.0, abs=1e-5), f["id"]
            assert [p["samples"] for p in f["processes"]] == sorted((p["samples"] for p in f["processes"]), reverse=True)


def test_process_samples_are_the_truth_from_the_stacks(two: dict) -> None:
    """unknown-frames counts the samples whose stack passes through a frame with neither symbol nor
    module; count them per process from the text."""
    truth: dict[int, int] = {}
    for s in samples(TWO):
        if any(frame == ("[unknown]", "[unknown]") for frame in s.frames):
            truth[s.pid] = truth.get(s.pid, 0) + 1
    f = next(f for f in two["findings"] if f["id"] == "unknown-frames")
    assert {p["pid"]: p["samples"] for p in f["processes"]} == truth
    names = _pids(TWO)
    assert {p["pid"]: p["comm"] for p in f["processes"]} == {pid: comm for comm, pid in names.items()}


def test_a_finding_driven_by_one_process_names_only_it(two: dict) -> None:
    socat = _pids(TWO)["socat"]
    ipc = next(f for f in two["findings"] if f["id"] == "unix-socket-ipc")
    assert [p["pid"] for p in ipc["processes"]] == [socat] and ipc["processes"][0]["share"] == 1.0
    program = [r for r in ipc["recommendations"] if r["kind"] not in ("sysctl", "system")]
    assert program and all([p["pid"] for p in r["for_processes"]] == [socat] for r in program)
    assert all("for_processes" not in r for r in ipc["recommendations"] if r["kind"] in ("sysctl", "system"))


def test_a_rule_drowned_in_the_merged_shares_fires_for_its_process(two: dict, tmp_path_factory) -> None:
    """iperf3's UDP receive share is above the rule's threshold in iperf3's own samples, below it
    once merged with socat's: it is iperf3's finding, said to be measured on iperf3 alone."""
    iperf = _pids(TWO)["iperf3"]
    udp = next(f for f in two["findings"] if f["id"] == "udp-receive-heavy")
    own = [s for s in samples(TWO) if s.pid == iperf]
    assert udp["process"]["pid"] == iperf and udp["process"]["samples"] == len(own)
    assert udp["summary"].startswith(f"In iperf3 {iperf} alone ({len(own):,} samples): ")
    assert [p["pid"] for p in udp["processes"]] == [iperf]
    alone = _analyze(tmp_path_factory, TWO, "--pid", str(iperf))
    same = next(f for f in alone["findings"] if f["id"] == "udp-receive-heavy")
    assert udp["samples"] == same["samples"] and udp["score"] == same["score"]
    trace = next(t for t in two["evaluation"]["rules"] if t["id"] == "udp-receive-heavy")
    assert trace["status"] == "not-fired" and f"iperf3 {iperf} alone" in trace["why_not"]


def test_seed_shaped_findings_match_each_process_analysed_alone(seed: dict, tmp_path_factory) -> None:
    """On the seed-shaped capture (two alike processes) every finding comes from both, each
    process's part is what `--pid` finds in it, and no rule fires for one process alone."""
    assert all(f["process"] is None for f in seed["findings"])
    alone = {pid: {f["id"]: f for f in _analyze(tmp_path_factory, SEED, "--pid", str(pid))["findings"]}
             for pid in (1264187, 1264202)}
    checked = 0
    for f in seed["findings"]:
        if not f["processes"]:
            continue
        assert {p["pid"] for p in f["processes"]} == {1264187, 1264202}
        for p in f["processes"]:
            own = alone[p["pid"]].get(f["id"])
            if own is not None and own["samples"] is not None and isinstance(p["samples"], int):
                assert own["samples"] == p["samples"], (f["id"], p)
                checked += 1
    assert checked >= 4


def test_terminal_and_markdown_name_the_processes() -> None:
    socat = _pids(TWO)["socat"]
    term = run_cli("analyze", str(TWO), "--width", "200")
    assert term.returncode == 0, term.stderr
    assert f"Samples by process: socat {socat}" in term.stdout
    assert f"[for socat {socat}]" in term.stdout
    md = run_cli("analyze", str(TWO), "-f", "markdown")
    assert f"_Samples by process: socat {socat}" in md.stdout and f"(for socat {socat})" in md.stdout
    # one process: no per-process line
    one = run_cli("analyze", str(TWO), "--pid", str(socat), "--width", "200")
    assert "Samples by process" not in one.stdout


@pytest.mark.parametrize("name", ["aiortc-call.perf.txt.gz", "two-process-udp-unix.perf.txt.gz",
                                  "stress-ng-futex.perf.txt.gz", "synthetic/rx-softirq.perf.txt.gz"])
def test_a_process_evaluated_alone_is_judged_as_its_samples_alone_would_be(name: str) -> None:
    """Each process evaluated alone takes what the merged evaluation computed per frame and per
    stack (categories, owners, virtual frames, selector and marker bits, the system calls frames
    name) from the merged profile: its findings, traces, platform, system calls and attribution
    must be those of its samples evaluated from scratch."""
    from diagnose.expert.attribution import attribution
    from diagnose.expert.engine import evaluate
    from diagnose.expert.knowledge import builtin_knowledge
    from diagnose.expert.per_process import process_samples
    from diagnose.expert.rules import load_packs
    from diagnose.expert.syscalls import stack_calls
    from diagnose.model.select import select, selection
    from diagnose.orchestrate.pipeline import load_profile

    profile = load_profile(str(fixture(name)))
    ruleset = load_packs(None, builtin_knowledge())
    kb = ruleset.knowledge or builtin_knowledge()
    evaluate(profile, ruleset, kb)  # the merged evaluation, as analyze runs it first
    merged_owners = attribution(profile, kb).owners
    pids = list(process_samples(profile))
    assert len(pids) >= 2
    for pid in pids:
        reused = select(profile, selection(pids=[pid]), keep_origin=True)
        fresh = select(profile, selection(pids=[pid]))
        a, b = evaluate(reused, ruleset, kb), evaluate(fresh, ruleset, kb)
        assert [f.to_dict() for f in a.findings] == [f.to_dict() for f in b.findings]
        assert a.to_dict() == b.to_dict() and a.platform.to_dict() == b.platform.to_dict()
        assert stack_calls(reused) == stack_calls(fresh)
        att_a, att_b = attribution(reused, kb), attribution(fresh, kb)
        assert att_a.owners == att_b.owners
        assert att_a.effective == att_b.effective and att_a.virtual == att_b.virtual
        # ... and the owners were taken from the merged attribution, not computed again.
        taken = [o for o, i in zip(att_a.owners, reused.origin.stacks) if o is merged_owners[i]]
        assert any(o.category is not None for o in taken), f"{name}: pid {pid} owners computed again"


def _two_process_text(janus_threads: list[int], encoder_samples: int) -> str:
    """perf script text of a system-wide recording (10 s at 99 Hz) of Janus sending UDP from
    threads of the given samples each, beside an encoder process with one thread: a hand-made
    edge case in the shape of fixtures/janus-videoroom-system."""
    send = ["udp_sendmsg ([kernel.kallsyms])", "____sys_sendmsg ([kernel.kallsyms])",
            "__sys_sendmsg ([kernel.kallsyms])", "do_syscall_64 ([kernel.kallsyms])",
            "entry_SYSCALL_64_after_hwframe ([kernel.kallsyms])",
            "__libc_sendmsg (/usr/lib/x86_64-linux-gnu/libc.so.6)",
            "g_socket_send_message (/usr/lib/x86_64-linux-gnu/libgio-2.0.so.0)",
            "janus_ice_send_thread (/usr/bin/janus)", "start_thread (/usr/lib/x86_64-linux-gnu/libc.so.6)"]
    encode = ["vp8_encode_frame (/usr/lib/x86_64-linux-gnu/libvpx.so.7)",
              "vpx_codec_encode (/usr/lib/x86_64-linux-gnu/libvpx.so.7)",
              "gst_vpx_enc_handle_frame (/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstvpx.so)",
              "start_thread (/usr/lib/x86_64-linux-gnu/libc.so.6)"]
    out = ["# cmdline : /usr/bin/perf record -a -g -F 99 -- sleep 10", ""]
    t = 1.0

    def block(comm: str, pid: int, tid: int, frames: list[str]) -> None:
        nonlocal t
        t += 0.001
        out.append(f"{comm} {pid}/{tid} {t:.6f}: 10101010 cpu-clock:ppp: ")
        out.extend(f"\t{0x1000 + i:x} {f}" for i, f in enumerate(frames))
        out.append("")

    for k, n in enumerate(janus_threads):
        for _ in range(n):
            block(f"hloop {k}", 200, 201 + k, send)
    for _ in range(encoder_samples):
        block("vp8enc0:src", 300, 301, encode)
    return "\n".join(out)


@pytest.mark.parametrize("janus_threads, offered", [([150, 150, 150, 150], False), ([600, 20, 20, 20], True)])
def test_spreading_janus_needs_a_busy_janus_thread_not_a_busy_neighbour(tmp_path: Path, janus_threads: list[int],
                                                                        offered: bool) -> None:
    """'Spread the fan-out over more cores' needs a thread near a full core: in a capture of
    several processes, one of Janus's, not the encoder beside it at 0.6 cores."""
    src = tmp_path / "janus-beside-encoder.perf.txt"
    src.write_text(_two_process_text(janus_threads, 600))
    proc = run_cli("analyze", str(src), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    [send] = [f for f in report["findings"] if f["id"] == "udp-send-heavy"]
    assert send.get("process") is None  # fired on the merged capture
    assert send["processes"][0]["pid"] == 200
    assert report["health"]["busiest_thread"]["cores"] >= 0.6  # the machine has a thread near a core either way
    ids = {r["id"] for r in send["recommendations"]}
    withheld = {w["id"]: w["status"] for w in send.get("withheld", [])}
    if offered:
        assert "webrtc.spread-fanout" in ids
    else:
        assert "webrtc.spread-fanout" not in ids and withheld["webrtc.spread-fanout"] == "needs-evidence"
        [why] = [w["why"] for w in send["withheld"] if w["id"] == "webrtc.spread-fanout"]
        assert "janus 200 (most of this finding's samples) does not show" in why


def test_a_run_of_several_processes_judges_a_processs_advice_on_its_own_threads(tmp_path: Path) -> None:
    """/proc's reading of a run that recorded Janus beside an encoder (its busiest thread the
    encoder's, at 0.9 cores): Janus's fan-out advice looks at Janus's threads, 0.1 of a core."""
    from conftest import lab_copy_with_environment

    def row(pid: int, tid: int, comm: str, cores: float) -> dict:
        return {"pid": pid, "tid": tid, "comm": comm, "process": comm, "seen": "whole", "cores": cores,
                "cpu_s": cores * 10, "runnable": cores, "wait_ratio": 0.0, "wait_per_s": 0.0}

    janus = json.loads((fixture("lab") / "janus-videoroom" / "environment.json").read_text())["processes"][0]["pid"]
    for encoder_cores, offered in ((0.9, False), (None, True)):
        rows = [row(4242, 4243, "vp8enc0:src", encoder_cores)] if encoder_cores else []
        rows.append(row(janus, janus + 30, "hloop 1", 0.1 if encoder_cores else 0.7))
        folder = lab_copy_with_environment(tmp_path / str(offered), "janus-videoroom",
                                           {"threads": {"window_s": 10.0, "threads": rows, "busiest": rows[0]}})
        proc = run_cli("analyze", str(folder), "--format", "json")
        assert proc.returncode == 0, proc.stderr
        [send] = [f for f in json.loads(proc.stdout)["findings"] if f["id"] == "udp-send-heavy"]
        assert ("webrtc.spread-fanout" in {r["id"] for r in send["recommendations"]}) is offered
