"""What `diagnose run --off-cpu` costs the process it watches: a second perf record of
sched:sched_switch with call chains pays for every context switch of the target.

    python3 bench/bench_offcpu.py [--seconds 4] [--rounds 5] [--frequency 99] [--work 800] [--cpu 0]

The target is two processes playing ping-pong with one byte over a pair of pipes, the first doing
--work loop iterations of Python between round trips (a unit of work, then a hand-off, as a media
thread does per packet): each blocks in read() once per round trip, so with the default work
they switch out about 20,000 times a second together on this project's machine (0 work: as fast
as they can, over 100,000). They print their round-trip count every 0.1 s (CLOCK_MONOTONIC) and the bench samples their CPU
time (/proc/PID/stat) as often. Each round measures the same pair alone (the windows just before
and after), under `diagnose run` (the CPU profile), and under `diagnose run --off-cpu`, each over
--seconds, within the recording's own window (from its manifest), and reports two figures:

- the target's CPU time per round trip: what recording adds to the work of the target itself
  (the tracepoint and the call-chain walk run in the target's context at each switch); it does
  not depend much on the rest of the machine's load;
- round trips per second: throughput, which also moves with the machine's load, with perf's own
  CPU use (reported too: perf_cpu_s) and with how deep the idle CPUs sleep, so read it from
  several rounds on a quiet machine.

Needs root (sched tracepoints). Results also go to bench/out/offcpu.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

PINGPONG = r"""
import os, sys, time
if sys.argv[2] != "-1":
    os.sched_setaffinity(0, {int(sys.argv[2])})
a_r, a_w = os.pipe(); b_r, b_w = os.pipe()
child = os.fork()
if child == 0:
    while True:
        if not os.read(a_r, 1):
            os._exit(0)
        os.write(b_w, b"x")
n, last = 0, time.monotonic()
work = range(int(sys.argv[1]))
print(child, flush=True)
while True:
    for _ in work:
        pass
    os.write(a_w, b"x"); os.read(b_r, 1); n += 1
    if n % 256 == 0:
        now = time.monotonic()
        if now - last >= 0.1:
            print(f"{now:.6f} {n}", flush=True); last = now
