"""What the diagnosis says on real captures, beyond which rules fire: the advice given and
withheld, the codec named, the reasons given when there is too little to judge."""

from __future__ import annotations

import gzip
from pathlib import Path

from conftest import fixture
from diagnose.pipeline import analyze

SOCKET_BUFFER_KEYS = {"net.core.rmem_max", "net.core.rmem_default", "net.core.wmem_max", "net.core.wmem_default",
                      "net.core.netdev_max_backlog"}


def advised_sysctls(analysis) -> set[str]:
    return {r["key"] for f in analysis.findings for r in f.recommendations if r["kind"] == "sysctl"}


def test_original_report_shape_is_ipc_and_gets_no_socket_buffer_advice() -> None:
    a = analyze(str(fixture("original-report-shape.perf.txt.gz")))
    top = [f for f in a.findings if f.explained_by is None][:2]
    # The IPC channel is the story: its system calls and the JSON its messages are made of.
    assert {f.id for f in top} == {"unix-socket-ipc", "serialization-heavy"}
    ipc = next(f for f in a.findings if f.id == "unix-socket-ipc")
    assert advised_sysctls(a) & SOCKET_BUFFER_KEYS == set()
    withheld = {r["key"] for r in ipc.not_helpful if r["kind"] == "sysctl"}
    assert {"net.core.rmem_max", "net.core.netdev_max_backlog"} <= withheld
    assert "not network receive" in ipc.summary["en"]
    # The recvmsg/sendmsg system calls (entry, exit, copies) are the IPC's: the report's 23.5% and
    # 10% minus the user-space time of the libc wrappers themselves (2.98% and 1.03%).
    assert abs(ipc.values["ipc"] - 0.2948) < 0.001
    generic = next(f for f in a.findings if f.id == "syscall-heavy")
    assert generic.explained_by == "unix-socket-ipc"


def test_udp_receiver_gets_udp_advice_with_what_the_buffers_really_do() -> None:
    a = analyze(str(fixture("iperf3-udp-recv.perf.txt.gz")))
    udp = next(f for f in a.findings if f.id == "udp-receive-heavy")
    kinds = {r["id"] for r in udp.recommendations}
    assert "code.recvmmsg" in kinds
    assert "SO_RCVBUF" in udp.explanation["en"] and "rmem_default" in udp.explanation["en"]
    # Socket buffers are no CPU fix: named as not helping, never advised without drops.
    assert {r["key"] for r in udp.not_helpful} >= {"net.core.rmem_max", "net.core.netdev_max_backlog"}
    assert advised_sysctls(a) & SOCKET_BUFFER_KEYS == set()
    assert not any(f.id == "udp-receive-drops" for f in a.findings)


def test_stripped_libvpx_is_named_vp8_from_the_recorded_command_line() -> None:
    a = analyze(str(fixture("ffmpeg-libvpx-vp8.perf.txt.gz")))
    codec = a.findings[0]
    assert (codec.id, codec.subject) == ("codec-hot", "vp8")
    assert any("libvpx" in fn["module"] for fn in codec.evidence["functions"])


def test_tiny_capture_rates_nothing_above_info_and_says_why(tmp_path: Path) -> None:
    raw = gzip.decompress(fixture("stress-ng-futex.perf.txt.gz").read_bytes())
    head, _, body = raw.partition(b"\n\n")
    tiny = tmp_path / "tiny.txt"
    tiny.write_bytes(head + b"\n\n" + b"\n\n".join(body.split(b"\n\n")[:60]) + b"\n\n")
    a = analyze(str(tiny))
    assert a.profile.stack_samples < 100
    assert a.findings, "the lock contention is still visible"
    assert all(f.severity == "info" for f in a.findings)
    assert any("too uncertain" in n for n in a.evaluation.notes)
    assert any(f.id == "low-sample-count" for f in a.findings)


def test_idle_capture_says_it_was_idle() -> None:
    """0 samples in 5 s at 99 Hz: surely idle (confidence from the count over the duration, not
    0), and neither "Only 0 samples" nor advice to record more samples of a process that did not run."""
    from diagnose.report.markdown import render_markdown
    from diagnose.report.terminal import render_terminal

    a = analyze(str(fixture("idle-sleep.perf.txt.gz")))
    assert {f.id for f in a.findings} == {"idle-process"}
    assert all(f.severity == "info" for f in a.findings)
    assert a.findings[0].confidence > 0.99
    assert not any("only 0 samples" in n for n in a.evaluation.notes)
    for text in (render_markdown(a), render_terminal(a, width=100)):
        assert "confidence 0.00" not in text and "Only 0 samples" not in text and "only 0 samples" not in text
        assert "Record more samples" not in text and "record longer" not in text.lower()
        assert "0.00% (below" not in text  # no "healthy" share measured on no samples
    assert "The processes were idle" in render_markdown(a)


