"""`diagnose graph` (DOT and GraphML call graphs) and the path conditions of rule packs
(passes_through, dominator), on real captures: GraphML read back with networkx, DOT drawn by
Graphviz's own `dot -Tsvg`."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest

from conftest import ROOT, assert_one_line_error, fixture, run_cli
from diagnose.errors import DiagnoseError
from diagnose.knowledge import builtin_knowledge
from diagnose.pipeline import analyze, load_profile
from diagnose.rules import parse_pack
from diagnose.yamlfile import load_yaml

SOCAT = "socat-unix-ipc.perf.txt.gz"
IPERF = "iperf3-udp-recv.perf.txt.gz"
PACK = ROOT / "tests" / "packs" / "graph-paths.yaml"
SVG = "{http://www.w3.org/2000/svg}"


def dot_svg(dot_file: Path) -> ET.Element:
    """The SVG Graphviz draws from a DOT file (Debian's graphviz; .ci/run installs it)."""
    exe = shutil.which("dot")
    assert exe, "Graphviz's dot is not installed (apt-get install graphviz)"
    proc = subprocess.run([exe, "-Tsvg", str(dot_file)], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert b"Warning" not in proc.stderr and b"Error" not in proc.stderr, proc.stderr
    return ET.fromstring(proc.stdout)


def svg_nodes(svg: ET.Element) -> dict[str, ET.Element]:
    return {g.find(f"{SVG}title").text: g for g in svg.iter(f"{SVG}g") if g.get("class") == "node"}  # type: ignore[union-attr]


def key(d: dict) -> tuple[str, str, str]:
    return (d["name"], d["module"], d["kind"])


@pytest.fixture(scope="module")
def socat(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One run of each output on the socat capture: GraphML, DOT, and analyze's JSON report."""
    d = tmp_path_factory.mktemp("graph")
    out = {"graphml": d / "g.graphml", "dot": d / "g.dot", "json": d / "r.json"}
    for args in (["graph", str(fixture(SOCAT)), "--format", "graphml", "-o", str(out["graphml"])],
                 ["graph", str(fixture(SOCAT)), "-o", str(out["dot"])],
                 ["analyze", str(fixture(SOCAT)), "--format", "json", "--all-functions", "-o", str(out["json"])]):
        proc = run_cli(*args)
        assert proc.returncode == 0, proc.stderr
    return {"graph": nx.read_graphml(out["graphml"]), "dot": out["dot"],
            "report": json.loads(out["json"].read_text()), "dir": d}


def test_graphml_shares_are_those_of_the_analyze_report(socat: dict) -> None:
    g, report = socat["graph"], socat["report"]
    functions = {key(f): f for f in report["profile"]["functions"]}
    assert g.graph["stack_samples"] == report["profile"]["stack_samples"]
    for _, d in g.nodes(data=True):
        f = functions[key(d)]
        for field in ("self_samples", "inclusive_samples", "self_share", "inclusive_share"):
            assert d[field] == f[field], (d["name"], field)
        assert [d["inclusive_ci95_low"], d["inclusive_ci95_high"]] == f["inclusive_ci95"]
    # Every function with 0.5% (the default) of the samples in its stack is drawn, and no other.
    wanted = {k for k, f in functions.items() if f["inclusive_samples"] * 200 >= report["profile"]["stack_samples"]}
    assert {key(d) for _, d in g.nodes(data=True)} == wanted
    assert 20 < len(wanted) < len(functions)


def test_edges_count_the_samples_that_made_each_call(socat: dict) -> None:
    g = socat["graph"]
    profile = load_profile(str(fixture(SOCAT)))
    calls: dict[tuple, int] = {}
    for s in profile.stacks:
        for a, b in set(zip(s.frames, s.frames[1:])):
            fa, fb = profile.frames[a], profile.frames[b]
            pair = ((fa.name, fa.module, fa.kind), (fb.name, fb.module, fb.kind))
            calls[pair] = calls.get(pair, 0) + s.samples
    nodes = dict(g.nodes(data=True))
    drawn = {(key(nodes[a]), key(nodes[b])): d["samples"] for a, b, d in g.edges(data=True)}
    assert drawn
    for pair, k in drawn.items():
        assert calls[pair] == k, pair
    # Every call between drawn functions made in 0.1% (the default) of the samples is drawn.
    kept = {key(d) for d in nodes.values()}
    n = profile.stack_samples
    assert {p for p, k in calls.items() if p[0] in kept and p[1] in kept and k * 1000 >= n} == set(drawn)


def test_recursion_is_counted_once_per_sample(tmp_path: Path) -> None:
    folded = tmp_path / "rec.folded"
    folded.write_text("app;main;walk;walk;walk;visit 30\napp;main;walk;visit 10\napp;main 5\n")
    out = tmp_path / "rec.graphml"
    proc = run_cli("graph", str(folded), "--format", "graphml", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    g = nx.read_graphml(out)
    by_name = {d["name"]: n for n, d in g.nodes(data=True)}
    walk = g.nodes[by_name["walk"]]
    assert (walk["inclusive_samples"], walk["self_samples"]) == (40, 0)
    assert g.edges[by_name["walk"], by_name["walk"]]["samples"] == 30
    assert g.edges[by_name["main"], by_name["walk"]]["samples"] == 40
    assert g.edges[by_name["walk"], by_name["visit"]]["samples"] == 40


def test_dot_is_drawn_by_graphviz_with_findings_marked(socat: dict) -> None:
    g = socat["graph"]
    nodes = svg_nodes(dot_svg(socat["dot"]))
    frames = {n: d for n, d in nodes.items() if n.startswith("f")}
    assert set(frames) == set(g.nodes)
    analysis = analyze(str(fixture(SOCAT)))
    ipc = next(f for f in analysis.findings if f.id == "unix-socket-ipc")
    marked_names = {analysis.profile.frames[i].name for f in analysis.findings for i in f.frames}
    assert "unix_stream_recvmsg" in {analysis.profile.frames[i].name for i in ipc.frames}
    for node, d in g.nodes(data=True):
        shapes = [e for e in frames[node].iter() if e.tag in (f"{SVG}path", f"{SVG}polygon")]
        texts = [t.text for t in frames[node].iter(f"{SVG}text")]
        assert texts[0] == d["name"]
        assert d["marked"] == (d["name"] in marked_names), d["name"]
        # A finding's frame has a double border; the fill is its component's colour.
        assert len(shapes) == (2 if d["marked"] else 1), d["name"]
        assert shapes[0].get("fill") == d["color"]
        if d["name"] == "unix_stream_recvmsg":
            assert "unix-socket-ipc" in d["findings"].split(",")
            assert d["component"] == "ipc"
            assert d["color"] == builtin_knowledge().components["ipc"].color


def test_thresholds_prune_nodes_and_edges(socat: dict, tmp_path: Path) -> None:
    out = tmp_path / "small.graphml"
    proc = run_cli("graph", str(fixture(SOCAT)), "--format", "graphml", "--node-threshold", "5",
                   "--edge-threshold", "2", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    small, full = nx.read_graphml(out), socat["graph"]
    n = small.graph["stack_samples"]
    assert 0 < small.number_of_nodes() < full.number_of_nodes()
    assert all(d["inclusive_samples"] * 20 >= n for _, d in small.nodes(data=True))
    assert {key(d) for _, d in small.nodes(data=True)} == \
        {key(d) for _, d in full.nodes(data=True) if d["inclusive_samples"] * 20 >= n}
    assert all(d["samples"] * 50 >= n for *_, d in small.edges(data=True))
    assert any(d["samples"] * 50 < n for *_, d in full.edges(data=True))


@pytest.mark.parametrize("args, text", [
    (["--node-threshold", "101"], "--node-threshold 101 is out of range"),
    (["--edge-threshold", "-1"], "--edge-threshold -1 is out of range"),
    (["--edge-threshold", "nan"], "--edge-threshold nan is out of range"),
    (["--format", "svg"], "unknown --format 'svg'"),
])
def test_bad_options_are_one_line(args: list[str], text: str) -> None:
    assert_one_line_error(run_cli("graph", str(fixture(IPERF)), *args), text)


NAMES = ['std::vector<std::pair<int, char const*>, std::allocator<x>>::push_back(int&&)',
         'say "hi" \\N \\l \\" end', 'a\\b', "<b>bold</b> & {record|field}", "esc\x1b[31mred"]


def test_names_with_quotes_templates_and_backslashes_survive(tmp_path: Path) -> None:
    folded = tmp_path / "names.folded"
    folded.write_text("".join(f"app;main;{name} {10 + i}\n" for i, name in enumerate(NAMES)), encoding="utf-8")
    dot, graphml = tmp_path / "n.dot", tmp_path / "n.graphml"
    for fmt, out in (("dot", dot), ("graphml", graphml)):
        proc = run_cli("graph", str(folded), "--format", fmt, "-o", str(out))
        assert proc.returncode == 0, proc.stderr
    shown = [n.replace("\x1b", "\\x1b") for n in NAMES]  # a control character is shown escaped
    g = nx.read_graphml(graphml)
    assert sorted(d["name"] for _, d in g.nodes(data=True)) == sorted(["main", *shown])
    texts = {t.text for node in svg_nodes(dot_svg(dot)).values() for t in node.iter(f"{SVG}text")}
    for name in shown:
        assert name in texts, name


def test_passes_through_fires_on_unix_ipc_and_not_on_udp_receive(tmp_path: Path) -> None:
    reports = {}
    for name in (SOCAT, IPERF):
        out = tmp_path / f"{name}.json"
        proc = run_cli("analyze", str(fixture(name)), "--rules", str(PACK), "--format", "json", "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        reports[name] = out
    socat = json.loads(reports[SOCAT].read_text())
    fired = {f["id"]: f for f in socat["findings"]}
    assert "read-copies-from-unix-socket" in fired and "udp-receive-entry" not in fired
    iperf = json.loads(reports[IPERF].read_text())
    fired = {f["id"]: f for f in iperf["findings"]}
    assert "read-copies-from-unix-socket" not in fired
    assert fired["udp-receive-entry"]["subject"] == "sock_recvmsg"

    shown = run_cli("explain", str(reports[SOCAT]), "--rule", "read-copies-from-unix-socket", env={"COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    assert "passes_through(from: symbol=read|__libc_read" in shown.stdout
    assert "100.00%" in shown.stdout and ">= 95.00%" in shown.stdout and "fired" in shown.stdout
    assert "dominator(category=unix-socket-ipc)" in shown.stdout and "(do_syscall_64)" in shown.stdout
    shown = run_cli("explain", str(reports[IPERF]), "--rule", "read-copies-from-unix-socket", env={"COLUMNS": "200"})
    assert "not-fired" in shown.stdout and "0.00%" in shown.stdout and "(short by 95.00" in shown.stdout


def test_the_dominator_is_on_every_path_into_the_selection() -> None:
    """sock_recvmsg, named by the rule above, really is above every UDP-receive frame of iperf3's
    stacks, and the functions below it on those paths are not (read() is only one way in)."""
    profile = load_profile(str(fixture(IPERF)))
    cats = builtin_knowledge().classify(profile)
    reaching = 0
    for s in profile.stacks:
        first = next((i for i, f in enumerate(s.frames) if cats[f] is not None and cats[f].id == "udp-receive"), None)
        if first is None:
            continue
        reaching += s.samples
        assert "sock_recvmsg" in [profile.frames[f].name for f in s.frames[:first]]
    assert reaching > 100


def test_the_pack_runs_with_rules_test() -> None:
    proc = run_cli("rules", "test", str(PACK))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed, 0 failed" in proc.stdout


def _bad_pack(tmp_path: Path, condition: str) -> Path:
    p = tmp_path / "bad.yaml"
    p.write_text("schema: diagnose.rules/v1\npack: {name: bad, version: 1.0.0, engine: '>=1.0'}\nrules:\n"
                 "  - id: bad-path\n    title: bad\n    severity: low\n    when:\n"
                 f"      - {condition}\n    summary: s\n")
    return p


@pytest.mark.parametrize("condition, text", [
    ("{passes_through: {from: {symbol: read}, to: {symbol: x}}, gte: 1}", "missing 'via'"),
    ("{passes_through: {from: {symbol: read}, to: {symbol: x}, via: {symbol: y}, over: {}}, gte: 1}",
     "unknown key (a typo?)"),
    ("{passes_through: {from: {symbol: read}, to: {symbol: x}, via: {category: [no-such]}}, gte: 1}",
     "unknown category 'no-such'"),
    ("{passes_through: {from: {symbol: '(a+)+'}, to: {symbol: x}, via: {symbol: y}}, gte: 1}", "passes_through.from"),
    ("{passes_through: {from: {symbol: read}, to: {symbol: x}, via: {symbol: y}}, gte: all}",
     "the threshold must be a number"),
    ("{dominator: {}, gte: 0.1}", "dominator needs a selection"),
])
def test_a_malformed_path_condition_is_refused_with_file_and_line(tmp_path: Path, condition: str, text: str) -> None:
    p = _bad_pack(tmp_path, condition)
    with pytest.raises(DiagnoseError) as exc:
        parse_pack(load_yaml(str(p)), builtin_knowledge())
    assert text in exc.value.message and f"{p}:8" in exc.value.message


def test_a_malformed_path_condition_is_one_line_from_the_command_line(tmp_path: Path) -> None:
    p = _bad_pack(tmp_path, "{passes_through: {from: {symbol: read}, via: {symbol: y}}, gte: 1}")
    assert_one_line_error(run_cli("rules", "validate", str(p)), f"{p}:8", "missing 'to'")
