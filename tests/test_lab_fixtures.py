"""The lab fixtures: real WebRTC servers (Pion, Janus, GStreamer webrtcbin) and a dropping UDP
receiver, recorded here with `diagnose run` (fixtures/record/*.sh). Each sidecar holds a ground
truth measured without diagnose (fixtures/record/ground_truth.py over the same perf script
text, /proc counters); here the findings are checked against it: the top findings are the causes
the ground truth shows, every claimed share is within sampling noise of the independent figure,
and no advice appears that does not apply to the stack or is already in effect."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import pytest
import yaml

from conftest import FIXTURES
from diagnose.analysis import Analysis
from diagnose.pipeline import analyze

LAB = FIXTURES / "lab"
NAMES = sorted(p.stem for p in LAB.glob("*.yaml"))

Truth = dict[str, Any]


def share(gt: Truth, *categories: str) -> float:
    return sum(gt["categories"].get(c, {}).get("share", 0.0) for c in categories)


def inclusive(gt: Truth, probe: str) -> float:
    return gt["inclusive"].get(probe, {}).get("share", 0.0)


# finding id -> (the value it claims, the sidecar's independent figure for the same thing)
CLAIMS: dict[str, tuple[str, Callable[[Truth], float]]] = {
    "srtp-crypto-hot": ("crypto", lambda gt: share(gt, "crypto")),
    "udp-send-heavy": ("udp_tx", lambda gt: share(gt, "syscall:send")),
    "udp-receive-heavy": ("udp_rx", lambda gt: share(gt, "syscall:recv")),
    "nack-retransmission-heavy": ("resend", lambda gt: inclusive(gt, "nack-resend")),
    "go-gc-hot": ("gc", lambda gt: share(gt, "go-gc", "go-alloc")),
    "go-scheduler-heavy": ("sched", lambda gt: inclusive(gt, "go-scheduler-inclusive")),
    "codec-hot": ("codec", lambda gt: share(gt, "codec-vp8")),
    "syscall-heavy": ("in_syscall", lambda gt: sum(v["share"] for k, v in gt["categories"].items()
                                                   if k.startswith("syscall:"))),
    "malloc-churn": ("alloc", lambda gt: share(gt, "malloc")),
    "synthetic-source": ("test_src", lambda gt: share(gt, "videotestsrc", "audiotestsrc")),
    "python-runtime-hot": ("interp_self", lambda gt: share(gt, "python")),
    "poll-wakeup-heavy": ("polling", lambda gt: share(gt, "syscall:poll")),
}

# What each fixture's ground truth shows, as findings: the first top-level finding, others that
# must be there, and findings that must not (a claim its ground truth contradicts).
EXPECT: dict[str, dict[str, Any]] = {
    "pion-p2p": {"top3": {"go-gc-hot", "go-scheduler-heavy", "udp-send-heavy"},
                 "absent": {"srtp-crypto-hot", "pacer-gcc-hot", "udp-receive-heavy", "lock-contention",
                            "nack-retransmission-heavy"}},
    "pion-sfu": {"top": "udp-send-heavy", "present": {"go-scheduler-heavy"},
                 "absent": {"udp-receive-heavy", "lock-contention", "pacer-gcc-hot", "srtp-crypto-hot",
                            "nack-retransmission-heavy"}},
    "pion-nack-storm": {"top": "nack-retransmission-heavy", "present": {"udp-send-heavy", "srtp-crypto-hot"},
                        "absent": {"udp-receive-heavy", "pacer-gcc-hot", "lock-contention"}},
    "janus-videoroom": {"top": "srtp-crypto-hot", "present": {"udp-send-heavy", "malloc-churn"},
                        "absent": {"udp-receive-heavy", "go-gc-hot", "nack-retransmission-heavy", "lock-contention"}},
    "janus-videoroom-dwarf": {"top": "srtp-crypto-hot", "present": {"udp-send-heavy"},
                              "absent": {"udp-receive-heavy", "go-gc-hot", "nack-retransmission-heavy"}},
    "janus-echotest": {"top": "srtp-crypto-hot", "present": {"udp-send-heavy"},
                       "absent": {"go-gc-hot", "nack-retransmission-heavy", "lock-contention"}},
    "gst-webrtcbin-publisher": {"top": "codec-hot", "present": {"synthetic-source"},
                                "absent": {"srtp-crypto-hot", "nack-retransmission-heavy", "udp-receive-heavy"}},
    "udp-receiver-drops": {"top": "udp-receive-drops", "present": {"python-runtime-hot"},
                           "absent": {"udp-send-heavy", "unix-socket-ipc"}},
}

# Advice that must never appear on a fixture's stack: impossible there, or already in effect.
FORBIDDEN: dict[str, set[str]] = {
    "pion": {"code.recvmmsg", "system.libsrtp-openssl", "system.aes-ni", "webrtc.srtp-gcm", "code.udp-gso",
             "webrtc.janus-event-loops", "code.io-uring"},
    "janus": {"code.sendmmsg", "code.recvmmsg", "code.udp-gso", "code.go-gc-tuning", "system.aes-ni",
              "code.fewer-goroutine-handoffs"},
    "gstreamer": {"webrtc.srtp-gcm", "code.go-gc-tuning", "webrtc.janus-event-loops"},
}
SOCKET_BUFFERS = {"sysctl.net.core.rmem_max", "sysctl.net.core.rmem_default", "sysctl.net.core.wmem_max",
                  "sysctl.net.core.wmem_default"}


@lru_cache(maxsize=None)
def sidecar(name: str) -> dict[str, Any]:
    return yaml.safe_load((LAB / f"{name}.yaml").read_text())


@lru_cache(maxsize=None)
def analysed(name: str) -> Analysis:
    return analyze(str(LAB / name))


def top_level(a: Analysis) -> list[str]:
    return [f.id for f in a.findings if f.explained_by is None and "capture-quality" not in f.tags]


def test_every_lab_fixture_has_expectations() -> None:
    assert set(NAMES) == set(EXPECT), "a lab fixture without expectations, or expectations without a fixture"


@pytest.mark.parametrize("name", NAMES)
def test_the_sidecar_says_how_it_was_made_and_measured(name: str) -> None:
    sc = sidecar(name)
    for key in ("description", "expect", "record_command", "loadavg", "measured", "ground_truth", "perf_report"):
        assert sc.get(key), f"{name}: sidecar lacks {key}"
    assert sc["record_command"].startswith("diagnose run --pid ")
    gt = sc["ground_truth"]
    assert gt["samples"] == analysed(name).profile.stack_samples  # the same samples, counted independently
    assert abs(sum(v["samples"] for v in gt["categories"].values()) - gt["samples"]) == 0


@pytest.mark.parametrize("name", NAMES)
def test_top_findings_are_the_causes_the_ground_truth_shows(name: str) -> None:
    a, want = analysed(name), EXPECT[name]
    ids = {f.id for f in a.findings}
    top = top_level(a)
    if "top" in want:
        assert top[0] == want["top"], (name, top)
    if "top3" in want:
        assert set(top[:3]) == want["top3"], (name, top)
    assert want.get("present", set()) <= ids, (name, ids)
    assert not (want["absent"] & ids), (name, want["absent"] & ids)


def test_the_expected_causes_are_what_the_ground_truth_measures() -> None:
    """The expectations above, read off the sidecars rather than asserted blind."""
    gt = {n: sidecar(n)["ground_truth"] for n in NAMES}
    biggest = {n: max(g["categories"], key=lambda c: g["categories"][c]["samples"]) for n, g in gt.items()}
    assert biggest["pion-sfu"] == "syscall:send"  # send-bound fan-out, not receive
    assert share(gt["pion-sfu"], "syscall:recv") < 0.05
    assert inclusive(gt["pion-nack-storm"], "nack-resend") > 0.3
    assert share(gt["pion-p2p"], "crypto") < 0.10  # AES-GCM in Go's assembly is cheap
    for n in ("janus-videoroom", "janus-videoroom-dwarf", "janus-echotest"):
        assert biggest[n] == "crypto", n
    assert biggest["gst-webrtcbin-publisher"] == "codec-vp8"
    assert sidecar("udp-receiver-drops")["measured"]["processes"]  # /proc drops, see the drops test


@pytest.mark.parametrize("name", NAMES)
def test_every_claimed_share_is_within_sampling_noise_of_the_ground_truth(name: str) -> None:
    a, gt = analysed(name), sidecar(name)["ground_truth"]
    n = gt["samples"]
    checked = 0
    for f in a.findings:
        if f.id not in CLAIMS:
            continue
        key, truth = CLAIMS[f.id]
        claimed, g = f.values[key], truth(gt)
        # two standard errors of a binomial share of n samples, and half a point for rounding
        noise = 2 * math.sqrt(max(g * (1 - g), 1 / n) / n) + 0.005
        assert abs(claimed - g) <= noise, f"{name}: {f.id} claims {claimed:.4f}, ground truth {g:.4f} (±{noise:.4f})"
        checked += 1
    assert checked or name == "udp-receiver-drops"


def test_the_claimed_drops_are_the_measured_drops() -> None:
    a = analysed("udp-receiver-drops")
    f = next(f for f in a.findings if f.id == "udp-receive-drops")
    env = a.profile.capture.environment["network"]
    assert f.values["drops"] == pytest.approx(env["sockets"]["drops_per_s"])
    # lab_measure.py saw the same socket drop over (almost) the same window
    measured = next(iter(sidecar("udp-receiver-drops")["measured"]["processes"].values()))
    assert measured["socket_drops_per_s"] == pytest.approx(env["sockets"]["drops_per_s"], rel=0.25)


def test_drops_recorded_without_buffer_sizes_name_the_socket_and_do_not_guess_who_sized_it() -> None:
    """This fixture predates the buffer sizes: whether its program sets SO_RCVBUF is not guessed."""
    f = next(f for f in analysed("udp-receiver-drops").findings if f.id == "udp-receive-drops")
    row = analysed("udp-receiver-drops").profile.capture.environment["network"]["sockets"]["busiest"][0]
    assert f"udp {row['local']} (pid {row['pid']})" in f.summary["en"]
    assert "whether the program sets SO_RCVBUF is unknown" in f.summary["en"]
    assert f.values["knob"] is None


BUFFER_KNOBS = {"webrtc.receive-buffer", "sysctl.net.core.rmem_max", "sysctl.net.core.rmem_default"}


def test_a_reader_too_slow_all_along_is_told_to_keep_up_not_to_buffer_more() -> None:
    """The receiver took in under 5% of what arrived and lost 5 million datagrams (its per-datagram
    work, not a burst): a bigger buffer fills up too. The finding says so, puts the reader first and withholds the buffer knobs
    with the reason, and its floor on the dropped share agrees with lab_measure's own counters."""
    f = next(f for f in analysed("udp-receiver-drops").findings if f.id == "udp-receive-drops")
    assert f.recommendations[0]["id"] == "code.udp-reader-keep-up"
    assert not BUFFER_KNOBS & {r["id"] for r in f.recommendations}
    withheld = {w["id"]: w for w in f.withheld}
    assert BUFFER_KNOBS <= set(withheld)
    assert all("slower than the sender" in withheld[k]["why"] and "overload_share" in withheld[k]["why"]
               for k in BUFFER_KNOBS)
    assert "far slower than the sender, not just late for a burst" in f.summary["en"]
    assert "读者远比发送方慢" in f.summary["zh"]
    assert "raise" not in f.summary["en"].split("SO_RCVBUF is unknown")[1]  # no buffer advice in the words either
    measured = sidecar("udp-receiver-drops")["measured"]
    proc = next(iter(measured["processes"].values()))
    udp = next(iter(measured["udp_counters"].values()))["udp"]
    lab_floor = proc["socket_drops_per_s"] / (proc["socket_drops_per_s"] + udp["InDatagrams"]["per_s"])
    assert 0.5 <= f.values["dropped_min"] <= lab_floor + 0.02
    assert f.values["dropped_min"] == pytest.approx(lab_floor, abs=0.02)


