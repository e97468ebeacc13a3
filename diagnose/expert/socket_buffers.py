"""Who sized a socket's buffer, and which sysctl matters for the socket that dropped.

The kernel does not say whether a program called setsockopt(SO_RCVBUF), so it is judged from the
size (sk_rcvbuf, `ss -m` rb, read by diagnose.capture.sockdiag) against the sysctls in effect:

- a UDP socket starts with sk_rcvbuf = net.core.rmem_default; a socket still at exactly that size
  was not sized by its program ("default"), and raising rmem_default is what enlarges it;
- setsockopt(SO_RCVBUF, n) stores 2 × min(n, net.core.rmem_max) (the kernel doubles the request
  for its bookkeeping): a socket at exactly 2 × rmem_max asked for at least rmem_max and was cut
  down to it ("capped"), and raising rmem_max is what lets it grow;
- any other size was set by the program ("set"): its own request is what to raise, up to rmem_max.

Limits, said wherever the verdict is shown: a program that asks for exactly half of rmem_default
looks like one that never asks; a socket created before rmem_default was changed, or sized with
SO_RCVBUFFORCE (which ignores rmem_max), looks like one that asked; a size equal to both
rmem_default and 2 × rmem_max cannot be told apart ("ambiguous"). TCP buffers grow by autotuning
(tcp_rmem, tcp_wmem), so no verdict is given for them. SO_SNDBUF is judged the same way against
wmem_default and wmem_max.
"""

from __future__ import annotations

import math
from typing import Any

from diagnose.expert.facts import as_number
from diagnose.core.texts import LANGS

# The sysctls the verdict compares with (environment["sysctl"] holds them too).
RMEM_DEFAULT, RMEM_MAX = "net.core.rmem_default", "net.core.rmem_max"
WMEM_DEFAULT, WMEM_MAX = "net.core.wmem_default", "net.core.wmem_max"
LIMITS = (RMEM_DEFAULT, RMEM_MAX, WMEM_DEFAULT, WMEM_MAX)


def number(x: Any) -> float | None:
    """A finite number from a recorded value (a run folder's values are not trusted), else None."""
    n = None if isinstance(x, bool) else as_number(x)
    return n if n is not None and math.isfinite(n) else None


def origin(size: Any, default: Any, maximum: Any) -> tuple[bool | None, str]:
    """(set by the program?, basis) for a UDP socket's buffer of `size` bytes; basis is one of
    default, capped, set, ambiguous, unknown (see the module's docstring)."""
    b, d, m = number(size), number(default), number(maximum)
    if b is None or d is None or m is None:
        return None, "unknown"
    at_default, at_cap = b == d, b == 2 * m
    if at_default and at_cap:
        return None, "ambiguous"
    if at_default:
        return False, "default"
    if at_cap:
        return True, "capped"
    return True, "set"


def judged(row: dict[str, Any], limits: dict[str, Any]) -> dict[str, Any]:
    """The verdict fields of a socket row (environment["network"]["sockets"]["busiest"][i]):
    rcvbuf_set_by_program, rcvbuf_basis, sndbuf_set_by_program, sndbuf_basis (UDP only)."""
    if row.get("proto") != "udp":
        return {}
    out: dict[str, Any] = {}
    for buf, default, maximum in (("rcvbuf", RMEM_DEFAULT, RMEM_MAX), ("sndbuf", WMEM_DEFAULT, WMEM_MAX)):
        if row.get(buf) is not None:
            out[f"{buf}_set_by_program"], out[f"{buf}_basis"] = origin(row[buf], limits.get(default),
                                                                       limits.get(maximum))
    return out


def socket_name(row: dict[str, Any]) -> str:
    """"udp 127.0.0.1:5004 (inode 12345, pid 7)"."""
    what = [f"inode {row['inode']}" if row.get("inode") else None, f"pid {row['pid']}" if row.get("pid") else None]
    extra = ", ".join(x for x in what if x)
    return f"{row.get('proto', '?')} {row.get('local', '?')}" + (f" ({extra})" if extra else "")


