"""perf.data speed and memory: `diagnose collapse` and `diagnose analyze` against perf's own
collapser (`perf script report stackcollapse`, the port of stackcollapse-perf.pl that ships with
perf), side by side in one run on the same perf.data.

    python3 bench/bench_perf_data.py [--data perf.data] [--seconds 20] [--frequency 2999] [--runs 3] [--keep]

Without --data it records one (as root): stress-ng runs a mix of stressors (cpu, malloc, futex,
TCP over loopback, memcpy) while `perf record -a -g` samples the whole machine (--keep keeps it
in bench/out/). Every command reads the perf.data itself, so each pays for perf's own decoding; plain `perf script` is timed as well, as
the floor that every perf.data reader here stands on. Besides time and peak memory (see
measure.py), the run reports how far the two collapsers agree: total samples, and the share of
samples whose folded stack is the same in both (the tools are not meant to agree everywhere, e.g.
perf's script does not strip JIT/inline details the way stackcollapse-perf.pl does).
Results are also written to bench/out/perf_data.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from measure import measure  # noqa: E402

STRESSORS = ["--cpu", "1", "--malloc", "1", "--futex", "1", "--sock", "1",
             "--memcpy", "1"]


def record(path: Path, seconds: int, frequency: int) -> None:
    for tool in ("perf", "stress-ng"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench_perf_data: {tool} not found; install it or pass --data perf.data")
    load = subprocess.Popen(["stress-ng", *STRESSORS, "--timeout", f"{seconds + 5}s", "--quiet"])
    try:
        time.sleep(2)
        done = subprocess.run(["perf", "record", "-q", "-a", "-g", "-F", str(frequency), "-o", str(path),
                               "--", "sleep", str(seconds)], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"bench_perf_data: perf record failed (run as root?): {done.stderr.strip()[-300:]}")
    finally:
        load.terminate()
        load.wait()


def folded(path: Path) -> Counter[str]:
    """Folded stacks with unsymbolized frames as `[unknown]`: stackcollapse-perf.pl (and diagnose)
    name them by their module (`[libc.so.6]`), perf's script does not."""
    counts: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if stack:
            frames = (f if not (f.startswith("[") and f.endswith("]")) else "[unknown]" for f in stack.split(";"))
            counts[";".join(frames)] += int(n)
    return counts


def agreement(a: Counter[str], b: Counter[str]) -> float:
    """Share of the profile on which two collapsed profiles agree (each stack at the smaller of
    its two shares): weights may be samples in one and periods in the other."""
    ta, tb = sum(a.values()) or 1, sum(b.values()) or 1
    return sum(min(n / ta, b[stack] / tb) for stack, n in a.items() if stack in b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="an existing perf.data (default: record one)")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--frequency", type=int, default=2999)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the recorded perf.data in bench/out/")
    args = ap.parse_args()

    outdir = HERE / "out"
    outdir.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="diagnose-bench-"))
    data = args.data
    if data is None:
        data = (outdir if args.keep else work) / "perf.data"
        record(data, args.seconds, args.frequency)
    diagnose = [sys.executable, "-m", "diagnose"]
    reference = "perf script report stackcollapse (reference)"
    commands = {
        "perf script (text only, the floor)": ["perf", "script", "-i", str(data)],
        reference: ["perf", "script", "report", "stackcollapse", "-i", str(data)],
        "diagnose collapse": [*diagnose, "collapse", str(data)],
        "diagnose analyze --format json": [*diagnose, "analyze", str(data), "--format", "json"],
    }
    results, outputs = {}, {}
    for name, cmd in commands.items():
        times, peaks = [], []
        for i in range(args.runs):
            out_path = work / f"out-{len(results)}-{i}.txt"
            t, peak = measure(cmd, out_path)
            times.append(t)
            peaks.append(peak)
            outputs[name] = out_path
        results[name] = {"seconds": statistics.median(times), "all_seconds": times, "peak_pss_mb": max(peaks) / 1024}

    ref, ours = folded(outputs[reference]), folded(outputs["diagnose collapse"])
    ref_total, same = sum(ref.values()), agreement(ref, ours)
    mb = data.stat().st_size / 1e6
    base = results[reference]["seconds"]
    print(f"input: {data.name}, {mb:.1f} MB, {ref_total:,} samples")
    print(f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"{'command':46} {'median s':>9} {'vs reference':>13} {'peak MB':>8}")
    for name, r in results.items():
        print(f"{name:46} {r['seconds']:9.2f} {base / r['seconds']:12.2f}x {r['peak_pss_mb']:8.1f}")
    print(f"agreement: {same:.2%} of the profile has the same folded stack in both collapsers "
          "(unsymbolized frames compared as [unknown])")
    report = {"input": str(data), "input_mb": mb, "samples": ref_total, "agreement": same,
              "cpus": os.cpu_count(), "runs": args.runs,
              "results": {k: {**v, "speedup_vs_reference": base / v["seconds"]} for k, v in results.items()}}
    (outdir / "perf_data.json").write_text(json.dumps(report, indent=2) + "\n")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
