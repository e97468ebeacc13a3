"""Rule evaluation cost on a capture with 100,000 unique stacks: how much the expert system adds
to an analysis (the goal: under 1 s).

    python3 bench/bench_rules.py [--stacks 100000] [--runs 3]

The profile is built in memory from the real fixtures: their stacks, with application frames
spliced in (from a pool of 5,000 function names) so that 100,000 stacks are all different, as in
a long capture of a large program. It then times each stage of `diagnose analyze` on it: the call
graph, the summary, the knowledge-base classification, and the evaluation of every built-in rule.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from diagnose.callgraph import build_call_graph  # noqa: E402
from diagnose.engine import evaluate  # noqa: E402
from diagnose.knowledge import builtin_knowledge  # noqa: E402
from diagnose.pipeline import load_profile  # noqa: E402
from diagnose.profile import CaptureInfo, Frame, Profile, Stack, Thread  # noqa: E402
from diagnose.rules import load_packs  # noqa: E402
from diagnose.summary import summarize  # noqa: E402


def build_profile(n_stacks: int, seed: int = 7) -> Profile:
    rnd = random.Random(seed)
    frames: list[Frame] = []
    ids: dict[Frame, int] = {}

    def fid(f: Frame) -> int:
        i = ids.get(f)
        if i is None:
            i = ids[f] = len(frames)
            frames.append(f)
        return i

    base: list[tuple[int, ...]] = []
    for path in sorted((ROOT / "fixtures").rglob("*.perf.txt.gz")):
        p = load_profile(str(path))
        for s in p.stacks:
            if s.frames:
                base.append(tuple(fid(p.frames[f]) for f in s.frames))
    pool = [fid(Frame(f"app::module_{i % 97}::Handler{i}::Run", "/opt/app/bin/server", "user")) for i in range(5000)]
    threads = [Thread(f"worker_{i}", 1000, 1000 + i) for i in range(16)]
    seen: set[tuple[int, ...]] = set()
    stacks: list[Stack] = []
    while len(stacks) < n_stacks:
        s = list(rnd.choice(base))
        cut = rnd.randrange(0, max(1, len(s) // 2))
        s[cut:cut] = [rnd.choice(pool) for _ in range(rnd.randrange(1, 5))]
        key = tuple(s)
        if key in seen:
            continue
        seen.add(key)
        stacks.append(Stack(rnd.randrange(len(threads)), key, rnd.randrange(1, 20), 1))
    total = sum(s.samples for s in stacks)
    cap = CaptureInfo(source="synthetic", format="memory", event="cpu-clock", total_samples=total,
                      frequency_hz=99.0, duration_s=total / 99 / 8)
    return Profile(frames, threads, stacks, cap)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stacks", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    t = time.perf_counter()
    kb = builtin_knowledge()
    ruleset = load_packs([], kb, use_env=False)
    setup = time.perf_counter() - t
    stages: dict[str, list[float]] = {"call graph": [], "summary": [], "classification": [], "rules": []}
    findings = 0
    for _ in range(args.runs):
        profile = build_profile(args.stacks)
        t0 = time.perf_counter()
        graph = build_call_graph(profile)
        t1 = time.perf_counter()
        summarize(profile, graph)
        t2 = time.perf_counter()
        kb.classify(profile)
        t3 = time.perf_counter()
        evaluation = evaluate(profile, ruleset, kb)
        t4 = time.perf_counter()
        for name, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            stages[name].append(dt)
        findings = len(evaluation.findings)
    print(f"profile: {len(profile.stacks):,} unique stacks, {len(profile.frames):,} functions, "
          f"{profile.total_samples:,} samples; {len(ruleset.rules)} rules; loading packs and knowledge {setup:.2f} s")
    for name, values in stages.items():
        print(f"{name:16} median {statistics.median(values):6.3f} s  (runs: {', '.join(f'{v:.3f}' for v in values)})")
    added = statistics.median(stages["classification"]) + statistics.median(stages["rules"])
    print(f"rule evaluation adds {added:.3f} s (classification + rules) to the analysis; {findings} findings")


if __name__ == "__main__":
    main()