# The verdict in words, per basis and language: what the size says, then the advice it leads to
# (left out when no buffer would have held the loss, see OVERLOADED);
# {rb}, {default}, {max} are byte counts, {asked} half of rb (what the program asked for, before
# the kernel doubled it).
ORIGIN_TEXT = {
    "default": {
        "en": ("its receive buffer is rb {rb} bytes = net.core.rmem_default ({default}): the program does not set "
               "SO_RCVBUF, so rmem_default sizes it",
               "; raise rmem_default, or set SO_RCVBUF in the program (capped by net.core.rmem_max, now {max})"),
        "zh": ("它的接收缓冲区为 rb {rb} 字节 = net.core.rmem_default（{default}）：程序没有设置 SO_RCVBUF，所以大小由 "
               "rmem_default 决定",
               "；调大 rmem_default，或在程序中设置 SO_RCVBUF（受 net.core.rmem_max 限制，当前为 {max}）"),
    },
    "capped": {
        "en": ("its receive buffer is rb {rb} bytes = 2 × {max}, the cap net.core.rmem_max: the program sets SO_RCVBUF "
               "itself and the kernel cut the request down to the cap, so rmem_max limits it",
               "; raise rmem_max and the program's own request"),
        "zh": ("它的接收缓冲区为 rb {rb} 字节 = 2 × {max}，即上限 net.core.rmem_max：程序自己设置了 SO_RCVBUF，但申请被内核截断到上限，"
               "所以限制它的是 rmem_max",
               "；调大 rmem_max 以及程序自己的申请值"),
    },
    "set": {
        "en": ("its receive buffer is rb {rb} bytes, not net.core.rmem_default ({default}): the program sets SO_RCVBUF "
               "itself (it asked for about {asked}; the kernel doubles a request), capped by net.core.rmem_max (now "
               "{max})",
               "; raise the program's request, and rmem_max where the request must exceed it"),
        "zh": ("它的接收缓冲区为 rb {rb} 字节，不等于 net.core.rmem_default（{default}）：程序自己设置了 SO_RCVBUF（申请了约 "
               "{asked}；内核会把申请值翻倍），受 net.core.rmem_max（当前为 {max}）限制",
               "；调大程序的申请值，申请值需超过 rmem_max 时再调大 rmem_max"),
    },
    "ambiguous": {
        "en": ("its receive buffer is rb {rb} bytes, equal to both net.core.rmem_default and 2 × net.core.rmem_max: "
               "whether the program sets SO_RCVBUF cannot be told",
               ", so both sysctls are given"),
        "zh": ("它的接收缓冲区为 rb {rb} 字节，同时等于 net.core.rmem_default 和 2 × net.core.rmem_max：无法判断程序是否设置了 "
               "SO_RCVBUF",
               "，因此两个 sysctl 都给出"),
    },
    "unknown": {
        "en": ("its receive buffer size was not recorded, so whether the program sets SO_RCVBUF is unknown",
               ": both net.core.rmem_max (caps SO_RCVBUF requests) and net.core.rmem_default (used when none is made) "
               "are given"),
        "zh": ("没有记录它的接收缓冲区大小，因此不知道程序是否设置了 SO_RCVBUF",
               "：同时给出 net.core.rmem_max（限制 SO_RCVBUF 申请）和 net.core.rmem_default（未申请时使用）"),
    },
}
KNOB = {"default": RMEM_DEFAULT, "capped": RMEM_MAX, "set": RMEM_MAX}

