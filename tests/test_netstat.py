"""Socket counters read from /proc around a recording (diagnose/netstat.py), on real sockets of
this test process."""

from __future__ import annotations

import os
import socket
import time

from diagnose import netstat


def _flood(receiver: socket.socket, count: int = 400) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for _ in range(count):
            sender.sendto(b"x" * 1200, receiver.getsockname())


def test_a_socket_opened_during_the_window_counts_all_its_drops() -> None:
    before = netstat.snapshot([os.getpid()])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a few datagrams, then drops
        rx.bind(("127.0.0.1", 0))
        _flood(rx)
        time.sleep(0.05)
        after = netstat.snapshot([os.getpid()])
        port = rx.getsockname()[1]
    network = netstat.difference(before, after)
    mine = [r for r in network["sockets"]["busiest"] if r["local"] == f"127.0.0.1:{port}"]
    assert mine and mine[0]["drops"] > 300, network
    assert network["sockets"]["drops"] >= mine[0]["drops"]
    assert network["udp"]["rcvbuf_errors"] >= mine[0]["drops"]  # the namespace's counter agrees
    # The rate is over the time between the two readings, not a recording's duration.
    assert network["window_s"] == round(after["time"] - before["time"], 3) > 0
    assert network["sockets"]["drops_per_s"] == round(network["sockets"]["drops"] / (after["time"] - before["time"]), 3)


def test_drops_before_the_window_are_not_counted_and_tcp_rows_have_none() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        rx.bind(("127.0.0.1", 0))
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        _flood(rx)
        before = netstat.snapshot([os.getpid()])
        after = netstat.snapshot([os.getpid()])
        port, tcp_port = rx.getsockname()[1], listener.getsockname()[1]
    rows = {(r["proto"], r["local"]): r for r in netstat.difference(before, after)["sockets"]["busiest"]}
    assert rows[("udp", f"127.0.0.1:{port}")]["drops"] == 0
    assert "drops" not in rows[("tcp", f"127.0.0.1:{tcp_port}")]
