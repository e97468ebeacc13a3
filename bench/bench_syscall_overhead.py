"""What counting system calls costs the process counted (diagnose.syscall_counts), as root.

Two measurements, each in rounds that alternate the methods with windows of nothing attached, so
that the load of a shared machine moves baseline and method alike; medians over the rounds:

1. CPU added per system call: a Python loop calling getppid() (cheap: the method's cost stands
   out) reports its own CPU time per call (thread CPU time, not wall time: the other load of the
   machine does not enter it). Beside it a second such loop that nothing is attached to: enabling
   the syscall tracepoints sends every task of the machine down the kernel's slower entry path.
   Methods: perf stat of raw_syscalls:sys_enter alone (a total per thread), perf stat of the
   events diagnose counts (that total plus syscalls:sys_enter_NAME of 23 calls), perf record of
   raw_syscalls:sys_enter (a sample per call, with its id), perf trace -s.

2. Throughput of a target doing about 50,000 system calls per CPU-second (a UDP sendto on
   127.0.0.1 per iteration and some Python work between them, calibrated at the start): its
   iterations per CPU-second and per second over the recording window, with nothing attached,
   under `diagnose run --no-syscall-counts` (the stack recording alone) and under `diagnose run`
   (the default set: stacks and counts). The counting's own cost is the difference between the
   two runs; the default set must cost under 5% of the target's throughput.

    python bench/bench_syscall_overhead.py [--rounds 5] [--window 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from diagnose import syscall_counts  # noqa: E402

# Calls getppid() in batches; after each, one line: monotonic seconds, calls so far, thread CPU seconds.
TIGHT = """
import os, sys, time
n = 0
while True:
    for _ in range(20000):
        os.getppid()
    n += 20000
    print(f"{time.monotonic():.6f} {n} {time.thread_time():.6f}", flush=True)
"""
# A sendto on 127.0.0.1 per iteration and WORK loop steps of Python between them; every 0.1 s one
# line: monotonic seconds, iterations so far, process CPU seconds.
TARGET = """
import socket, sys, time
work = int(sys.argv[1])
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rx.bind(("127.0.0.1", 0))
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
to, payload = rx.getsockname(), b"x" * 200
n, last = 0, time.monotonic()
while True:
    s = 0
    for i in range(work):
        s += i
    tx.sendto(payload, to)
    n += 1
    if n % 64 == 0:
        now = time.monotonic()
        if now - last >= 0.1:
            print(f"{now:.6f} {n} {time.process_time():.6f}", flush=True)
            last = now