# Whether any buffer would have held what was lost. Two measured facts must both say no:
# - The kernel counts, per network namespace, the datagrams its sockets' readers took (Udp and
#   Udp6 InDatagrams, counted as recvmsg returns one) and, per socket, those it dropped; a
#   socket's dropped share of what arrived for it is at least drops / (drops + the namespace's
#   reads), whatever else the namespace receives (up to the few datagrams still queued at the
#   end). At OVERLOADED or more, the reader took in no more than it lost over the recording.
# - The loss is more datagrams than the largest buffer advised here could hold at any size: a
#   request of 16 MiB (recommendations.yaml, sysctl.net.core.rmem_max), doubled by the kernel,
#   holds at most that many bytes of queued datagrams, each charged its data plus the sk_buff and
#   skb_shared_info it travels in (SKB_TRUESIZE, 576 bytes on x86-64 before any data).
# Then the reader is far slower than the sender and a bigger receive queue fills up too. Less
# than that cannot be told apart from a burst a buffer absorbs (a 20,000-datagram burst at a
# reader of 1,000/s loses 90% in a 3 s recording, yet 46 MB of buffer would have held it).
OVERLOADED = 0.5
LARGEST_ADVISED_BUFFER = 2 * 16 * 1024 * 1024
MIN_TRUESIZE = 576
BUFFER_HOLDS_AT_MOST = LARGEST_ADVISED_BUFFER // MIN_TRUESIZE  # datagrams
PACE_TEXT = {
    "overloaded": {
        "en": "At least {share} of the datagrams that arrived for it were dropped (the readers of all the network namespace's "
              "sockets took {delivered}/s), {lost} over the recording: more than even a 32 MiB receive buffer "
              "holds. The reader is far slower than the sender, not just late for a burst, so a bigger receive "
              "buffer would fill up too; the reader must keep up.",
        "zh": "到达它的数据报中至少 {share} 被丢弃（整个网络命名空间所有套接字的读者每秒只取走了 {delivered} 个），录制期间共 {lost} 个："
              "即使 32 MiB 的接收缓冲区也装不下。读者远比发送方慢，而不只是在突发时迟到，所以更大的接收缓冲区同样会被填满；必须让读者跟上。",
    },
    "late": {
        "en": "Its reader fell behind the arrivals for longer than its receive queue lasts.",
        "zh": "它的读者落后于到达速度的时间超过了接收队列能支撑的时间。",
    },
}


def _int(x: Any) -> str:
    n = number(x)
    return "?" if n is None else f"{int(n)}"


def receive_buffer(network: dict[str, Any], sysctl: dict[str, Any]) -> dict[str, Any] | None:
    """The UDP socket of the targets that dropped the most datagrams over the recording, what
    sized its receive buffer and the sysctl that matters (None when no target socket dropped):

        {"socket": "udp 127.0.0.1:5004 (inode 12345, pid 7)", "proto", "local", "inode", "pid",
         "drops", "drops_per_s", "rcvbuf", "set_by_program": true|false|null,
         "basis": "default|capped|set|ambiguous|unknown", "knob": "net.core.rmem_max"|null,
         "rmem_default", "rmem_max", "origin": {"en": ..., "zh": ...},
         "dropped_share_min": 0.95 | null, "overload_share": 0.95 | null, "pace": {"en": ..., "zh": ...}}

    dropped_share_min is the floor on the socket's dropped share of its arrivals (null without the
    namespace's UDP counters); overload_share is that floor when no buffer would have held the loss
    (see OVERLOADED), else null; pace says in words which of the two it is. When no buffer would
    have held it, origin says what sized the buffer without advising to raise it.

    The sysctls are those read when the socket was (network.buffers.limits), else the recorded
    environment's."""
    sockets = network.get("sockets") if isinstance(network, dict) else None
    rows = sockets.get("busiest") if isinstance(sockets, dict) else None
    if not isinstance(rows, list):
        return None
    dropping = [r for r in rows if isinstance(r, dict) and r.get("proto") == "udp" and (number(r.get("drops")) or 0) > 0]
    if not dropping:
        return None
    row = max(dropping, key=lambda r: number(r.get("drops")) or 0)
    buffers = network.get("buffers")
    limits = buffers.get("limits") if isinstance(buffers, dict) and isinstance(buffers.get("limits"), dict) else {}
    limits = {k: limits.get(k, (sysctl or {}).get(k)) for k in LIMITS}
    set_by, basis = origin(row.get("rcvbuf"), limits[RMEM_DEFAULT], limits[RMEM_MAX])
    rb = number(row.get("rcvbuf"))
    values = {"rb": _int(rb), "default": _int(limits[RMEM_DEFAULT]), "max": _int(limits[RMEM_MAX]),
              "asked": _int(rb / 2) if rb is not None else "?"}
    dropped = drops_per_s(row, sockets)
    delivered = _datagrams_read(network)
    share = dropped_share_floor(dropped, delivered)
    lost = number(row.get("drops"))
    overloaded = share is not None and share >= OVERLOADED and lost is not None and lost > BUFFER_HOLDS_AT_MOST
    if overloaded:
        pace = {lang: PACE_TEXT["overloaded"][lang].format(share=f"{math.floor(100 * share)}%",
                                                           delivered=f"{delivered:,.0f}", lost=f"{lost:,.0f}")
                for lang in LANGS}
    else:
        pace = dict(PACE_TEXT["late"])
    return {"socket": socket_name(row), "proto": "udp", "local": row.get("local"), "inode": row.get("inode"),
            "pid": row.get("pid"), "drops": number(row.get("drops")), "drops_per_s": dropped,
            "rcvbuf": rb, "set_by_program": set_by, "basis": basis, "knob": KNOB.get(basis),
            "rmem_default": number(limits[RMEM_DEFAULT]), "rmem_max": number(limits[RMEM_MAX]),
            "origin": {lang: "".join(ORIGIN_TEXT[basis][lang][:1 if overloaded else 2]).format(**values)
                       for lang in LANGS},
            "dropped_share_min": share, "overload_share": share if overloaded else None, "pace": pace}


