"""Ingestion speed and memory: `diagnose collapse` and `diagnose analyze` against the plain-Python
baseline collapser, side by side in one run, on a >= 100 MB perf script file built from the fixtures.

    python3 bench/bench_ingest.py [--size-mb 110] [--runs 3] [--keep]

Reports MB/s, the speed ratio to the baseline, and peak memory of each command's whole process
tree (the sum of PSS over the process and its children, sampled every 25 ms; PSS shares pages that
forked workers have in common instead of counting them twice). The baseline's output must equal
`diagnose collapse`'s byte for byte, or the run fails: a fast wrong answer is not a result.
Results are also written to bench/out/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from make_big_capture import build  # noqa: E402
from measure import measure  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=110)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the generated capture in bench/out/")
    args = ap.parse_args()

    outdir = HERE / "out"
    outdir.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="diagnose-bench-"))
    capture = (outdir if args.keep else work) / "big-capture.perf.txt"
    size, samples = build(capture, args.size_mb, seed=1)
    mb = size / 1e6
    diagnose = [sys.executable, "-m", "diagnose"]
    commands = {
        "baseline collapse (plain Python)": [sys.executable, str(HERE / "baseline_collapse.py"), str(capture)],
        "diagnose collapse": [*diagnose, "collapse", str(capture)],
        "diagnose analyze --format json": [*diagnose, "analyze", str(capture), "--format", "json"],
    }
    results = {}
    outputs = {}
    for name, cmd in commands.items():
        times, peaks = [], []
        for i in range(args.runs):
            out_path = work / f"out-{len(results)}-{i}.txt"
            t, peak = measure(cmd, out_path)
            times.append(t)
            peaks.append(peak)
            outputs[name] = out_path
        results[name] = {"seconds": statistics.median(times), "all_seconds": times, "peak_pss_mb": max(peaks) / 1024}
    if outputs["baseline collapse (plain Python)"].read_bytes() != outputs["diagnose collapse"].read_bytes():
        raise SystemExit("diagnose collapse and the baseline disagree: no benchmark result")

    base = results["baseline collapse (plain Python)"]["seconds"]
    collapse = results["diagnose collapse"]["seconds"]
    print(f"input: {mb:.1f} MB, {samples:,} samples (built from fixtures/ by bench/make_big_capture.py)")
    print(f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"{'command':36} {'median s':>9} {'MB/s':>7} {'vs baseline':>12} {'peak MB':>8}")
    for name, r in results.items():
        print(f"{name:36} {r['seconds']:9.2f} {mb / r['seconds']:7.1f} {base / r['seconds']:11.2f}x {r['peak_pss_mb']:8.1f}")
    print(f"analyze / collapse time: {results['diagnose analyze --format json']['seconds'] / collapse:.2f}")
    report = {"input_mb": mb, "samples": samples, "cpus": os.cpu_count(), "runs": args.runs,
              "results": {k: {**v, "mb_per_s": mb / v["seconds"], "speedup_vs_baseline": base / v["seconds"]}
                          for k, v in results.items()}}
    (outdir / "ingest.json").write_text(json.dumps(report, indent=2) + "\n")
    for p in work.iterdir():
        p.unlink()
    work.rmdir()


if __name__ == "__main__":
    main()