"""


class Target:
    """The ping-pong pair, its progress lines read as they come."""

    def __init__(self, work: int, cpu: int) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", PINGPONG, str(work), str(cpu)], stdout=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout is not None
        self.child = int(self.proc.stdout.readline())
        self.points: list[tuple[float, int]] = []
        self.cpu: list[tuple[float, int]] = []  # (time, CPU clock ticks of both processes)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()

    def _sample(self) -> None:
        while self.proc.poll() is None:
            ticks = 0
            for pid in (self.proc.pid, self.child):
                try:
                    stat = Path(f"/proc/{pid}/stat").read_text()
                except OSError:
                    return
                fields = stat[stat.rfind(")") + 2:].split()
                ticks += int(fields[11]) + int(fields[12])
            self.cpu.append((time.monotonic(), ticks))
            time.sleep(0.1)

    def cpu_per_trip_us(self, start: float, end: float) -> float:
        """CPU time of both processes per round trip between two moments, in microseconds."""
        lo, hi = max(start, self.cpu[0][0]), min(end, self.cpu[-1][0])
        inside = [p for p in self.points if lo <= p[0] <= hi]
        (t0, n0), (t1, n1) = inside[0], inside[-1]
        return (self.ticks_at(t1) - self.ticks_at(t0)) / os.sysconf("SC_CLK_TCK") / (n1 - n0) * 1e6

    def ticks_at(self, t: float) -> float:
        """CPU clock ticks of both processes at moment t, interpolated between samples."""
        pts = self.cpu
        for (ta, ca), (tb, cb) in zip(pts, pts[1:]):
            if ta <= t <= tb:
                return ca + (cb - ca) * (t - ta) / (tb - ta)
        raise ValueError(f"no CPU sample around {t}")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            t, n = line.split()
            self.points.append((float(t), int(n)))

    def rate(self, start: float, end: float) -> float:
        """Round trips per second between two moments (the nearest progress lines inside)."""
        inside = [p for p in self.points if start <= p[0] <= end]
        (t0, n0), (t1, n1) = inside[0], inside[-1]
        return (n1 - n0) / (t1 - t0)

    def switches(self) -> int:
        total = 0
        for pid in (self.proc.pid, self.child):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
        return total

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        try:
            os.kill(self.child, 9)
        except ProcessLookupError:
            pass


def run_diagnose(target: Target, seconds: float, frequency: int, off_cpu: bool, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = [sys.executable, "-m", "diagnose", "run", "--pid", str(target.proc.pid), "--pid", str(target.child),
           "--duration", str(seconds), "--frequency", str(frequency), "--out", str(out), "--format", "json",
           *(["--off-cpu"] if off_cpu else [])]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"bench_offcpu: diagnose run failed: {done.stderr.strip()[-400:]}")
    rec = json.loads((out / "manifest.json").read_text())["recording"]
    report = json.loads(done.stdout)
    return {"start": rec["enabled_s"], "end": rec["ended_s"], "off_cpu": report.get("off_cpu"),
            "bytes": {f["path"]: f["bytes"] for f in json.loads((out / "manifest.json").read_text())["files"]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--work", type=int, default=800)
    ap.add_argument("--cpu", type=int, default=0, help="The CPU both processes are pinned to (-1: not pinned): "
                                                        "every round trip is then two context switches on it, "
                                                        "whatever the idle states of the others.")
    ap.add_argument("--frequency", type=int, default=99)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench_offcpu: run as root (sched tracepoints)")
    results: dict[str, list[float]] = {"cpu-profile": [], "off-cpu": []}
    cpu_cost: dict[str, list[float]] = {"cpu-profile": [], "off-cpu": []}
    details = []
    target = Target(args.work, args.cpu)
    try:
        time.sleep(1.0)
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                for mode in ("cpu-profile", "off-cpu"):
                    # The windows just before and after are the baseline: same pair, same machine load.
                    t0 = time.monotonic()
                    time.sleep(args.seconds)
                    base = target.rate(t0, time.monotonic())
                    base_cpu = target.cpu_per_trip_us(t0, time.monotonic())
                    s0 = target.switches()
                    run = run_diagnose(target, args.seconds, args.frequency, mode == "off-cpu",
                                       Path(tmp) / f"{mode}-{r}")
                    rate = target.rate(run["start"], run["end"])
                    switches_per_s = (target.switches() - s0) / (time.monotonic() - t0 - args.seconds)
                    t1 = time.monotonic()
                    time.sleep(args.seconds)
                    base = (base + target.rate(t1, time.monotonic())) / 2  # before and after: load drifts
                    base_cpu = (base_cpu + target.cpu_per_trip_us(t1, time.monotonic())) / 2
                    run_cpu = target.cpu_per_trip_us(run["start"], run["end"])
                    loss = 1 - rate / base
                    results[mode].append(loss)
                    cpu_cost[mode].append(run_cpu / base_cpu - 1)
                    off = run["off_cpu"] or {}
                    details.append({"round": r, "mode": mode, "baseline_per_s": round(base), "under_run_per_s": round(rate),
                                    "loss": round(loss, 4), "switches_per_s_during_run": round(switches_per_s),
                                    "cpu_us_per_trip_alone": round(base_cpu, 2), "cpu_us_per_trip_under_run": round(run_cpu, 2),
                                    "perf_cpu_s": off.get("perf_cpu_s"),
                                    "offcpu_switch_outs_per_s": off.get("switch_outs_per_s"),
                                    "offcpu_lost_events": off.get("lost_events"),
                                    "offcpu_perf_data_bytes": run["bytes"].get("offcpu.perf.data")})
                    print(f"round {r} {mode:12s} {base:8,.0f}/s alone, {rate:8,.0f}/s under run ({100 * loss:+5.1f}%); "
                          f"CPU per trip {base_cpu:6.1f} -> {run_cpu:6.1f} us ({100 * (run_cpu / base_cpu - 1):+5.1f}%); "
                          f"{switches_per_s:,.0f} switches/s"
                          + (f"; off-cpu {off.get('switch_outs_per_s') or 0:,.0f} records/s, lost {off.get('lost_events')}, "
                             f"perf {off.get('perf_cpu_s')} CPU-s" if off else ""), flush=True)
    finally:
        target.stop()
    summary = {mode: round(statistics.median(v), 4) for mode, v in results.items()}
    cost = {mode: round(statistics.median(v), 4) for mode, v in cpu_cost.items()}
    print(f"median: throughput loss CPU profile {100 * summary['cpu-profile']:.1f}%, with --off-cpu "
          f"{100 * summary['off-cpu']:.1f}%; target CPU per round trip CPU profile {100 * cost['cpu-profile']:+.1f}%, "
          f"with --off-cpu {100 * cost['off-cpu']:+.1f}% (load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs)")
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "offcpu.json").write_text(json.dumps({"machine": platform.platform(), "cpus": os.cpu_count(),
                                                 "median_loss": summary,
                                                 "median_cpu_per_trip_increase": cost, "rounds": details}, indent=2) + "\n")


if __name__ == "__main__":
    main()
