"""Many captures at once against one `diagnose analyze` per capture: wall time and peak memory.

    python3 bench/bench_many.py [--captures 20] [--rounds 3] [--jobs N]

Takes the bundled fixtures/*.gz in name order (repeated when there are fewer than --captures),
then in each round, in alternating order:
  - separate: `diagnose analyze CAPTURE --format json -o FILE` once per capture, one after another;
  - separate, 2 at a time: the same runs, as many at once as the machine has CPUs (as `xargs -P`);
  - at once: `diagnose analyze C1 C2 ... --format json -o FILE` (the table by capture and the
    merged profile's findings).
Prints each median with the peak memory (PSS of the process tree, bench/measure.py) and the
ratios, and checks that the table's cells are the separate runs' findings.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from measure import measure, tree_pss_kb  # noqa: E402

DIAGNOSE = [sys.executable, "-m", "diagnose"]


def captures(n: int) -> list[Path]:
    found = sorted((ROOT / "fixtures").glob("*.gz"))
    if not found:
        raise SystemExit("no fixtures/*.gz to analyse")
    return [found[i % len(found)] for i in range(n)]


def separate(paths: list[Path], work: Path, env: dict[str, str]) -> tuple[float, int]:
    total, peak = 0.0, 0
    for i, p in enumerate(paths):
        seconds, kb = measure([*DIAGNOSE, "analyze", str(p), "--format", "json", "-o", str(work / f"{i}.json")],
                              work / "stdout.txt", env=env)
        total, peak = total + seconds, max(peak, kb)
    return total, peak


def separate_parallel(paths: list[Path], work: Path, env: dict[str, str], at_once: int) -> tuple[float, int]:
    """The separate runs, `at_once` of them at a time; peak: the largest sum of their PSS seen."""
    procs: list[subprocess.Popen[bytes]] = []
    peak = 0

    def one(i: int) -> None:
        proc = subprocess.Popen([*DIAGNOSE, "analyze", str(paths[i]), "--format", "json", "-o",
                                 str(work / f"p{i}.json")], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        procs.append(proc)
        if proc.wait() != 0:
            raise SystemExit(f"analyze {paths[i]} failed")

    start = time.perf_counter()
    with ThreadPoolExecutor(at_once) as pool:
        futures = [pool.submit(one, i) for i in range(len(paths))]
        while not all(f.done() for f in futures):
            peak = max(peak, sum(tree_pss_kb(p.pid) for p in procs if p.poll() is None))
            time.sleep(0.025)
        for f in futures:
            f.result()
    return time.perf_counter() - start, peak


def together(paths: list[Path], work: Path, env: dict[str, str], jobs: int | None) -> tuple[float, int]:
    cmd = [*DIAGNOSE, "analyze", *map(str, paths), "--format", "json", "-o", str(work / "all.json")]
    if jobs is not None:
        cmd += ["--jobs", str(jobs)]
    return measure(cmd, work / "stdout.txt", env=env)


def check(paths: list[Path], work: Path) -> None:
    """The table's cells are what each separate run found (severity and share)."""
    doc = json.loads((work / "all.json").read_text())
    for i, cap in enumerate(doc["captures"]):
        single = json.loads((work / f"{i}.json").read_text())
        want = {f["id"]: (f["severity"], f["share"]) for f in single["findings"]}
        got = {r["id"]: (r["cells"][i]["severity"], r["cells"][i]["share"]) for r in doc["findings"] if r["cells"][i]}
        if want != got:
            raise SystemExit(f"{paths[i]}: the table says {got}, its own analysis {want}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--captures", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=None, help="--jobs of the run with all captures (default: its own)")
    args = ap.parse_args()
    paths = captures(args.captures)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cpus = os.cpu_count() or 1
    print(f"{len(paths)} captures ({len({p.name for p in paths})} distinct fixtures), {cpus} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    results: dict[str, list[tuple[float, int]]] = {"separate": [], "parallel": [], "together": []}
    with tempfile.TemporaryDirectory(prefix="bench-many-") as tmp:
        work = Path(tmp)
        for r in range(args.rounds):
            order = ["separate", "parallel", "together"]
            for name in (order if r % 2 == 0 else order[::-1]):
                if name == "separate":
                    results[name].append(separate(paths, work, env))
                elif name == "parallel":
                    results[name].append(separate_parallel(paths, work, env, cpus))
                else:
                    results[name].append(together(paths, work, env, args.jobs))
            check(paths, work)
    med = {k: statistics.median(t for t, _ in v) for k, v in results.items()}
    peak = {k: max(kb for _, kb in v) for k, v in results.items()}
    labels = {"separate": f"{len(paths)} separate runs, one after another",
              "parallel": f"{len(paths)} separate runs, {cpus} at a time",
              "together": f"one run with all {len(paths)} captures"}
    for k in ("separate", "parallel", "together"):
        print(f"{labels[k]:<45} {med[k]:7.2f} s  peak {peak[k] / 1024:6.0f} MB  "
              f"(rounds: {', '.join(f'{t:.2f}' for t, _ in results[k])})")
    print(f"ratio: separate / together = {med['separate'] / med['together']:.2f}; "
          f"{cpus} at a time / together = {med['parallel'] / med['together']:.2f} (medians of {args.rounds} rounds); "
          f"the table's cells equal the separate runs' findings")


if __name__ == "__main__":
    main()
