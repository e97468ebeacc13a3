"""Flame graph cost on a capture with 100,000 unique stacks: generation time, SVG size, boxes drawn,
and (when Chromium and playwright are installed) how long the SVG takes to open in a browser.

    python3 bench/bench_flamegraph.py [--stacks 100000] [--runs 3] [--min-width 0.1 --min-width 0.02]

The profile is the one bench/bench_rules.py builds: the real fixtures' stacks with application
frames (from a pool of 5,000 names) spliced in, so that all stacks differ.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_rules import build_profile  # noqa: E402

from diagnose.knowledge import builtin_knowledge  # noqa: E402
from diagnose.report.flamegraph import FlameOptions, build_tree, render_profile  # noqa: E402

CHROMIUM = os.environ.get("DIAGNOSE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


def browser_load_times(paths: list[Path], runs: int) -> list[float | None]:
    """Seconds from navigation to the second painted frame after load, median of `runs`."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return [None] * len(paths)
    if not os.path.exists(CHROMIUM):
        return [None] * len(paths)
    out: list[float | None] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for path in paths:
            times = []
            for _ in range(runs):
                page = browser.new_page(viewport={"width": 1220, "height": 900})
                t = time.perf_counter()
                page.goto(path.as_uri(), wait_until="load", timeout=120_000)
                page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
                times.append(time.perf_counter() - t)
                assert page.evaluate("typeof window.flamegraph") == "object", "the script did not run"
                page.close()
            out.append(statistics.median(times))
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stacks", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--min-width", type=float, action="append", help="px (repeatable; default 0.1 and 0.02)")
    args = ap.parse_args()
    widths = args.min_width or [0.1, 0.02]
    t = time.perf_counter()
    profile = build_profile(args.stacks)
    kb = builtin_knowledge()
    kb.classify(profile)
    setup = time.perf_counter() - t
    depth = sum(len(s.frames) for s in profile.stacks) / len(profile.stacks)
    print(f"profile: {len(profile.stacks):,} unique stacks, {profile.stack_samples:,} samples, "
          f"{len(profile.frames):,} functions, mean depth {depth:.1f} (built and classified in {setup:.1f} s)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for mw in widths:
            opts = FlameOptions(min_width=mw)
            tree_s, total_s = [], []
            svg = ""
            for _ in range(args.runs):
                t0 = time.perf_counter()
                build_tree(profile, mw * profile.stack_samples / (opts.width - 20))
                tree_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                svg = render_profile(profile, opts, kb)
                total_s.append(time.perf_counter() - t0)
            path = Path(tmp) / f"fg-{mw:g}.svg"
            path.write_text(svg, encoding="utf-8")
            paths.append(path)
            boxes = svg.count("<title>")
            rows.append([mw, boxes, len(svg.encode()), statistics.median(tree_s), statistics.median(total_s)])
        loads = browser_load_times(paths, args.runs)
    print()
    print(f"{'min width':>10} {'boxes':>8} {'SVG size':>10} {'tree':>8} {'SVG total':>10} {'browser load':>13}")
    for (mw, boxes, size, tree_t, total_t), load in zip(rows, loads):
        shown = f"{load:.2f} s" if load is not None else "n/a"
        print(f"{mw:>8g}px {boxes:>8,} {size / 1e6:>8.2f}MB {tree_t:>7.2f}s {total_t:>9.2f}s {shown:>13}")
    if loads and loads[0] is None:
        print(f"(browser load time: needs playwright and Chromium at {CHROMIUM})")


if __name__ == "__main__":
    main()