def test_dwarf_stacks_see_the_hmac_and_the_per_packet_contexts_frame_pointers_cannot() -> None:
    dwarf = next(f for f in analysed("janus-videoroom-dwarf").findings if f.id == "srtp-crypto-hot")
    fp = next(f for f in analysed("janus-videoroom").findings if f.id == "srtp-crypto-hot")
    assert fp.values["sha1"] is None and "unknown" in fp.summary["en"]  # stripped NSS: not 0%, unknown
    # ... said as a value, not as an amount ("HMAC-SHA1 authentication takes unknown").
    assert "HMAC-SHA1 authentication: unknown" in fp.summary["en"] and "HMAC-SHA1 认证：未知" in fp.summary["zh"]
    # janus/perf_breakdown.py's inclusive probes of the same samples: everything under PK11_Digest*
    # (the finding counts the crypto-owned part of it, so a little less) and the context churn.
    probes = sidecar("janus-videoroom-dwarf")["highlights"]["inclusive"]
    n = analysed("janus-videoroom-dwarf").profile.stack_samples
    hmac = next(v for k, v in probes.items() if k.startswith("hmac"))
    churn = next(v for k, v in probes.items() if k.startswith("pk11 context churn"))
    assert 0.6 * hmac <= dwarf.values["sha1"] <= hmac + 2 * math.sqrt(hmac * (1 - hmac) / n)
    assert 0.5 * churn <= dwarf.values["contexts"] <= churn + 2 * math.sqrt(churn * (1 - churn) / n)


