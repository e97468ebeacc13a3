"""Socket counters of the recorded processes, read from /proc before and after a recording:
the UDP/TCP sockets each process holds (by the inodes of /proc/PID/fd), their queues and the
datagrams each UDP socket dropped, and the UDP counters of the processes' network namespaces
(/proc/PID/net/snmp: InDatagrams, RcvbufErrors, SndbufErrors, ...; /proc/PID/net/snmp6 for
Udp6), and each socket's buffer sizes from sock_diag (diagnose.capture.sockdiag) with whether its program
set them (diagnose.expert.socket_buffers). Their difference over the recording is what
evidence-conditioned advice (socket buffers only on drops) reads.

Shape of environment["network"]:

    {"window_s": 15.0,
     "sockets": {"udp": 8, "tcp": 1, "drops": 1800, "drops_per_s": 120.0,
                 "busiest": [{"pid": 7, "proto": "udp", "local": "127.0.0.1:5004", "remote": "0.0.0.0:0",
                              "rx_queue": 0, "tx_queue": 0, "drops": 1800,
                              "inode": "12345", "drops_per_s": 120.0, "rcvbuf": 425984, "sndbuf": 212992,
                              "rcvbuf_set_by_program": true, "rcvbuf_basis": "capped",
                              "sndbuf_set_by_program": false, "sndbuf_basis": "default"}]},
     "udp": {"in_datagrams": 90000, "in_datagrams_per_s": 6000.0, "rcvbuf_errors": 1800,
             "rcvbuf_errors_per_s": 120.0, ...},
     "udp6": {... the same counters from /proc/PID/net/snmp6 (Udp6*)},
     "buffers": {"read": 9, "error": null,
                 "limits": {"net.core.rmem_default": 212992, "net.core.rmem_max": 212992, ...}}}

Rows are ordered by drops, then receive queue; "busiest" keeps the first BUSIEST. rcvbuf and
sndbuf are sk_rcvbuf and sk_sndbuf (what getsockopt(SO_RCVBUF/SO_SNDBUF) returns) after the
recording; "buffers.read" counts the sockets whose sizes were read, "buffers.error" says why none
could be (no sock_diag, another network namespace without root).
"""

from __future__ import annotations

import ipaddress
import os
import sys
import time
from pathlib import Path
from typing import Any

from diagnose.capture import sockdiag
from diagnose.expert import socket_buffers

PROC = Path("/proc")
TABLES = ("udp", "udp6", "tcp", "tcp6")
UDP6_PREFIX = "Udp6"
UDP_COUNTERS = {"InDatagrams": "in_datagrams", "OutDatagrams": "out_datagrams", "RcvbufErrors": "rcvbuf_errors",
                "SndbufErrors": "sndbuf_errors", "InErrors": "in_errors", "NoPorts": "no_ports",
                "MemErrors": "mem_errors"}
BUSIEST = 10


