"""Ingestion speed and memory: `diagnose collapse` and `diagnose analyze` against the plain-Python
baseline collapser, side by side in one run, on two >= 100 MB perf script files built from the
fixtures: a realistic one (leaf addresses varied, callers' stable, ASLR incarnations) and one where
every frame address is unique (JIT code, many short-lived processes), the worst case for a parser
that caches lines.

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
from measure import compile_bytecode, measure  # noqa: E402


BASELINE = "baseline collapse (plain Python)"
COLLAPSE = "diagnose collapse"
ANALYZE = "diagnose analyze --format json"


def run_input(capture: Path, work: Path, runs: int, tag: str) -> dict[str, dict]:
    """The three commands on one capture, in rounds (one run of each per round); the baseline's
    output must equal diagnose collapse's."""
    diagnose = [sys.executable, "-m", "diagnose"]
    commands = {
        BASELINE: [sys.executable, str(HERE / "baseline_collapse.py"), str(capture)],
        COLLAPSE: [*diagnose, "collapse", str(capture)],
        ANALYZE: [*diagnose, "analyze", str(capture), "--format", "json"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    peaks: dict[str, list[int]] = {name: [] for name in commands}
    outputs = {}
    for i in range(runs):
        for k, (name, cmd) in enumerate(commands.items()):
            out_path = work / f"out-{tag}-{k}-{i}.txt"
            t, peak = measure(cmd, out_path)
            times[name].append(t)
            peaks[name].append(peak)
            outputs[name] = out_path
    if outputs[BASELINE].read_bytes() != outputs[COLLAPSE].read_bytes():
        raise SystemExit(f"{tag}: diagnose collapse and the baseline disagree: no benchmark result")
    return {name: {"seconds": statistics.median(times[name]), "all_seconds": times[name],
                   "peak_pss_mb": max(peaks[name]) / 1024} for name in commands}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=110)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the generated captures in bench/out/")
    args = ap.parse_args()

    outdir = HERE / "out"
    outdir.mkdir(exist_ok=True)
    compile_bytecode(ROOT)
    work = Path(tempfile.mkdtemp(prefix="diagnose-bench-"))
    report: dict = {"cpus": os.cpu_count(), "runs": args.runs}
    print(f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    for tag, unique in (("realistic", False), ("unique_addresses", True)):
        name = "big-capture.perf.txt" if not unique else "big-capture-unique.perf.txt"
        capture = (outdir if args.keep else work) / name
        size, samples = build(capture, args.size_mb, seed=1, unique_addresses=unique)
        mb = size / 1e6
        results = run_input(capture, work, args.runs, tag)
        if not args.keep:
            capture.unlink()
        base = results[BASELINE]["seconds"]
        what = "every frame address unique" if unique else "leaf addresses varied, callers stable, ASLR incarnations"
        print(f"input {tag}: {mb:.1f} MB, {samples:,} samples ({what}; bench/make_big_capture.py)")
        print(f"  {'command':36} {'median s':>9} {'MB/s':>7} {'vs baseline':>12} {'peak MB':>8}")
        for cmd_name, r in results.items():
            r["mb_per_s"], r["speedup_vs_baseline"] = mb / r["seconds"], base / r["seconds"]
            print(f"  {cmd_name:36} {r['seconds']:9.2f} {r['mb_per_s']:7.1f} {r['speedup_vs_baseline']:11.2f}x "
                  f"{r['peak_pss_mb']:8.1f}")
        part = {"input_mb": mb, "samples": samples, "results": results}
        if unique:
            report["unique_addresses"] = part
        else:
            report.update(part)  # the realistic input keeps the keys it always had
    real, uniq = report["results"], report["unique_addresses"]["results"]
    goals = {
        "collapse >= baseline on unique addresses": uniq[COLLAPSE]["speedup_vs_baseline"] >= 1.0,
        "collapse >= 2x baseline on the realistic input": real[COLLAPSE]["speedup_vs_baseline"] >= 2.0,
        "analyze >= 1.5x baseline on the realistic input": real[ANALYZE]["speedup_vs_baseline"] >= 1.5,
        "peak memory < 200 MB": all(r["peak_pss_mb"] < 200 for res in (real, uniq) for r in res.values()),
    }
    for goal, met in goals.items():
        print(f"goal: {goal}: {'met' if met else 'NOT met'}")
    report["goals"] = goals
    report["load_average_at_end"] = os.getloadavg()[0]
    (outdir / "ingest.json").write_text(json.dumps(report, indent=2) + "\n")
    for p in work.iterdir():
        p.unlink()
    work.rmdir()


if __name__ == "__main__":
    main()
