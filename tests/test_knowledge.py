"""The knowledge base (knowledge/*.yaml): it loads, every text a user reads exists in English and
Chinese, every claim's source exists, the advice the rule packs rely on is there, real frames from
the fixtures land in the category an expert would choose, and a broken knowledge file is reported
with its file and line."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from conftest import FIXTURES, ROOT
from diagnose.errors import DiagnoseError
from diagnose.knowledge import FILES, SYSCTL_MODES, Knowledge, builtin_knowledge, parse_knowledge
from diagnose.pipeline import load_profile
from diagnose.profile import Frame, Profile

KNOWLEDGE = ROOT / "knowledge"
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def kb() -> Knowledge:
    return builtin_knowledge()


_profiles: dict[str, Profile] = {}


def profile(name: str) -> Profile:
    path = FIXTURES / f"{name}.perf.txt.gz"
    if not path.exists():
        pytest.skip(f"fixture {path.name} is not in this checkout")
    if name not in _profiles:
        _profiles[name] = load_profile(str(path), jobs=1)
    return _profiles[name]


# -- it loads, and every user-visible text is bilingual ---------------------------------------

def test_the_installed_knowledge_base_loads(kb: Knowledge) -> None:
    assert len(kb.categories) >= 30
    assert len(kb.recommendations) >= 50
    assert len(kb.threads) >= 20
    assert len(kb.sources) >= 40
    assert set(kb.components) >= {"webrtc-core", "codecs", "media-processing", "crypto", "network-io", "ipc",
                                  "syscalls", "scheduling", "memory", "runtime", "kernel", "application"}


def _localized(node: Any, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every mapping in a YAML tree that carries an English text, with its path."""
    found = []
    if isinstance(node, dict):
        if "en" in node:
            found.append((where, node))
        for k, v in node.items():
            found += _localized(v, f"{where}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _localized(v, f"{where}[{i}]")
    return found


@pytest.mark.parametrize("name", FILES)
def test_every_text_in_the_yaml_has_english_and_chinese(name: str) -> None:
    # Read the files directly, so a text the loader would not look at is checked too.
    data = yaml.safe_load((KNOWLEDGE / name).read_text(encoding="utf-8"))
    for where, text in _localized(data, name):
        assert isinstance(text.get("en"), str) and text["en"].strip(), f"{where}: empty English text"
        assert isinstance(text.get("zh"), str) and text["zh"].strip(), f"{where}: missing Chinese text"


def _texts(kb: Knowledge) -> list[tuple[str, dict[str, str]]]:
    out: list[tuple[str, dict[str, str]]] = []
    for cid, comp in kb.components.items():
        out.append((f"component {cid} title", comp.title))
    for c in kb.categories:
        out += [(f"category {c.id} title", c.title), (f"category {c.id} description", c.description)]
    for t in kb.threads:
        out.append((f"thread {t.pattern} role", t.role))
    for r in kb.recommendations.values():
        out += [(f"{r.id} title", r.title), (f"{r.id} why", r.why)]
        out += [(f"{r.id} {k}", v) for k, v in (("caveats", r.caveats), ("where", r.where)) if v is not None]
    return out


def test_every_loaded_object_has_both_languages(kb: Knowledge) -> None:
    texts = _texts(kb)
    assert len(texts) > 300
    for where, text in texts:
        assert text.get("en", "").strip(), f"{where}: no English"
        assert text.get("zh", "").strip(), f"{where}: no Chinese"


def test_chinese_texts_are_chinese_and_not_copied_english(kb: Knowledge) -> None:
    for where, text in _texts(kb):
        assert CJK.search(text["zh"]), f"{where}: the Chinese text has no Chinese characters: {text['zh']!r}"
        assert text["zh"] != text["en"], f"{where}: the Chinese text is the English one"


def test_every_category_explains_itself(kb: Knowledge) -> None:
    for c in kb.categories:
        assert c.description, f"{c.id} has no description"
        assert c.symbols or c.modules, f"{c.id} recognises nothing"


# -- sources ----------------------------------------------------------------------------------

def test_every_cited_source_exists_and_every_source_is_cited(kb: Knowledge) -> None:
    cited: set[str] = set()
    for c in kb.categories:
        cited |= set(c.sources)
    for t in kb.threads:
        cited |= set(t.sources)
    for r in kb.recommendations.values():
        cited |= set(r.sources)
    assert cited <= set(kb.sources), f"cited but not defined: {sorted(cited - set(kb.sources))}"
    assert set(kb.sources) <= cited, f"defined but never cited: {sorted(set(kb.sources) - cited)}"
    for sid, src in kb.sources.items():
        assert src.get("title", "").strip(), f"source {sid} has no title"
        assert src.get("url") or src.get("note"), f"source {sid} says neither where it is nor why not"
        if src.get("url"):
            assert src["url"].startswith("https://"), f"source {sid}: {src['url']}"


# -- the categories and advice the rule packs rely on ----------------------------------------

REQUIRED_CATEGORIES = {
    "syscall-entry": "syscalls", "mitigation": "syscalls", "udp-receive": "network-io", "udp-send": "network-io",
    "tcp": "network-io", "net-stack": "network-io", "softirq": "kernel", "unix-socket-ipc": "ipc",
    "pipe-ipc": "ipc", "epoll-poll": "scheduling", "futex-locks": "scheduling", "scheduler": "scheduling",
    "allocator": "memory", "memcpy": "memory", "page-faults": "memory", "vp8": "codecs", "vp9": "codecs",
    "vpx-common": "codecs", "av1": "codecs", "h264": "codecs", "opus": "codecs",
    "audio-processing": "media-processing", "video-scaling": "media-processing", "srtp-dtls": "crypto",
    "pacing-congestion": "webrtc-core", "rtp-rtcp": "webrtc-core", "ice-network": "webrtc-core",
    "jitter-buffer": "webrtc-core", "webrtc-other": "webrtc-core", "data-channel": "webrtc-core",
    "python-runtime": "runtime", "go-runtime": "runtime", "jvm-runtime": "runtime",
}
SUBJECTS = {"vp8": "vp8", "vp9": "vp9", "vpx-common": "vp8/vp9", "av1": "av1", "h264": "h264", "opus": "opus"}


def test_required_categories_exist_in_the_right_component(kb: Knowledge) -> None:
    for cid, comp in REQUIRED_CATEGORIES.items():
        assert cid in kb.category_by_id, f"missing category {cid}"
        assert kb.category_by_id[cid].component == comp, cid
    for cid, subject in SUBJECTS.items():
        assert kb.category_by_id[cid].subject == subject, cid


def test_specific_categories_come_before_the_catch_alls(kb: Knowledge) -> None:
    order = [c.id for c in kb.categories]
    before = [("mitigation", "syscall-entry"), ("udp-receive", "net-stack"), ("udp-send", "net-stack"),
              ("tcp", "net-stack"), ("unix-socket-ipc", "socket-layer"), ("vp8", "vpx-common"),
              ("vp9", "vpx-common"), ("pacing-congestion", "webrtc-other"), ("rtp-rtcp", "webrtc-other"),
              ("ice-network", "webrtc-other"), ("jitter-buffer", "webrtc-other"), ("allocator", "python-runtime"),
              ("go-gc", "go-runtime"), ("aes-software", "srtp-dtls"), ("audio-processing", "webrtc-other")]
    for a, b in before:
        assert order.index(a) < order.index(b), f"{a} must come before {b}"


REQUIRED_RECOMMENDATIONS = {
    "sysctl": ["net.core.rmem_max", "net.core.rmem_default", "net.core.wmem_max", "net.core.wmem_default",
               "net.core.netdev_max_backlog", "net.core.netdev_budget", "net.core.busy_read", "net.core.busy_poll",
               "net.ipv4.udp_mem", "net.ipv4.udp_rmem_min", "net.core.rps_sock_flow_entries"],
    "code": ["recvmmsg", "sendmmsg", "udp-gro", "udp-gso", "io-uring", "fewer-wakeups", "fewer-larger-messages",
             "shared-memory-ipc", "in-process-channel", "buffer-pools", "avoid-copies", "reduce-lock-contention",
             "fewer-threads", "preallocate-memory", "go-gc-tuning", "reduce-stats-polling"],
    "system": ["alt-allocator", "malloc-arenas", "irq-affinity", "rps-rfs", "cpu-affinity", "aes-ni",
               "cpu-mitigations", "transparent-hugepages", "libsrtp-openssl", "debug-symbols"],
    "webrtc": ["hardware-encoder", "libvpx-cpu-used", "resolution-framerate", "scalability-mode",
               "fewer-simulcast-layers", "degradation-preference", "codec-choice", "srtp-gcm", "opus-complexity",
               "audio-processing", "twcc-feedback-interval", "receive-fewer-streams", "hardware-decoder"],
    "investigate": ["off-cpu", "syscall-counts", "udp-drops", "softnet-stat", "lock-holders", "more-samples",
                    "page-faults", "codec-stats"],
}


def test_every_recommendation_the_rules_use_exists_with_its_kind(kb: Knowledge) -> None:
    for kind, names in REQUIRED_RECOMMENDATIONS.items():
        for name in names:
            rid = f"{kind}.{name}"
            assert rid in kb.recommendations, f"missing recommendation {rid}"
            assert kb.recommendations[rid].kind == kind, rid
    for rid, rec in kb.recommendations.items():
        assert rid.startswith(rec.kind + "."), f"{rid}: the id does not start with its kind {rec.kind}"


# Sysctls that are checks, not settings: there is no single value to suggest for every host.
CHECK_ONLY = {"sysctl.net.ipv4.udp_mem"}


def test_every_sysctl_says_what_to_set_and_what_the_kernel_default_is(kb: Knowledge) -> None:
    sysctls = [r for r in kb.recommendations.values() if r.kind == "sysctl"]
    assert len(sysctls) >= 11
    for r in sysctls:
        assert r.key and r.id == f"sysctl.{r.key}", r.id
        assert r.default, f"{r.id}: no kernel default"
        assert r.mode in SYSCTL_MODES, r.id
        if r.id in CHECK_ONLY:
            assert r.value is None and r.caveats, f"{r.id}: a check-only sysctl must say why it has no value"
        else:
            assert r.value is not None and re.fullmatch(r"[0-9]+( [0-9]+)*", r.value), f"{r.id}: value {r.value!r}"
        assert r.ranges and r.ranges.get("client") and r.ranges.get("sfu"), f"{r.id}: needs client and sfu ranges"
        assert r.sources, f"{r.id}: a sysctl claim needs a source"


def test_sysctl_advice_never_tells_users_to_turn_on_busy_polling_or_shrink_buffers(kb: Knowledge) -> None:
    recs = kb.recommendations
    for key in ("net.core.busy_read", "net.core.busy_poll"):
        r = recs[f"sysctl.{key}"]
        assert (r.mode, r.value) == ("lower-only", "0"), key
    for key in ("net.core.rmem_max", "net.core.rmem_default", "net.core.wmem_max", "net.core.wmem_default",
                "net.core.netdev_max_backlog", "net.core.netdev_budget"):
        r = recs[f"sysctl.{key}"]
        assert r.mode == "raise-only", key
        assert int(r.value) >= int(r.default), f"{key}: suggests {r.value}, below the kernel default {r.default}"


def test_the_common_wrong_advice_is_called_out(kb: Knowledge) -> None:
    recs = kb.recommendations
    # netdev_max_backlog is the per-CPU RPS/netif_rx backlog, not a UDP buffer.
    assert "not a UDP socket buffer" in recs["sysctl.net.core.netdev_max_backlog"].caveats["en"]
    # rmem_max only caps requests; it neither reduces CPU nor helps Unix-socket IPC.
    rmem = recs["sysctl.net.core.rmem_max"].caveats["en"]
    assert "Unix-socket IPC" in rmem and "CPU per packet" in rmem
    # For AF_UNIX only the sender's buffer matters.
    assert "Unix stream sockets" in recs["sysctl.net.core.wmem_default"].why["en"]
    assert "no effect" in recs["sysctl.net.ipv4.udp_rmem_min"].caveats["en"]


def test_advice_says_where_or_how(kb: Knowledge) -> None:
    for r in kb.recommendations.values():
        if r.kind in ("code", "webrtc"):
            assert r.where, f"{r.id}: code and WebRTC advice must say where the change goes"
        if r.kind == "investigate":
            assert r.commands, f"{r.id}: an investigation must give the commands to run"
        if r.kind == "system":
            assert r.commands or r.where, f"{r.id}: system advice needs commands or a place"


# -- what real frames are ---------------------------------------------------------------------

def frames_named(p: Profile, name: str) -> list[int]:
    ids = [i for i, f in enumerate(p.frames) if f.name == name or f.name.startswith(name + "@")]
    assert ids, f"no frame named {name} in {p.capture.source}"
    return ids


CASES = [
    # iperf3 receiving UDP: the receive path, the select() before every read, the syscall layers
    ("iperf3-udp-recv", "udp_recvmsg", "udp-receive"),
    ("iperf3-udp-recv", "__skb_recv_udp", "udp-receive"),
    ("iperf3-udp-recv", "do_select", "epoll-poll"),
    ("iperf3-udp-recv", "udp_poll", "epoll-poll"),
    ("iperf3-udp-recv", "__x64_sys_pselect6", "syscall-entry"),
    ("iperf3-udp-recv", "sock_recvmsg", "socket-layer"),
    ("iperf3-udp-recv", "_copy_to_iter", "memcpy"),
    ("iperf3-udp-recv", "_raw_spin_unlock_irqrestore", "irq-restore"),
    ("iperf3-udp-recv", "__vdso_clock_gettime", "timekeeping"),
    # socat over a Unix socket: local IPC, not network
    ("socat-unix-ipc", "unix_stream_recvmsg", "unix-socket-ipc"),
    ("socat-unix-ipc", "unix_stream_sendmsg", "unix-socket-ipc"),
    ("socat-unix-ipc", "__unix_dgram_recvmsg", "unix-socket-ipc"),
    ("socat-unix-ipc", "sock_alloc_send_pskb", "skb-alloc"),
    ("socat-unix-ipc", "entry_SYSCALL_64_after_hwframe", "syscall-entry"),
    ("socat-unix-ipc", "srso_return_thunk", "mitigation"),
    ("socat-unix-ipc", "__libc_recv", "syscall-wrappers"),
    # libvpx, stripped: only the library is known
    ("ffmpeg-libvpx-vp8", "[libvpx.so.7.1.0]", "vpx-common"),
    ("ffmpeg-libvpx-vp8-cpu0", "[libvpx.so.7.1.0]", "vpx-common"),
    ("ffmpeg-libvpx-vp8-cpu8", "[libvpx.so.7.1.0]", "vpx-common"),
    # the aiortc call: PyAV's bundled libvpx and libopus, CPython, pylibsrtp, UDP send
    ("aiortc-call", "[libvpx-edb6de90.so.12.0.0]", "vpx-common"),
    ("aiortc-call", "[libopus-114e2b1a.so.0.11.1]", "opus"),
    ("aiortc-call", "opus_multistream_encode", "opus"),
    ("aiortc-call", "_PyEval_EvalFrameDefault", "python-runtime"),
    ("aiortc-call", "_PyObject_Malloc", "python-runtime"),
    ("aiortc-call", "srtp_protect", "srtp-dtls"),
    ("aiortc-call", "udp_sendmsg", "udp-send"),
    ("aiortc-call", "cfree", "allocator"),
    ("aiortc-call", "take_gil", "futex-locks"),
    # micro-benchmarks
    ("stress-ng-memcpy", "__memmove_avx512_unaligned_erms", "memcpy"),
    ("stress-ng-malloc", "cfree", "allocator"),
    ("stress-ng-malloc", "_int_free", "allocator"),
    ("stress-ng-malloc", "malloc_consolidate", "allocator"),
    ("stress-ng-malloc", "unmap_page_range", "page-faults"),
    ("stress-ng-malloc", "__madvise", "syscall-wrappers"),
    ("stress-ng-futex", "futex_wait", "futex-locks"),
    ("stress-ng-futex", "futex_wake", "futex-locks"),
    ("stress-ng-futex", "finish_task_switch.isra.0", "scheduler"),
    ("stress-ng-futex", "try_to_wake_up", "scheduler"),
    # the capture shaped like the original report
    ("original-report-shape", "clear_bhb_loop", "mitigation"),
    ("original-report-shape", "entry_SYSCALL_64_after_hwframe", "syscall-entry"),
    ("original-report-shape", "syscall_return_via_sysret", "syscall-entry"),
    ("original-report-shape", "do_syscall_64", "syscall-entry"),
    ("original-report-shape", "__x64_sys_recvmsg", "syscall-entry"),
    ("original-report-shape", "___sys_recvmsg", "socket-layer"),
    ("original-report-shape", "__libc_recvmsg", "syscall-wrappers"),
    ("original-report-shape", "unix_stream_recvmsg", "unix-socket-ipc"),
    ("original-report-shape", "webrtc::PacingController::ProcessPackets", "pacing-congestion"),
    ("original-report-shape", "webrtc::GoogCcNetworkController::OnTransportPacketsFeedback", "pacing-congestion"),
    ("original-report-shape", "webrtc::RtpVideoStreamReceiver2::ReceivePacket", "rtp-rtcp"),
    ("original-report-shape", "webrtc::RTCStatsReport::ToJson", "stats-collection"),
    ("original-report-shape", "webrtc::LibvpxVp8Decoder::Decode", "vp8"),
    ("original-report-shape", "silk_NSQ_del_dec_c", "opus"),
    ("original-report-shape", "aesni_gcm_decrypt", "srtp-dtls"),
    ("original-report-shape", "operator new", "allocator"),
    ("original-report-shape", "rtc::Thread::ProcessMessages", "task-queue"),
    # more recordings
    ("iperf3-udp-send", "udp_sendmsg", "udp-send"),
    ("iperf3-udp-send", "ip_make_skb", "udp-send"),
    ("iperf3-udp-send", "loopback_xmit", "net-stack"),
    ("iperf3-udp-send", "net_rx_action", "net-stack"),
    ("gst-webrtcdsp", "WebRtcNs_AnalyzeCore", "audio-processing"),
    ("gst-webrtcdsp", "webrtc::ThreeBandFilterBank::DownModulate", "audio-processing"),
    ("gst-webrtcdsp", "WebRtcIsac_PitchAnalysis", "audio-processing"),
    ("ffmpeg-swscale", "[libswscale.so.6.7.100]", "video-scaling"),
    ("srtp-protect", "sha1_block_data_order_shaext", "srtp-dtls"),
    ("srtp-protect", "aesni_ctr32_encrypt_blocks", "srtp-dtls"),
    ("stress-ng-fault", "clear_page_erms", "page-faults"),
    ("stress-ng-fault", "asm_exc_page_fault", "page-faults"),
]


@pytest.mark.parametrize(("fixture", "frame", "category"), CASES,
                         ids=[f"{f}:{n}" for f, n, _ in CASES])
def test_real_frames_land_where_an_expert_puts_them(kb: Knowledge, fixture: str, frame: str, category: str) -> None:
    p = profile(fixture)
    cats = kb.classify(p)
    for i in frames_named(p, frame):
        got = cats[i].id if cats[i] else None
        assert got == category, f"{fixture}: {frame} ({p.frames[i].module}) is {got}, expected {category}"


def test_stripped_libvpx_names_vp8_or_vp9_as_the_subject(kb: Knowledge) -> None:
    for fixture, name in (("ffmpeg-libvpx-vp8", "[libvpx.so.7.1.0]"), ("aiortc-call", "[libvpx-edb6de90.so.12.0.0]")):
        p = profile(fixture)
        cats = kb.classify(p)
        for i in frames_named(p, name):
            assert cats[i] is not None and cats[i].subject == "vp8/vp9"


def share(kb: Knowledge, p: Profile, *, category: str | None = None, component: str | None = None) -> float:
    """Share of samples whose stack holds a frame of the category (or component)."""
    cats = kb.classify(p)
    ids = [i for i, (f, c) in enumerate(zip(p.frames, cats))
           if (category and c is not None and c.id == category)
           or (component and kb.component_of(f, c) == component)]
    return p.samples_where(ids) / p.stack_samples


def self_share(kb: Knowledge, p: Profile, component: str) -> float:
    cats = kb.classify(p)
    ids = [i for i, (f, c) in enumerate(zip(p.frames, cats)) if kb.component_of(f, c) == component]
    return p.samples_self_in(ids) / p.stack_samples


def test_unix_socket_ipc_is_never_counted_as_network(kb: Knowledge) -> None:
    # The original hand-written report took Unix-socket IPC for network receive and advised rmem_max.
    for fixture in ("socat-unix-ipc", "original-report-shape"):
        p = profile(fixture)
        assert share(kb, p, category="unix-socket-ipc") >= 0.05, fixture
        assert share(kb, p, component="network-io") == 0.0, f"{fixture}: a frame was taken for network I/O"
        assert share(kb, p, category="udp-receive") == 0.0, fixture
    assert share(kb, profile("socat-unix-ipc"), category="unix-socket-ipc") >= 0.30


def test_shares_of_the_real_captures_match_what_they_are(kb: Knowledge) -> None:
    malloc = profile("stress-ng-malloc")
    assert share(kb, malloc, category="allocator") >= 0.20
    assert share(kb, malloc, category="page-faults") >= 0.35
    assert share(kb, profile("stress-ng-memcpy"), category="memcpy") >= 0.95
    assert share(kb, profile("stress-ng-futex"), category="futex-locks") >= 0.60
    udp = profile("iperf3-udp-recv")
    assert share(kb, udp, category="udp-receive") >= 0.10
    assert share(kb, udp, category="epoll-poll") >= 0.50
    assert self_share(kb, profile("ffmpeg-libvpx-vp8"), "codecs") >= 0.80
    aiortc = profile("aiortc-call")
    assert self_share(kb, aiortc, "codecs") >= 0.40
    assert self_share(kb, aiortc, "runtime") >= 0.20
    assert self_share(kb, aiortc, "crypto") < 0.05
    assert self_share(kb, profile("original-report-shape"), "syscalls") >= 0.20


def test_the_idle_capture_classifies_to_nothing(kb: Knowledge) -> None:
    assert kb.classify(profile("idle-sleep")) == []


# -- frames built by hand: ordering and kind -------------------------------------------------

K, U = "kernel", "user"
HAND = [
    (Frame("sock_recvmsg", "[kernel.kallsyms]", K), "socket-layer"),
    (Frame("tcp_poll", "[kernel.kallsyms]", K), "epoll-poll"),
    (Frame("ip_make_skb", "[kernel.kallsyms]", K), "udp-send"),
    (Frame("napi_busy_loop", "[kernel.kallsyms]", K), "busy-poll"),
    (Frame("nf_hook_slow", "[kernel.kallsyms]", K), "netfilter"),
    (Frame("pipe_read", "[kernel.kallsyms]", K), "pipe-ipc"),
    (Frame("native_queued_spin_lock_slowpath", "[kernel.kallsyms]", K), "kernel-locks"),
    (Frame("vp8_encode_frame", "/usr/lib/x86_64-linux-gnu/libvpx.so.9", U), "vp8"),
    (Frame("vp9_encode_frame", "/usr/lib/x86_64-linux-gnu/libvpx.so.9", U), "vp9"),
    (Frame("[libvpx.so.9]", "/usr/lib/x86_64-linux-gnu/libvpx.so.9", U), "vpx-common"),
    (Frame("vpx_sad16x16_avx2", "/usr/lib/x86_64-linux-gnu/libvpx.so.9", U), "vpx-common"),
    (Frame("[libopenh264.so.7]", "/usr/lib/x86_64-linux-gnu/libopenh264.so.7", U), "h264"),
    (Frame("dav1d_submit_frame", "/usr/lib/x86_64-linux-gnu/libdav1d.so.7", U), "av1"),
    (Frame("vpaes_encrypt", "/usr/lib/x86_64-linux-gnu/libcrypto.so.3", U), "aes-software"),
    (Frame("[libcrypto.so.3]", "/usr/lib/x86_64-linux-gnu/libcrypto.so.3", U), "srtp-dtls"),
    (Frame("webrtc::EchoCanceller3::ProcessCapture", "/opt/app/peer", U), "audio-processing"),
    (Frame("webrtc::NetEqImpl::GetAudio", "/opt/app/peer", U), "jitter-buffer"),
    (Frame("cricket::P2PTransportChannel::OnReadPacket", "/opt/app/peer", U), "ice-network"),
    (Frame("webrtc::SdpOfferAnswerHandler::ApplyLocalDescription", "/opt/app/peer", U), "webrtc-other"),
    (Frame("I420Scale", "/opt/app/peer", U), "video-scaling"),
    (Frame("ScaleRowDown2Box_AVX2", "/opt/app/peer", U), "video-scaling"),
    (Frame("runtime.mallocgc", "/opt/sfu", U), "go-gc"),
    (Frame("runtime.mapaccess2", "/opt/sfu", U), "go-runtime"),
    (Frame("github.com/pion/ice/v4.(*Agent).handleInbound", "/opt/sfu", U), "ice-network"),
    # Session plumbing wraps the send path; only the ciphers are crypto.
    (Frame("github.com/pion/srtp/v3.(*SessionSRTP).writeRTP", "/opt/sfu", U), "srtp-session"),
    (Frame("github.com/pion/srtp/v2.(*srtpCipherAeadAesGcm).encryptRTP", "/opt/sfu", U), "srtp-dtls"),
    (Frame("github.com/pion/srtp/v2.(*Context).decryptRTP", "/opt/sfu", U), "srtp-dtls"),
    (Frame("crypto/aes.gcmAesEnc", "/opt/sfu", U), "srtp-dtls"),
    (Frame("PK11_CreateContextBySymKey", "/usr/lib/x86_64-linux-gnu/libnss3.so", U), "srtp-dtls"),
    (Frame("[unknown]", "/usr/lib/x86_64-linux-gnu/libfreeblpriv3.so", U), "srtp-dtls"),
    (Frame("github.com/pion/interceptor/pkg/nack.(*ResponderInterceptor).resendPackets", "/opt/sfu", U), "nack-rtx"),
    (Frame("github.com/pion/interceptor/pkg/twcc.(*SenderInterceptor).BindLocalStream.func1", "/opt/sfu", U),
     "pacing-congestion"),
    (Frame("runtime.findRunnable", "/opt/sfu", U), "go-scheduler"),
    (Frame("runtime.selectgo", "/opt/sfu", U), "go-scheduler"),
    (Frame("rtc_ipc::Json::ParseValue", "/opt/peer", U), "serialization"),
    (Frame("json_dumps", "/usr/lib/x86_64-linux-gnu/libjansson.so.4", U), "serialization"),
    (Frame("webrtc::RTCStatsReport::ToJson", "/opt/peer", U), "stats-collection"),
    (Frame("[unknown]", "/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstvideotestsrc.so", U), "test-source"),
    (Frame("[unknown]", "/usr/bin/janus", U), "webrtc-other"),
    (Frame("filemap_read", "[kernel.kallsyms]", K), "file-io"),
    (Frame("janus_ice_cb_nice_recv", "/usr/bin/janus", U), "ice-network"),
    (Frame("RTC::SimulcastConsumer::SendRtpPacket", "/opt/mediasoup-worker", U), "webrtc-other"),
    (Frame("gst_rtp_jitter_buffer_chain", "/usr/lib/libgstrtpmanager.so", U), "jitter-buffer"),
    (Frame("usrsctp_sendv", "/opt/app/peer", U), "data-channel"),
]


@pytest.mark.parametrize(("frame", "category"), HAND, ids=[f.name for f, _ in HAND])
def test_hand_made_frames(kb: Knowledge, frame: Frame, category: str) -> None:
    got = kb.category_of(frame)
    assert got is not None and got.id == category, f"{frame.name}: {got.id if got else None}, expected {category}"


def test_kernel_categories_do_not_claim_user_frames(kb: Knowledge) -> None:
    assert kb.category_of(Frame("udp_recvmsg", "/opt/app/peer", U)) is None
    assert kb.category_of(Frame("[unknown]", "", U)) is None


# -- threads ----------------------------------------------------------------------------------

THREADS = [
    ("worker_thread", "libwebrtc"), ("network_thread", "libwebrtc"), ("signaling_thread", "libwebrtc"),
    ("EncoderQueue", "libwebrtc"), ("DecodingQueue", "libwebrtc"), ("AudioDeviceBufferTimer", "libwebrtc"),
    ("IncomingVideoStream", "libwebrtc"), ("TaskQueuePacedSender", "libwebrtc"),
    ("rtp_send_controller", "libwebrtc"), ("WebRTC_Signaling", "chromium"), ("WebRTC_W_and_N", "chromium"),
    ("Chrome_ChildIOThread", "chromium"), ("hloop 4711230981", "janus"), ("videoroom handler", "janus"),
    ("mediasoup-worker", "mediasoup"), ("gst-nice-ops", "gstreamer"), ("rtpsession-rtcp-thread", "gstreamer"),
    ("audiotestsrc0:src", "gstreamer"), ("queue3:src", "gstreamer"), ("C2 CompilerThread0", "jvb"),
    ("GC Thread#3", "jvb"), ("ksoftirqd/3", "kernel"),
]


@pytest.mark.parametrize(("name", "stack"), THREADS, ids=[n for n, _ in THREADS])
def test_thread_names_as_linux_records_them(kb: Knowledge, name: str, stack: str) -> None:
    comm = name[:15]  # the kernel keeps 15 characters
    role = kb.thread_role(comm)
    assert role is not None and role.stack == stack, f"{comm!r}: {role.stack if role else None}"


def test_the_named_threads_of_a_real_capture(kb: Knowledge) -> None:
    p = profile("python-threads")
    comms = {t.comm for t in p.threads}
    assert {"worker_thread", "network_thread", "signaling_threa"} <= comms
    for comm in comms:
        role = kb.thread_role(comm)
        assert role is not None and role.stack == "libwebrtc", comm
    assert kb.thread_role("iperf3") is None


# -- a broken knowledge file says what and where -----------------------------------------------

SOURCES = "schema: diagnose.knowledge/v1\nsources:\n  S1: {title: a source}\n"
COMPONENTS = ("schema: diagnose.knowledge/v1\ncomponents:\n"
              "  - {id: network-io, title: {en: Network, zh: 网络}, color: '#000000'}\n")
CATEGORY = """schema: diagnose.knowledge/v1
categories:
  - id: udp-receive
    component: network-io
    title: {en: UDP receive, zh: UDP 接收}
    description: {en: the receive path, zh: 接收路径}
    kind: kernel
    symbols: ['udp_recvmsg']
    sources: [S1]
"""


def parse(taxonomy: str | None = None, recommendations: str | None = None) -> Knowledge:
    texts = {"sources.yaml": ("knowledge/sources.yaml", SOURCES),
             "components.yaml": ("knowledge/components.yaml", COMPONENTS)}
    if taxonomy is not None:
        texts["taxonomy.yaml"] = ("knowledge/taxonomy.yaml", taxonomy)
    if recommendations is not None:
        texts["recommendations.yaml"] = ("knowledge/recommendations.yaml", recommendations)
    return parse_knowledge(texts)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_valid_small_knowledge_base_parses() -> None:
    kb = parse(CATEGORY)
    assert kb.category_of(Frame("udp_recvmsg", "[kernel.kallsyms]", "kernel")).id == "udp-receive"


BROKEN = {
    "unknown-field": (CATEGORY.replace("symbols:", "symbol:"), "symbol:", "unknown field"),
    "missing-chinese": (CATEGORY.replace("{en: UDP receive, zh: UDP 接收}", "{en: UDP receive}"),
                        "title:", "missing the Chinese text"),
    "look-around": (CATEGORY.replace("'udp_recvmsg'", "'udp_(?!sendmsg).*'"), "symbols:", "look-around"),
    "unknown-source": (CATEGORY.replace("[S1]", "[S99]"), "sources:", "unknown source 'S99'"),
    "unknown-component": (CATEGORY.replace("component: network-io", "component: netwrok-io"), "component:",
                          "unknown component 'netwrok-io'"),
    "bad-kind": (CATEGORY.replace("kind: kernel", "kind: kernal"), "kind:", "must be kernel, user or any"),
    "duplicate-id": (CATEGORY + CATEGORY.split("categories:\n", 1)[1], "- id: udp-receive", "duplicate category id"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_taxonomy_is_reported_with_file_and_line(case: str) -> None:
    text, at, what = BROKEN[case]
    with pytest.raises(DiagnoseError) as err:
        parse(text)
    message = str(err.value)
    assert what in message, message
    expected_line = line_of(text, at) if case != "duplicate-id" else len(CATEGORY.splitlines()) + 1
    assert message.startswith(f"knowledge/taxonomy.yaml:{expected_line}:"), message


RECS = """schema: diagnose.knowledge/v1
recommendations:
  - id: sysctl.net.core.rmem_max
    kind: sysctl
    key: net.core.rmem_max
    default: 212992
    value: 16777216
    mode: raise-only
    title: {en: Allow larger receive buffers, zh: 允许更大的接收缓冲区}
    why: {en: caps SO_RCVBUF, zh: 限制 SO_RCVBUF}
    sources: [S1]
"""


def test_a_broken_recommendation_is_reported_with_file_and_line() -> None:
    assert parse(recommendations=RECS).recommendations["sysctl.net.core.rmem_max"].value == "16777216"
    cases = [
        (RECS.replace("    value: 16777216\n", ""), "- id:", "needs 'value'"),
        (RECS.replace("mode: raise-only", "mode: raise"), "mode:", "unknown mode 'raise'"),
        (RECS.replace("kind: sysctl", "kind: sysctls"), "kind:", "unknown kind 'sysctls'"),
        (RECS.replace("why: {en: caps SO_RCVBUF, zh: 限制 SO_RCVBUF}", "why: {en: caps SO_RCVBUF, zh: ''}"), "why:",
         "missing the Chinese text"),
    ]
    for text, at, what in cases:
        with pytest.raises(DiagnoseError) as err:
            parse(recommendations=text)
        message = str(err.value)
        assert what in message and message.startswith(f"knowledge/recommendations.yaml:{line_of(text, at)}:"), message

