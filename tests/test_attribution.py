"""One attribution model: who owns each sample (diagnose.attribution), and every report stating
the same share for the same component: the findings, the component table (JSON, terminal,
Markdown) and the flame graph's legend and colours, on every fixture."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import pytest

from conftest import FIXTURES
from test_flamegraph import K, make_profile
from diagnose.attribution import attribution
from diagnose.components import component_breakdown
from diagnose.knowledge import builtin_knowledge
from diagnose.pipeline import analyze
from diagnose.profile import Profile
from diagnose.report.flamegraph import FlameOptions, render_profile
from diagnose.report.json_report import report_dict
from diagnose.report.markdown import render_markdown
from diagnose.report.terminal import render_terminal
from diagnose.texts import tr

GO = "/opt/sfu/bin/sfu"
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"


def profile_of(*stacks: tuple[list[tuple[str, str]], int]) -> Profile:
    """A profile of one thread from (frames root first as (name, module), samples) rows."""
    return make_profile([("t", path, n) for path, n in stacks])


def owners(profile: Profile) -> list[str | None]:
    att = attribution(profile, builtin_knowledge())
    return [o.category.id if o.category else o.component for o in att.owners]


# -- who owns a sample -------------------------------------------------------------------------

SEND = [("syscall.Syscall6", GO), ("entry_SYSCALL_64_after_hwframe", K), ("do_syscall_64", K),
        ("__x64_sys_sendto", K), ("__sys_sendto", K), ("udp_sendmsg", K)]
WRITE_RTP = [("runtime.goexit", GO), ("github.com/pion/srtp/v2.(*SessionSRTP).writeRTP", GO),
             ("internal/poll.(*FD).WriteTo", GO)]


def test_a_wrapper_does_not_own_the_send_it_calls() -> None:
    p = profile_of((WRITE_RTP + SEND + [("ip_make_skb", K)], 10),
                   (WRITE_RTP[:2] + [("github.com/pion/srtp/v2.(*srtpCipherAeadAesGcm).encryptRTP", GO),
                                     ("crypto/aes.gcmAesEnc", GO)], 3))
    assert owners(p) == ["udp-send", "srtp-dtls"]
    rows = {r.id: r.share.k for r in component_breakdown(p, builtin_knowledge())}
    assert rows == {"network-io": 10, "crypto": 3}


def test_loopback_delivery_inside_a_send_is_not_receive() -> None:
    rx = [("__local_bh_enable_ip", K), ("do_softirq", K), ("net_rx_action", K), ("__napi_poll", K),
          ("process_backlog", K), ("__netif_receive_skb_one_core", K), ("ip_rcv", K), ("__udp4_lib_rcv", K),
          ("udp_queue_rcv_one_skb", K), ("sock_def_readable", K), ("try_to_wake_up", K)]
    sending = WRITE_RTP + SEND + [("udp_send_skb", K), ("ip_finish_output2", K), ("__dev_queue_xmit", K)] + rx
    receiving = [("runtime.goexit", GO), ("syscall.Syscall6", GO), ("entry_SYSCALL_64_after_hwframe", K),
                 ("do_syscall_64", K), ("__x64_sys_recvfrom", K), ("__sys_recvfrom", K), ("udp_recvmsg", K),
                 ("skb_copy_datagram_iter", K), ("_copy_to_iter", K)]
    softirq = [("some_app_loop", GO), ("asm_common_interrupt", K), ("irq_exit_rcu", K), ("handle_softirqs", K)] + \
        rx[2:]
    p = profile_of((sending, 5), (receiving, 4), (softirq, 2))
    # the wakeup at the end of the delivery is the delivery's; the copy to user space is UDP receive
    assert owners(p) == ["loopback-delivery", "udp-receive", "rx-softirq"]


def test_a_file_read_owns_its_copies() -> None:
    read = [("main", "/opt/app"), ("read", LIBC), ("entry_SYSCALL_64_after_hwframe", K), ("do_syscall_64", K),
            ("ksys_read", K), ("vfs_read", K), ("filemap_read", K), ("copy_page_to_iter", K), ("_copy_to_iter", K)]
    copy = [("main", "/opt/app"), ("__memmove_avx_unaligned_erms", LIBC)]
    assert owners(profile_of((read, 7), (copy, 3))) == ["file-io", "memcpy"]


def test_a_user_space_claim_ends_at_the_kernel() -> None:
    # A futex taken inside an allocator-free lock: the user-space lock code claims only user space.
    lock = [("main", "/opt/app"), ("pthread_mutex_lock", LIBC), ("__lll_lock_wait", LIBC),
            ("entry_SYSCALL_64_after_hwframe", K), ("do_syscall_64", K), ("__x64_sys_futex", K), ("do_futex", K),
            ("futex_wait", K), ("schedule", K), ("finish_task_switch.isra.0", K)]
    exit_path = [("main", "/opt/app"), ("__lll_lock_wait", LIBC), ("entry_SYSCALL_64_after_hwframe", K),
                 ("syscall_exit_to_user_mode", K)]
    assert owners(profile_of((lock, 2), (exit_path, 1))) == ["futex-locks", "syscall-entry"]


def test_a_catch_all_counts_only_where_nothing_else_is_recognised() -> None:
    inside = [("runtime.goexit", GO), ("github.com/pion/srtp/v2.(*Context).decryptRTP", GO),
              ("runtime.mapaccess2_fast32", GO)]
    alone = [("runtime.goexit", GO), ("main.loop", GO), ("runtime.mapaccess2_fast32", GO)]
    assert owners(profile_of((inside, 1), (alone, 1))) == ["srtp-dtls", "go-runtime"]


def test_go_thread_parking_is_not_lock_contention() -> None:
    park = [("runtime.mstart", GO), ("runtime.schedule", GO), ("runtime.findRunnable", GO), ("runtime.stopm", GO),
            ("runtime.notesleep", GO), ("runtime.futexsleep", GO), ("runtime.futex.abi0", GO),
            ("entry_SYSCALL_64_after_hwframe", K), ("do_syscall_64", K), ("__x64_sys_futex", K), ("do_futex", K),
            ("futex_wait", K), ("schedule", K)]
    assert owners(profile_of((park, 1))) == ["go-thread-parking"]


# -- the same numbers everywhere -----------------------------------------------------------------

def _captures() -> list[Path]:
    found = sorted(FIXTURES.glob("*.perf.txt.gz")) + sorted(FIXTURES.glob("*.folded.gz")) + \
        sorted(FIXTURES.glob("*.pprof.pb.gz")) + \
        sorted(FIXTURES.glob("synthetic/*.perf.txt.gz")) + sorted(p.parent for p in FIXTURES.glob("lab/*/manifest.json"))
    return [p for p in found if p.name != "idle-sleep.perf.txt.gz"]


CAPTURES = _captures()


@lru_cache(maxsize=None)
def analysed(path: str):
    return analyze(path)


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


@pytest.mark.parametrize("path", CAPTURES, ids=[p.name for p in CAPTURES])
def test_every_report_states_the_same_component_shares(path: Path) -> None:
    a = analysed(str(path))
    kb = a.knowledge
    rows = component_breakdown(a.profile, kb)
    assert sum(r.share.k for r in rows) == a.profile.stack_samples  # each sample once
    report = report_dict(a)
    assert [(c["id"], c["samples"]) for c in report["profile"]["components"]] == [(r.id, r.share.k) for r in rows]
    md = render_markdown(a)
    table = md[md.index("## 4."):md.index("## 5.")]
    term = render_terminal(a, width=240)
    svg = render_profile(a.profile, FlameOptions(min_width=0), kb, a.findings)
    legend = re.findall(r'<g id="legend".*?</g>\n</g>', svg, re.S)[0]
    for r in rows:
        title = tr(r.title, "en")
        assert f"| {title} | {pct(r.share.value)} |" in table.replace("\\", ""), title
        assert re.search(re.escape(title[:30]) + r".*" + re.escape(pct(r.share.value)), term), title
        assert f"{title} — {pct(r.share.value)}".replace("&", "&amp;")[:40] in legend, title
    # The flame graph's colours: each box's own samples, summed by the component it is painted in.
    data = json.loads(re.search(r'<script type="application/json" id="fg-data">(.*?)</script>', svg, re.S).group(1))
    boxes = data["boxes"]
    own = [b[5] for b in boxes]
    for b in boxes:
        if b[6] >= 0:
            own[b[6]] -= b[5]
    painted: dict[str, int] = {}
    for b, k in zip(boxes, own):
        if b[7] >= 0 and k:
            comp = data["components"][b[7]]
            painted[comp] = painted.get(comp, 0) + k
    assert painted == {r.id: r.share.k for r in rows}


OWNED = re.compile(r"^owned_share\((component|category)=([a-z0-9|-]+)\)$")


@pytest.mark.parametrize("path", CAPTURES, ids=[p.name for p in CAPTURES])
def test_findings_claim_the_component_table_shares(path: Path) -> None:
    a = analysed(str(path))
    rows = component_breakdown(a.profile, a.knowledge)
    n = a.profile.stack_samples
    comp = {r.id: r.share.k for r in rows}
    cat: dict[str, int] = {}
    for r in rows:
        for c, sh in r.categories:
            cat[c] = sh.k
    checked = 0
    for t in a.evaluation.trace:
        for c in t.conditions:
            m = OWNED.match(c.measure)
            if m is None or c.value is None:
                continue
            table = comp if m.group(1) == "component" else cat
            expected = sum(table.get(x, 0) for x in m.group(2).split("|")) / n
            assert abs(c.value - expected) < 1e-6, (t.id, c.measure, c.value, expected)
            checked += 1
    assert checked  # every capture has rules that claim owned shares
