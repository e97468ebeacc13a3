"""Socket counters of the recorded processes, read from /proc before and after a recording:
the UDP/TCP sockets each process holds (by the inodes of /proc/PID/fd), their queues and the
datagrams each UDP socket dropped, and the UDP counters of the processes' network namespaces
(/proc/PID/net/snmp: InDatagrams, RcvbufErrors, SndbufErrors, ...). Their difference over the
recording is what evidence-conditioned advice (socket buffers only on drops) reads.

Shape of environment["network"]:

    {"window_s": 15.0,
     "sockets": {"udp": 8, "tcp": 1, "drops": 1800, "drops_per_s": 120.0,
                 "busiest": [{"pid": 7, "proto": "udp", "local": "127.0.0.1:5004", "remote": "0.0.0.0:0",
                              "rx_queue": 0, "tx_queue": 0, "drops": 1800}]},
     "udp": {"in_datagrams": 90000, "in_datagrams_per_s": 6000.0, "rcvbuf_errors": 1800,
             "rcvbuf_errors_per_s": 120.0, ...}}
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

PROC = Path("/proc")
TABLES = ("udp", "udp6", "tcp", "tcp6")
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
    """"0100007F:13EC" -> "127.0.0.1:5100" (IPv4); IPv6 is shown as the kernel prints it."""
    host, _, port = hexaddr.partition(":")
    try:
        p = int(port, 16)
        if len(host) == 8:
            b = bytes.fromhex(host)[::-1]
            return f"{b[0]}.{b[1]}.{b[2]}.{b[3]}:{p}"
        return f"[{host}]:{p}"
    except ValueError:
        return hexaddr


def _sockets(pids: list[int]) -> list[dict[str, Any]]:
    """The UDP/TCP sockets the processes hold. The tables are per network namespace: read once
    per namespace, each row given to the process holding its inode."""
    owner = {inode: pid for pid in pids for inode in _socket_inodes(pid)}
    rows = []
    for pid in _one_per_namespace(pids).values():
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
    """The sockets and UDP counters of the processes now, and when they were read."""
    return {"time": time.monotonic(), "sockets": _sockets(pids),
            "udp": {ns: _udp_counters(pid) for ns, pid in _one_per_namespace(pids).items()}}


def difference(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What changed between two snapshots, as environment["network"]. A socket opened in
    between counts all its drops; rates are over the time between the two readings."""
    seconds = after["time"] - before["time"]
    old = {(r["pid"], r["inode"]): r for r in before.get("sockets", [])}
    rows = []
    drops = 0
    for r in after.get("sockets", []):
        row = {k: v for k, v in r.items() if k != "inode"}
        if "drops" in r:
            prev = old.get((r["pid"], r["inode"]), {})
            row["drops"] = max(r["drops"] - prev.get("drops", 0), 0)
            drops += row["drops"]
        rows.append(row)
    rows.sort(key=lambda r: (-r.get("drops", 0), -r["rx_queue"], r["local"]))
    per_s = (lambda v: round(v / seconds, 3)) if seconds > 0 else (lambda v: None)
    network: dict[str, Any] = {
        "window_s": round(seconds, 3),
        "sockets": {"udp": sum(r["proto"] == "udp" for r in rows), "tcp": sum(r["proto"] == "tcp" for r in rows),
                    "drops": drops, "drops_per_s": per_s(drops), "busiest": rows[:BUSIEST]},
    }
    udp: dict[str, Any] = {}
    for ns, counters in after.get("udp", {}).items():
        start = before.get("udp", {}).get(ns, {})
        for key, value in counters.items():
            if key in start:
                udp[key] = udp.get(key, 0) + max(value - start[key], 0)
    if udp:
        network["udp"] = {**udp, **{f"{k}_per_s": per_s(v) for k, v in udp.items()}}
    return network
