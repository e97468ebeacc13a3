"""A test workload: a UDP receiver or sender on 127.0.0.1 that counts what it did, so that a test
can check diagnose's socket counters against counts taken by the programs themselves.

    python udp_peer.py receive [--rcvbuf N] [--sleep-us N] [--name COMM] [--seconds N]
    python udp_peer.py send PORT --count N [--rate N] [--size N]

receive binds 127.0.0.1 on a free port, sets SO_RCVBUF to N bytes if --rcvbuf is given (else
the socket keeps net.core.rmem_default), prints "ready PORT", then reads one datagram per
recvfrom() and sleeps --sleep-us after each (a reader too slow for a fast sender). On SIGTERM it
prints "received N" and exits. send sends --count datagrams of --size bytes, --rate per second
(0: as fast as it can), and prints "sent N START END" (CLOCK_MONOTONIC seconds, as perf's time
stamps), N counting the sendto() calls that succeeded.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import socket
import sys
import time

PR_SET_NAME = 15


def receive(args: argparse.Namespace) -> None:
    ctypes.CDLL(None).prctl(PR_SET_NAME, args.name.encode()[:15], 0, 0, 0)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if args.rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)
    sock.bind(("127.0.0.1", 0))
    received = 0

    def report(signum: int, frame: object) -> None:
        print(f"received {received}", flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, report)
    print(f"ready {sock.getsockname()[1]}", flush=True)
    sock.settimeout(0.5)
    end = time.monotonic() + args.seconds  # nothing outlives a broken test run
    pause = args.sleep_us / 1e6
    while time.monotonic() < end:
        try:
            sock.recvfrom(65536)
        except socket.timeout:
            continue
        received += 1
        if pause:
            time.sleep(pause)


def send(args: argparse.Namespace) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload, addr = b"\x55" * args.size, ("127.0.0.1", args.port)
    sent = 0
    start = time.monotonic()
    for i in range(args.count):
        if args.rate:
            delay = start + i / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        try:
            sock.sendto(payload, addr)
            sent += 1
        except OSError:
            pass
    print(f"sent {sent} {start:.6f} {time.monotonic():.6f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("receive")
    r.add_argument("--rcvbuf", type=int)
    r.add_argument("--sleep-us", type=float, default=0.0)
    r.add_argument("--name", default="udp-recv")
    r.add_argument("--seconds", type=float, default=120.0)
    s = sub.add_parser("send")
    s.add_argument("port", type=int)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--rate", type=float, default=0.0)
    s.add_argument("--size", type=int, default=1200)
    args = ap.parse_args()
    (receive if args.mode == "receive" else send)(args)
    sys.exit(0)


if __name__ == "__main__":
    main()
