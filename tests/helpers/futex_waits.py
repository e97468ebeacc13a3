"""A test workload: one thread blocked on a lock (a futex) that another thread holds for known
periods, timing every wait itself.

    python futex_waits.py [--hold S] [--gap S] [--seconds N]

Thread "lock-holder" takes a threading.Lock, keeps it for --hold seconds (sleeping), lets it go
for --gap seconds. Thread "lock-waiter" takes it as soon as it can, lets it go, sleeps 2 ms, and
notes the CLOCK_MONOTONIC moments (time.monotonic) around each acquire. The main thread waits
for a line on standard input (or --seconds), then prints one JSON line: the waiter's and the
holder's thread ids and every wait [start, end] of the waiter, and exits.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import sys
import threading
import time

PR_SET_NAME = 15


def set_comm(name: str) -> None:
    ctypes.CDLL(None).prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hold", type=float, default=0.05)
    ap.add_argument("--gap", type=float, default=0.005)
    ap.add_argument("--seconds", type=float, default=120.0)
    args = ap.parse_args()
    lock = threading.Lock()
    stop = threading.Event()
    waits: list[tuple[float, float]] = []
    tids: dict[str, int] = {}
    ready = threading.Barrier(3)

    def holder() -> None:
        set_comm("lock-holder")
        tids["holder"] = threading.get_native_id()
        ready.wait()
        while not stop.is_set():
            with lock:
                time.sleep(args.hold)
            time.sleep(args.gap)

    def waiter() -> None:
        set_comm("lock-waiter")
        tids["waiter"] = threading.get_native_id()
        ready.wait()
        time.sleep(args.gap)  # the holder goes first
        while not stop.is_set():
            t0 = time.monotonic()
            lock.acquire()
            t1 = time.monotonic()
            lock.release()
            waits.append((t0, t1))
            time.sleep(0.002)

    threads = [threading.Thread(target=holder, daemon=True), threading.Thread(target=waiter, daemon=True)]
    for t in threads:
        t.start()
    ready.wait()
    print("ready", flush=True)
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        line = sys.stdin.readline()
        if line.strip() == "stop" or not line:
            break
    stop.set()
    for t in threads:
        t.join(timeout=5)
    print(json.dumps({"waiter": tids["waiter"], "holder": tids["holder"], "waits": waits}), flush=True)


if __name__ == "__main__":
    main()