def test_busy_capture_is_not_idle_and_its_confidence_follows_the_count() -> None:
    from diagnose.stats import cores_confidence

    # 20 samples where 24.75 were expected at 0.05 cores (99 Hz, 5 s): likely idle, not surely.
    assert 0.7 < cores_confidence(20, 0.05, "lt", 99, 5) < 0.95
    assert cores_confidence(0, 0.05, "lt", 99, 5) > 0.999
    assert cores_confidence(100, 0.05, "lt", 99, 5) < 0.001


def test_sysctl_already_high_enough_is_not_advised() -> None:
    from diagnose.callgraph import build_call_graph
    from diagnose.pipeline import apply_rules, load_profile
    from diagnose.summary import summarize
    from diagnose.analysis import Analysis

    profile = load_profile(str(fixture("iperf3-udp-recv.perf.txt.gz")))
    # As `diagnose run` records them: the sysctls, and the receiving socket dropping datagrams.
    profile.capture.environment = {"sysctl": {"net.core.rmem_max": "67108864", "net.core.rmem_default": "212992"},
                                   "network": {"sockets": {"drops": 500, "drops_per_s": 25.0}}}
    graph = build_call_graph(profile)
    a = Analysis(profile, graph, summarize(profile, graph))
    apply_rules(a)
    udp = next(f for f in a.findings if f.id == "udp-receive-drops")
    advised = {r["key"]: r for r in udp.recommendations if r["kind"] == "sysctl"}
    assert "net.core.rmem_max" not in advised
    assert advised["net.core.rmem_default"]["current"] == "212992"
    assert any(r["key"] == "net.core.rmem_max" for r in udp.evidence["already_satisfied"])


def test_the_report_shaped_capture_names_its_json_and_stats_with_their_shares() -> None:
    a = analyze(str(fixture("original-report-shape.perf.txt.gz")))
    by_id = {f.id: f for f in a.findings}
    # rtc_ipc::Json::ParseValue 14.52% + Json::Write 11.29% (the #1 and #3 hottest functions)
    assert abs(by_id["serialization-heavy"].values["serial"] - 0.2581) < 0.0005
    # RTCStatsReport::ToJson 8.87% + RTCStatsCollector::GetStatsReport 4.84%
    assert abs(by_id["stats-collection-hot"].values["stats"] - 0.1371) < 0.0005
    assert "25.8%" in by_id["serialization-heavy"].summary["en"]


def test_a_profile_without_kernel_frames_reports_the_send_call_with_lower_confidence() -> None:
    a = analyze(str(fixture("pyspy-udp-send.folded.gz")))
    sys = next(f for f in a.findings if f.id == "syscall-heavy")
    assert sys.subject == "sendto" and abs(sys.values["in_syscall"] - 758 / 989) < 1e-4
    assert sys.confidence <= 0.6 and "no kernel frames" in sys.values["confidence_lowered"]
    send = next(f for f in a.findings if f.id == "udp-send-heavy")
    assert send.confidence <= 0.6
    # what the kernel did inside the call cannot be seen: unknown, never 0%
    assert send.values["udp_direct"] is None and "unknown" in send.summary["en"]
    assert "0.0%" not in send.summary["en"]


def test_findings_are_numbered_in_the_order_of_their_scores() -> None:
    for name in ("original-report-shape.perf.txt.gz", "iperf3-udp-recv.perf.txt.gz", "lab/janus-videoroom",
                 "lab/pion-nack-storm", "aiortc-call.perf.txt.gz"):
        a = analyze(str(fixture(name)))
        top = [f for f in a.findings if f.explained_by is None]
        assert [f.rank for f in top] == list(range(1, len(top) + 1)), name
        scored = [f.score for f in top if "capture-quality" not in f.tags]
        assert scored == sorted(scored, reverse=True), name
        for f in a.findings:
            if f.explained_by is not None:  # shown under its cause, with the cause's number
                cause = next(c for c in a.findings if c.id == f.explained_by)
                assert f.rank == cause.rank and a.findings.index(f) > a.findings.index(cause)