@pytest.mark.parametrize("name", NAMES)
def test_no_inapplicable_or_already_in_effect_advice(name: str) -> None:
    a = analysed(name)
    kb, platform = a.knowledge, a.evaluation.platform
    stacks = set(platform.stack_ids())
    offered = {r["id"] for f in a.findings for r in f.recommendations}
    for rid in offered:
        rec = kb.recommendations[rid]
        assert not rec.applies_to or not stacks or stacks & set(rec.applies_to), (name, rid)
        assert not any(platform.has(u) for u in rec.unless), (name, rid)
        assert not rec.requires or any(platform.has(r) for r in rec.requires), (name, rid)
    for stack, forbidden in FORBIDDEN.items():
        if platform.primary == stack:
            assert not (offered & forbidden), (name, offered & forbidden)
    if not platform.has("udp-drops"):
        assert not (offered & SOCKET_BUFFERS), (name, offered & SOCKET_BUFFERS)


def test_the_stack_is_recognised_and_advice_is_phrased_for_it() -> None:
    assert analysed("pion-sfu").evaluation.platform.primary == "pion"
    assert analysed("janus-videoroom").evaluation.platform.primary == "janus"
    assert analysed("gst-webrtcbin-publisher").evaluation.platform.primary == "gstreamer"
    send = next(f for f in analysed("pion-sfu").findings if f.id == "udp-send-heavy")
    batching = next(r for r in send.recommendations if r["id"] == "code.sendmmsg")
    assert batching["stack"] == "pion" and "BatchConn" in batching["where"] and "3.1.56" in batching["where"]
    srtp = next(f for f in analysed("janus-videoroom").findings if f.id == "srtp-crypto-hot")
    nss = next(r for r in srtp.recommendations if r["id"] == "system.libsrtp-openssl")
    assert nss["stack"] == "janus" and "NSS" in nss["where"]
    # GCM runs in Pion already: "negotiate GCM" is withheld, and says why
    storm = next(f for f in analysed("pion-nack-storm").findings if f.id == "srtp-crypto-hot")
    gcm = next(w for w in storm.withheld if w["id"] == "webrtc.srtp-gcm")
    assert gcm["status"] == "already-in-effect" and "AES-GCM" in gcm["why"]
    # ... in the reader's language: a Chinese report gives the reason in Chinese.
    zh = gcm["texts"]["zh"]
    assert "AES-GCM" in zh["why"] and "samples" not in zh["why"] and "采样" in zh["why"]
    other = next(w for f in analysed("pion-p2p").findings for w in f.withheld if w["status"] == "not-applicable")
    assert other["texts"]["zh"]["why"].startswith("适用于") and "this capture" not in other["texts"]["zh"]["why"]
    assert other["texts"]["zh"]["title"] != other["title"]