"""
TARGET_CALLS_PER_CPU_S = 50_000


class Reporter:
    """A process printing (time, count, cpu) lines; what it said, as it says it."""

    def __init__(self, code: str, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
        self.rows: list[tuple[float, float, float]] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            t, n, cpu = line.split()
            with self.lock:
                self.rows.append((float(t), float(n), float(cpu)))

    def between(self, a: float, b: float) -> tuple[float, float, float] | None:
        """(count, cpu seconds, wall seconds) between the first and last line inside [a, b]."""
        with self.lock:
            inside = [r for r in self.rows if a <= r[0] <= b]
        if len(inside) < 2:
            return None
        (t0, n0, c0), (t1, n1, c1) = inside[0], inside[-1]
        return n1 - n0, c1 - c0, t1 - t0

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def _wait(seconds: float) -> tuple[float, float]:
    a = time.monotonic()
    time.sleep(seconds)
    return a, time.monotonic()


# -- 1. CPU added per system call ----------------------------------------------------------

def _stat(pid: int, events: list[str], out: Path) -> subprocess.Popen[bytes]:
    # perf stat's counts go to a file of the run's temporary folder (never a device to -o).
    return subprocess.Popen(["perf", "stat", "--per-thread", "-x", ",", "-e", ",".join(events), "-p", str(pid),
                             "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def per_call_methods(pid: int, tmp: Path) -> dict[str, Any]:
    events_dir = syscall_counts.events_folder()
    named = [n for n in syscall_counts.NAMED if events_dir and (events_dir / "syscalls" / f"sys_enter_{n}").is_dir()]
    diagnose_events, _ = syscall_counts.choose_events(named, 1)
    return {
        "perf stat raw_syscalls (total per thread)": lambda: _stat(pid, [syscall_counts.TOTAL_EVENT], tmp / "stat-total.csv"),
        f"perf stat as diagnose counts ({len(diagnose_events)} events)": lambda: _stat(pid, diagnose_events, tmp / "stat-diagnose.csv"),
        "perf record raw_syscalls:sys_enter (id per call)": lambda: subprocess.Popen(
            ["perf", "record", "-q", "-e", "raw_syscalls:sys_enter", "-p", str(pid), "-o", str(tmp / "raw.data")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        "perf trace -s": lambda: subprocess.Popen(["perf", "trace", "-s", "-p", str(pid), "-o", str(tmp / "trace.txt")],
                                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    }


def ns_per_call(r: Reporter, a: float, b: float) -> float | None:
    got = r.between(a, b)
    return None if got is None or not got[0] else got[1] / got[0] * 1e9


def bench_per_call(rounds: int, window: float, tmp: Path) -> dict[str, Any]:
    target, bystander = Reporter(TIGHT), Reporter(TIGHT)
    try:
        time.sleep(1.0)
        methods = per_call_methods(target.proc.pid, tmp)
        added: dict[str, list[float]] = {m: [] for m in methods}
        beside: dict[str, list[float]] = {m: [] for m in methods}
        base_ns: list[float] = []
        for rnd in range(rounds):
            names = list(methods)
            names = names[rnd % len(names):] + names[:rnd % len(names)]
            for name in names:
                a, b = _wait(window)  # nothing attached, just before
                base, base_by = ns_per_call(target, a, b), ns_per_call(bystander, a, b)
                proc = methods[name]()
                time.sleep(1.0)  # perf has opened its events
                a2, b2 = _wait(window)
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                on, on_by = ns_per_call(target, a2, b2), ns_per_call(bystander, a2, b2)
                if None not in (base, on, base_by, on_by):
                    added[name].append(on - base)  # type: ignore[operator]
                    beside[name].append(on_by - base_by)  # type: ignore[operator]
                    base_ns.append(base)  # type: ignore[arg-type]
                print(f"  round {rnd + 1} {name}: +{(on or 0) - (base or 0):.0f} ns/call "
                      f"(bystander {(on_by or 0) - (base_by or 0):+.0f})", file=sys.stderr)
        return {"baseline_ns_per_call": round(statistics.median(base_ns), 1) if base_ns else None,
                "methods": {m: {"added_ns_per_call": round(statistics.median(v), 1) if v else None,
                                "bystander_added_ns_per_call": round(statistics.median(beside[m]), 1) if beside[m] else None,
                                "rounds": [round(x, 1) for x in v]} for m, v in added.items()}}
    finally:
        target.stop()
        bystander.stop()


# -- 2. throughput of a 50,000 calls/s target ---------------------------------------------------

def calibrate() -> int:
    """The Python work per iteration that makes about TARGET_CALLS_PER_CPU_S sendto per CPU-second."""
    work = 200
    for _ in range(6):
        r = Reporter(TARGET, str(work))
        time.sleep(1.5)
        a = time.monotonic()
        time.sleep(1.5)
        got = r.between(a, time.monotonic())
        r.stop()
        if not got or not got[1]:
            continue
        rate = got[0] / got[1]
        work = max(1, int(work * rate / TARGET_CALLS_PER_CPU_S))
        if abs(rate / TARGET_CALLS_PER_CPU_S - 1) < 0.05:
            break
    return work


def diagnose_run(pid: int, window: float, tmp: Path, *extra: str) -> tuple[float, float]:
    """`diagnose run` on pid; the recording window (CLOCK_MONOTONIC) from its manifest."""
    out = Path(tempfile.mkdtemp(dir=tmp)) / "capture"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, "-m", "diagnose", "run", "--pid", str(pid), "--duration", str(window),
                           "--out", str(out), "--format", "json", *extra], capture_output=True, text=True, env=env,
                          cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"diagnose run failed: {proc.stderr.strip()[-400:]}")
    rec = json.loads((out / "manifest.json").read_text())["recording"]
    shutil.rmtree(out.parent, ignore_errors=True)
    return rec["enabled_s"], rec["ended_s"]


def bench_throughput(rounds: int, window: float, tmp: Path) -> dict[str, Any]:
    work = calibrate()
    target = Reporter(TARGET, str(work))
    phases = {
        "nothing attached": lambda: _wait(window),
        "diagnose run --no-syscall-counts": lambda: diagnose_run(target.proc.pid, window, tmp, "--no-syscall-counts"),
        "diagnose run (default set)": lambda: diagnose_run(target.proc.pid, window, tmp),
    }
    per_cpu: dict[str, list[float]] = {p: [] for p in phases}
    per_s: dict[str, list[float]] = {p: [] for p in phases}
    try:
        time.sleep(1.0)
        for rnd in range(rounds):
            names = list(phases)
            names = names[rnd % len(names):] + names[:rnd % len(names)]
            for name in names:
                a, b = phases[name]()
                got = target.between(a, b)
                if got and got[1] and got[2]:
                    per_cpu[name].append(got[0] / got[1])
                    per_s[name].append(got[0] / got[2])
                    print(f"  round {rnd + 1} {name}: {got[0] / got[1]:,.0f} sendto per CPU-second, "
                          f"{got[0] / got[2]:,.0f}/s", file=sys.stderr)
    finally:
        target.stop()
    med = {p: statistics.median(v) for p, v in per_cpu.items() if v}
    med_s = {p: statistics.median(v) for p, v in per_s.items() if v}
    base, profile_only, default = (med.get(p) for p in phases)
    nothing, profiled, counted = (per_cpu[p] for p in phases)
    return {
        # Within a round the phases are minutes apart at most: their ratio drifts less than the medians.
        "paired_cost_of_default_set_vs_nothing": _paired(nothing, counted),
        "paired_cost_of_counting_vs_profile_only": _paired(profiled, counted),
        "work_per_iteration": work,
        "sendto_per_cpu_second": {p: round(v) for p, v in med.items()},
        "sendto_per_second": {p: round(v) for p, v in med_s.items()},
        "rounds": {p: [round(x) for x in v] for p, v in per_cpu.items()},
        "cost_of_default_set_vs_nothing": round(1 - default / base, 4) if base and default else None,
        "cost_of_counting_vs_profile_only": round(1 - default / profile_only, 4) if profile_only and default else None,
    }


def _paired(before: list[float], after: list[float]) -> float | None:
    ratios = [a / b for b, a in zip(before, after) if b]
    return round(1 - statistics.median(ratios), 4) if ratios else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--window", type=float, default=3.0, help="seconds measured per method and round")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--only", choices=("per-call", "throughput"))
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: perf stat and perf record of the syscall tracepoints need it")
    problem = syscall_counts.unavailable_reason(syscall_counts.events_folder())
    if problem:
        raise SystemExit(f"cannot count system calls here: {problem}")
    results: dict[str, Any] = {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.only in (None, "per-call"):
            print("CPU added per system call (getppid loop, thread CPU time):", file=sys.stderr)
            results["per_call"] = bench_per_call(args.rounds, args.window, tmp)
        if args.only in (None, "throughput"):
            print("Throughput of a ~50,000 sendto per CPU-second target:", file=sys.stderr)
            results["throughput"] = bench_throughput(args.rounds, args.window, tmp)
    results["load_average_at_end"] = os.getloadavg()
    if "per_call" in results:
        pc = results["per_call"]
        print(f"\nCPU added per system call (a getppid() call costs {pc['baseline_ns_per_call']} ns alone):")
        for m, v in pc["methods"].items():
            print(f"  {m:52s} {v['added_ns_per_call']:>+8} ns   other processes: {v['bystander_added_ns_per_call']:>+6} ns")
    if "throughput" in results:
        tp = results["throughput"]
        print("\nThroughput of the ~50,000 calls per CPU-second target (sendto per CPU-second; per second):")
        for p, v in tp["sendto_per_cpu_second"].items():
            print(f"  {p:36s} {v:>9,}   {tp['sendto_per_second'].get(p, 0):>9,}/s")
        print(f"  cost of the default set vs nothing attached: {100 * (tp['cost_of_default_set_vs_nothing'] or 0):.1f}%")
        print(f"  cost of the counting (default set vs --no-syscall-counts): "
              f"{100 * (tp['cost_of_counting_vs_profile_only'] or 0):.1f}%")
        print(f"  the same, median of the ratios within each round: {100 * (tp['paired_cost_of_default_set_vs_nothing'] or 0):.1f}%"
              f" and {100 * (tp['paired_cost_of_counting_vs_profile_only'] or 0):.1f}%")
        spread = [v for vs in tp["rounds"].values() for v in vs]
        if spread:
            print(f"  (one window to the next varies {min(spread):,}-{max(spread):,} sendto per CPU-second here: "
                  f"smaller differences than that spread are noise)")
        if "per_call" in results:
            method = next(m for m in results["per_call"]["methods"] if m.startswith("perf stat as diagnose"))
            added = results["per_call"]["methods"][method]["added_ns_per_call"]
            rate = tp["sendto_per_cpu_second"].get("nothing attached")
            if added is not None and rate:
                tp["predicted_cost_of_counting"] = round(added * rate / 1e9, 4)
                print(f"  expected from the CPU added per call: {added} ns x {rate:,} calls per CPU-second = "
                      f"{100 * added * rate / 1e9:.2f}% of the target's CPU")
    print(f"\nload average {results['load_average_at_start'][0]:.1f} at the start, "
          f"{results['load_average_at_end'][0]:.1f} at the end, on {results['cpus']} CPUs")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