def _socket_inodes(pid: int) -> set[str]:
    out = set()
    try:
        for fd in (PROC / str(pid) / "fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                out.add(target[8:-1])
    except OSError:
        pass
    return out


def _address(hexaddr: str) -> str:
    """"0100007F:13EC" -> "127.0.0.1:5100"; IPv6 (four 32-bit words in host order, here
    little-endian) -> "[::1]:5100"."""
    host, _, port = hexaddr.partition(":")
    try:
        p = int(port, 16)
        if len(host) == 8:
            b = bytes.fromhex(host)[::-1]
            return f"{b[0]}.{b[1]}.{b[2]}.{b[3]}:{p}"
        if len(host) == 32 and sys.byteorder == "little":
            raw = bytes.fromhex(host)
            return f"[{ipaddress.IPv6Address(b''.join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))}]:{p}"
        return f"[{host}]:{p}"
    except ValueError:
        return hexaddr


def _sockets(pids: list[int], buffers: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The UDP/TCP sockets the processes hold. The tables are per network namespace: read once
    per namespace, each row given to the process holding its inode. With `buffers`, each row also
    gets its buffer sizes, and `buffers` what was read ("read", "error", "limits")."""
    owner = {inode: pid for pid in pids for inode in _socket_inodes(pid)}
    rows = []
    for pid in _one_per_namespace(pids).values():
        sizes: dict[str, dict[str, int]] = {}
        if buffers is not None:
            try:
                reading = sockdiag.read(pid)
            except (sockdiag.SockDiagError, OSError) as exc:
                buffers.setdefault("error", str(exc) if isinstance(exc, sockdiag.SockDiagError) else
                                   f"sock_diag: {exc.strerror or exc}")
            else:
                sizes = reading["sockets"]
                buffers.setdefault("limits", reading["limits"])
        for table in TABLES:
            try:
                lines = (PROC / str(pid) / "net" / table).read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                f = line.split()
                if len(f) < 10 or f[9] not in owner:
                    continue
                tx, _, rx = f[4].partition(":")
                row = {"pid": owner[f[9]], "proto": table.rstrip("6"), "inode": f[9], "local": _address(f[1]),
                       "remote": _address(f[2]), "tx_queue": int(tx, 16), "rx_queue": int(rx, 16)}
                if table.startswith("udp") and len(f) >= 13:
                    row["drops"] = int(f[12])  # TCP has no such column
                if f[9] in sizes:
                    row["rcvbuf"], row["sndbuf"] = sizes[f[9]]["rcvbuf"], sizes[f[9]]["sndbuf"]
                rows.append(row)
    return rows


def _udp_counters(pid: int) -> dict[str, int]:
    try:
        lines = (PROC / str(pid) / "net" / "snmp").read_text().splitlines()
    except OSError:
        return {}
    udp = [ln.split() for ln in lines if ln.startswith("Udp:")]
    if len(udp) < 2:
        return {}
    names, values = udp[0][1:], udp[1][1:]
    return {UDP_COUNTERS[n]: int(v) for n, v in zip(names, values) if n in UDP_COUNTERS and v.lstrip("-").isdigit()}


def _udp6_counters(pid: int) -> dict[str, int]:
    """The Udp6 lines of /proc/PID/net/snmp6 ("Udp6RcvbufErrors 12"), named as the UDP ones."""
    try:
        lines = (PROC / str(pid) / "net" / "snmp6").read_text().splitlines()
    except OSError:
        return {}
    out = {}
    for line in lines:
        f = line.split()
        if len(f) == 2 and f[0].startswith(UDP6_PREFIX) and f[0][len(UDP6_PREFIX):] in UDP_COUNTERS \
                and f[1].lstrip("-").isdigit():
            out[UDP_COUNTERS[f[0][len(UDP6_PREFIX):]]] = int(f[1])
    return out


def _namespace(pid: int) -> str | None:
    try:
        return os.readlink(PROC / str(pid) / "ns" / "net")
    except OSError:
        return None


def _one_per_namespace(pids: list[int]) -> dict[str, int]:
    """A process of each network namespace the processes are in."""
    out: dict[str, int] = {}
    for pid in pids:
        out.setdefault(_namespace(pid) or f"pid:{pid}", pid)
    return out


def snapshot(pids: list[int]) -> dict[str, Any]:
    """The sockets (with their buffer sizes) and UDP counters of the processes now, and when
    they were read."""
    buffers: dict[str, Any] = {}
    namespaces = _one_per_namespace(pids)
    return {"time": time.monotonic(), "sockets": _sockets(pids, buffers),
            "udp": {ns: _udp_counters(pid) for ns, pid in namespaces.items()},
            "udp6": {ns: _udp6_counters(pid) for ns, pid in namespaces.items()},
            "buffers": buffers}


def difference(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What changed between two snapshots, as environment["network"]. A socket opened in
    between counts all its drops; rates are over the time between the two readings."""
    seconds = after["time"] - before["time"]
    old = {(r["pid"], r["inode"]): r for r in before.get("sockets", [])}
    per_s = (lambda v: round(v / seconds, 3)) if seconds > 0 else (lambda v: None)
    limits = (after.get("buffers") or {}).get("limits") or (before.get("buffers") or {}).get("limits") or {}
    rows = []
    drops = 0
    for r in after.get("sockets", []):
        row = dict(r)
        prev = old.get((r["pid"], r["inode"]), {})
        if "drops" in r:
            row["drops"] = max(r["drops"] - prev.get("drops", 0), 0)
            row["drops_per_s"] = per_s(row["drops"])
            drops += row["drops"]
        for buf in ("rcvbuf", "sndbuf"):
            if buf not in row and buf in prev:
                row[buf] = prev[buf]
        row.update(socket_buffers.judged(row, limits))
        rows.append(row)
    rows.sort(key=lambda r: (-r.get("drops", 0), -r["rx_queue"], r["local"]))
    network: dict[str, Any] = {
        "window_s": round(seconds, 3),
        "sockets": {"udp": sum(r["proto"] == "udp" for r in rows), "tcp": sum(r["proto"] == "tcp" for r in rows),
                    "drops": drops, "drops_per_s": per_s(drops), "busiest": rows[:BUSIEST]},
    }
    for name in ("udp", "udp6"):
        counters = _delta(before.get(name, {}), after.get(name, {}))
        if counters:
            network[name] = {**counters, **{f"{k}_per_s": per_s(v) for k, v in counters.items()}}
    buffers = after.get("buffers") or before.get("buffers")
    if buffers is not None:
        network["buffers"] = {"read": sum("rcvbuf" in r for r in rows), "error": buffers.get("error"),
                              "limits": limits}
    return network


def not_collected(network: dict[str, Any]) -> list[str]:
    """One line per socket fact the recording could not collect, and why."""
    error = (network.get("buffers") or {}).get("error")
    if error:
        return [f"socket buffer sizes (SO_RCVBUF/SO_SNDBUF) not collected: {error}; so whether a program sets "
                f"SO_RCVBUF is not judged (drops and queues were read)"]
    return []


def _delta(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> dict[str, int]:
    """Counters per namespace, after minus before, summed over the namespaces."""
    out: dict[str, int] = {}
    for ns, counters in after.items():
        start = before.get(ns, {})
        for key, value in counters.items():
            if key in start:
                out[key] = out.get(key, 0) + max(value - start[key], 0)
    return out
