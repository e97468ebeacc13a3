"""The targets' sockets over a `diagnose run` recording (environment["network"], diagnose.capture.netstat)
as every report shows them: the JSON report's measurements.sockets, and the rows of the compact
sockets table of the terminal and Markdown reports (socket, queues, drops/s, buffers, whether the
program set its receive buffer)."""

from __future__ import annotations

from typing import Any

from diagnose.expert.analysis import Analysis
from diagnose.report.labels import label
from diagnose.expert.socket_buffers import drops_per_s, number, receive_buffer, socket_name
from diagnose.core.texts import tr

# What a capture without socket measurements lacks, and how to get them.
NOT_MEASURED = ("not measured: this capture is not a `diagnose run` folder (or one from before socket counters); "
                "`diagnose run --pid PID` measures the targets' sockets, drops and buffers over the recording")
TABLE_ROWS = 10


def network(analysis: Analysis) -> dict[str, Any] | None:
    env = analysis.profile.capture.environment or {}
    net = env.get("network")
    sockets = net.get("sockets") if isinstance(net, dict) else None
    return net if isinstance(sockets, dict) and isinstance(sockets.get("busiest"), list) else None


def _sysctl(analysis: Analysis) -> dict[str, Any]:
    s = (analysis.profile.capture.environment or {}).get("sysctl")
    return s if isinstance(s, dict) else {}


def _rows(net: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in net["sockets"]["busiest"] if isinstance(r, dict)]




def sockets_dict(analysis: Analysis) -> dict[str, Any]:
    """measurements.sockets of the JSON report."""
    net = network(analysis)
    if net is None:
        return {"measured": False, "why": NOT_MEASURED}
    s = net["sockets"]
    verdict = receive_buffer(net, _sysctl(analysis))
    if verdict is not None:
        verdict = {**verdict, "origin": tr(verdict["origin"], analysis.lang)}
    buffers = net.get("buffers") if isinstance(net.get("buffers"), dict) else None
    return {
        "measured": True,
        "window_s": net.get("window_s"),
        "udp_sockets": s.get("udp"), "tcp_sockets": s.get("tcp"),
        "drops": s.get("drops"), "drops_per_s": s.get("drops_per_s"),
        "sockets": [{"socket": socket_name(r), **r} for r in _rows(net)],
        "udp": net.get("udp"), "udp6": net.get("udp6"),
        "buffers": {"read": buffers.get("read"), "error": buffers.get("error")} if buffers else None,
        # The socket that dropped the most and the sysctl that sizes its buffer; null without drops.
        "receive_buffer": verdict,
    }


def _size(v: Any) -> str:
    n = number(v)
    return "–" if n is None else f"{n:,.0f}"


def _rate(v: Any) -> str:
    n = number(v)
    return "–" if n is None else f"{n:,.1f}"


BASES = ("default", "capped", "set", "ambiguous", "unknown")


def _set_by(row: dict[str, Any], lang: str) -> str:
    if row.get("proto") == "tcp":
        return label("sk_tcp_autotuned", lang)
    basis = row.get("rcvbuf_basis")
    return label(f"sk_set_{basis if basis in BASES else 'unknown'}", lang)


def table(analysis: Analysis) -> tuple[str, list[str], list[list[str]], list[str]] | None:
    """(title, header, rows, notes) of the sockets table in the report's language; None when
    the capture measured no sockets. Cells are plain text: each renderer escapes them."""
    net = network(analysis)
    if net is None:
        return None
    lang = analysis.lang
    L = lambda k: label(k, lang)  # noqa: E731
    s = net["sockets"]
    rows = []
    for r in _rows(net)[:TABLE_ROWS]:
        rows.append([socket_name(r), _size(r.get("rx_queue")), _size(r.get("tx_queue")),
                     _rate(drops_per_s(r, s)), _size(r.get("rcvbuf")), _set_by(r, lang), _size(r.get("sndbuf"))])
    window = number(net.get("window_s"))
    title = L("sk_title").format(s="?" if window is None else f"{window:.1f}", udp=_size(s.get("udp")),
                                 tcp=_size(s.get("tcp")), drops=_size(s.get("drops")), rate=_rate(s.get("drops_per_s")))
    header = [L("sk_socket"), L("sk_rx_queue"), L("sk_tx_queue"), L("sk_drops_per_s"), L("sk_rcvbuf"), L("sk_set_by"),
              L("sk_sndbuf")]
    notes = []
    total = (number(s.get("udp")) or 0) + (number(s.get("tcp")) or 0)
    if total > len(rows):
        notes.append(L("sk_shown").format(n=len(rows), total=f"{total:.0f}"))
    for name in ("udp", "udp6"):
        c = net.get(name)
        if isinstance(c, dict) and c:
            notes.append(L("sk_counters").format(
                proto="UDP" if name == "udp" else "UDP6", rcv=_rate(c.get("rcvbuf_errors_per_s")),
                snd=_rate(c.get("sndbuf_errors_per_s")), inerr=_rate(c.get("in_errors_per_s"))))
    buffers = net.get("buffers")
    if isinstance(buffers, dict) and buffers.get("error"):
        notes.append(L("sk_buffers_unread").format(why=buffers["error"]))
    verdict = receive_buffer(net, _sysctl(analysis))
    if verdict is not None:
        # What sized its buffer, then whether any buffer would have been enough (socket_buffers.OVERLOADED).
        end = "。" if lang == "zh" else ". "
        notes.append(f"{verdict['socket']}: {tr(verdict['origin'], lang)}{end}{tr(verdict['pace'], lang)}")
    return title, header, rows, notes
