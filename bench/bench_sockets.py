"""What reading the targets' sockets costs `diagnose run`: one netstat.snapshot (the /proc socket
tables, the UDP counters and the sock_diag buffer sizes) for a process holding 1, 100 and 1,000
UDP sockets. It runs twice per recording, just before perf starts and just after it stops, so it
adds to the run's wall time, not to the target's: nothing is read while perf records.

    python3 bench/bench_sockets.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from diagnose import netstat, sockdiag  # noqa: E402


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    pid, socks = os.getpid(), []
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    for count in (1, 100, 1000):
        while len(socks) < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        snap = median_ms(lambda: netstat.snapshot([pid]), args.runs)
        diag = median_ms(lambda: sockdiag.read(pid), args.runs)
        print(f"{count:5d} UDP sockets: snapshot {snap:7.1f} ms (median of {args.runs}), of which sock_diag {diag:6.1f} ms")


if __name__ == "__main__":
    main()