@pytest.mark.parametrize("name", NAMES)
def test_processes_are_named_by_their_program_and_threads_by_role(name: str) -> None:
    a = analysed(name)
    env = a.profile.capture.environment
    programs = {p["pid"]: p["comm"] for p in env["processes"]}
    for row in a.summary.processes:
        assert row.key["comm"] == programs[row.key["pid"]]
    if name.startswith("janus"):
        assert programs and all(c == "janus" for c in programs.values())
        assert a.knowledge.role_text(a.summary.threads[0].key["comm"], "en").startswith("Janus")


def test_the_verdict_names_where_the_cpu_goes_even_when_no_rule_covers_it() -> None:
    """The slow receiver spends 63% of its samples in zlib's crc32_z, which no rule is about: the
    verdict still names it (the hottest-functions table's first row) and the two largest
    components, with the tables' numbers, in every format."""
    from diagnose.report.markdown import render_markdown
    from diagnose.report.terminal import render_terminal
    from diagnose.report.verdict import verdict

    a = analysed("udp-receiver-drops")
    truth = sidecar("udp-receiver-drops")["ground_truth"]["categories"]["unrecognised_user"]["share"]
    cpu = verdict(a, "en").cpu
    top = a.summary.top_self(1)[0]
    assert top.name == "crc32_z" and abs(top.self.value - truth) < 0.02  # ground_truth.py: 63.2% unrecognised user code
    assert f"hottest function crc32_z (libz.so.1.2.13), {100 * top.self.value:.2f}% self" in cpu
    assert cpu.startswith("Application and other code ")
    assert f"**CPU:** {cpu}." in render_markdown(a).replace("\\_", "_")
    assert "crc32_z (libz.so.1.2.13)" in " ".join(render_terminal(a, width=100).split())