def _datagrams_read(network: dict[str, Any]) -> float | None:
    """Datagrams per second the namespace's UDP sockets read (InDatagrams: IPv4 in Udp, IPv6 in
    Udp6; a udp6 socket's rows say proto udp), None without the IPv4 counters."""
    total = None
    for name in ("udp", "udp6"):
        counters = network.get(name)
        n = number(counters.get("in_datagrams_per_s")) if isinstance(counters, dict) else None
        if n is None and name == "udp":
            return None
        total = (total or 0.0) + (n or 0.0)
    return total


def dropped_share_floor(dropped_per_s: float | None, delivered_per_s: float | None) -> float | None:
    """The least share of a socket's arrivals that it dropped: its drops over its drops plus every
    datagram its network namespace's readers took (its own reader's are among them). Rounded down
    to 3 decimals, so that a floor is never shown above the truth; None when either is unknown."""
    if dropped_per_s is None or delivered_per_s is None or dropped_per_s < 0 or delivered_per_s < 0:
        return None
    arrived = dropped_per_s + delivered_per_s
    if not arrived:
        return None
    return math.floor(1000 * dropped_per_s / arrived) / 1000


def drops_per_s(row: dict[str, Any], sockets: dict[str, Any]) -> float | None:
    """A socket's drops per second over the recording: its own rate, or (a capture from before
    rows had one) the sockets' rate in proportion to its drops; None when not known."""
    own = number(row.get("drops_per_s"))
    if own is not None or "drops_per_s" in row:
        return own
    drops, total, rate = number(row.get("drops")), number(sockets.get("drops")), number(sockets.get("drops_per_s"))
    if drops is None or total is None or rate is None:
        return None
    per_s = round(drops * rate / total, 3) if total else 0.0
    return per_s if math.isfinite(per_s) else None


def with_receive_buffer(env: dict[str, Any]) -> dict[str, Any]:
    """The environment as rules read it: network.receive_buffer added when a target's socket
    dropped (the stored environment.json is not changed)."""
    network = env.get("network")
    if not isinstance(network, dict):
        return env
    verdict = receive_buffer(network, env.get("sysctl") if isinstance(env.get("sysctl"), dict) else {})
    if verdict is None:
        return env
    return {**env, "network": {**network, "receive_buffer": verdict}}
