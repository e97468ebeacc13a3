"""A test workload: one end of a Unix stream socket pair, exchanging small messages with its peer
in a tight loop, as two processes of a media pipeline do over local IPC.

    python ipc_peer.py FD ping|pong [--name COMM] [--seconds N] [--thread NAME]

FD is the inherited socket. "ping" sends 1 KiB and waits for the echo; "pong" echoes. The
process renames itself (COMM) and may start a named, idle thread so that thread names can be
checked. It exits after N seconds (default 120, so that nothing outlives a broken test run) or
when its peer goes away.
"""

from __future__ import annotations

import argparse
import ctypes
import socket
import threading
import time

PR_SET_NAME = 15


def set_comm(name: str) -> None:
    ctypes.CDLL(None).prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("fd", type=int)
    ap.add_argument("role", choices=("ping", "pong"))
    ap.add_argument("--name")
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--thread")
    args = ap.parse_args()
    if args.name:
        set_comm(args.name)
    if args.thread:
        stop = threading.Event()

        def idle() -> None:
            set_comm(args.thread)
            stop.wait()

        threading.Thread(target=idle, daemon=True).start()
    sock = socket.socket(fileno=args.fd)
    message = b"x" * 1024
    end = time.monotonic() + args.seconds
    try:
        while time.monotonic() < end:
            if args.role == "ping":
                sock.sendall(message)
            data = sock.recv(len(message))
            if not data:
                return
            if args.role == "pong":
                sock.sendall(data)
    except OSError:
        return  # the peer was killed: the test is over


if __name__ == "__main__":
    main()