def test_spreading_the_fan_out_is_advised_only_when_a_thread_nears_a_core() -> None:
    """Janus at a tenth of a core (no thread near one) is not told to spread its sends over more
    processes and cores, and the finding says what evidence that advice waits for; iperf3's sending
    thread, at a full core, is."""
    for name in ("janus-echotest", "janus-videoroom"):
        a = analysed(name)
        assert max(t.cores for t in a.summary.threads) < 0.5  # the premise, from the samples
        f = next(f for f in a.findings if f.id == "udp-send-heavy")
        assert "webrtc.spread-fanout" not in {r["id"] for r in f.recommendations}
        withheld = next(w for w in f.withheld if w["id"] == "webrtc.spread-fanout")
        assert withheld["status"] == "needs-evidence" and "half of a CPU core" in withheld["why"]
    iperf = analyze(str(FIXTURES / "iperf3-udp-send.perf.txt.gz"))
    assert max(t.cores for t in iperf.summary.threads) >= 0.5
    f = next(f for f in iperf.findings if f.id == "udp-send-heavy")
    assert "webrtc.spread-fanout" in {r["id"] for r in f.recommendations}


def test_a_run_that_counted_the_drops_does_not_advise_checking_for_drops() -> None:
    """The run folders measured their sockets' drops (the sockets table): "check whether UDP
    packets are actually dropped" is what diagnose run did, so it is withheld as done, whether it
    found drops (the slow receiver) or none (Janus)."""
    for name, rule in (("udp-receiver-drops", "udp-receive-drops"), ("janus-videoroom", "udp-send-heavy")):
        a = analysed(name)
        assert a.profile.capture.environment["network"]["sockets"]["udp"] >= 1  # the premise: sockets were watched
        f = next(f for f in a.findings if f.id == rule)
        assert "investigate.udp-drops" not in {r["id"] for r in f.recommendations}
        assert next(w for w in f.withheld if w["id"] == "investigate.udp-drops")["status"] == "already-in-effect"
    # A bare perf capture counted nothing: there the check is still the advice.
    bare = next(f for f in analyze(str(FIXTURES / "iperf3-udp-send.perf.txt.gz")).findings if f.id == "udp-send-heavy")
    assert "investigate.udp-drops" in {r["id"] for r in bare.recommendations}
