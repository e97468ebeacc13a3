"""Exact shares on every real fixture, the call graph, and path questions answered from stacks."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest

from conftest import FIXTURES
from diagnose.callgraph import build_call_graph, check_call_graph
from diagnose.pipeline import analyze, load_profile
from diagnose.profile import CaptureInfo, Frame, Profile, Stack, Thread
from diagnose.report.json_report import report_dict

CAPTURES = sorted(p.name for p in FIXTURES.glob("*.perf.txt.gz"))


@pytest.mark.parametrize("name", CAPTURES)
def test_shares_are_exact_on_real_captures(name: str) -> None:
    analysis = analyze(str(FIXTURES / name), jobs=1)
    p = analysis.profile
    p.check()
    check_call_graph(analysis.graph)
    report = report_dict(analysis, all_functions=True)
    funcs = report["profile"]["functions"]
    n = report["profile"]["stack_samples"]
    assert sum(f["self_samples"] for f in funcs) == n
    if n:
        assert sum(f["self_share"] for f in funcs) == pytest.approx(1.0, abs=1e-4)
    assert all(0 <= f["self_samples"] <= f["inclusive_samples"] <= n for f in funcs)
    assert all(f["inclusive_share"] <= 1.0 for f in funcs)
    assert report["capture"]["total_samples"] == report["profile"]["total_samples"] == p.total_samples


def _profile(stacks: list[tuple[str, ...]]) -> Profile:
    names = sorted({n for s in stacks for n in s})
    frames = [Frame(n, "", "user") for n in names]
    ids = {n: i for i, n in enumerate(names)}
    st = [Stack(0, tuple(ids[n] for n in s), 1, 1) for s in stacks]
    cap = CaptureInfo(source="test", format="test", total_samples=len(st))
    return Profile(frames, [Thread("t", 1, 1)], st, cap)


def test_below_in_the_same_stack_is_exact_where_graph_reachability_over_counts() -> None:
    # A calls B calls C; D calls B calls E. In the graph, C is reachable from D; in no stack is it.
    p = _profile([("A", "B", "C"), ("D", "B", "E"), ("D", "B", "E")])
    ids = {f.name: i for i, f in enumerate(p.frames)}
    g = build_call_graph(p)
    assert nx.has_path(g, ids["D"], ids["C"])
    assert p.samples_below([ids["D"]], [ids["C"]]) == 0
    assert p.samples_below([ids["A"]], [ids["C"]]) == 1
    assert p.samples_below([ids["B"]], [ids["E"]]) == 2
    assert p.samples_below([ids["C"]], [ids["A"]]) == 0  # above, not below


def test_edges_count_each_sample_once_under_recursion() -> None:
    p = _profile([("A", "B", "A", "B"), ("A", "B")])
    g = build_call_graph(p)
    ids = {f.name: i for i, f in enumerate(p.frames)}
    assert g.edges[ids["A"], ids["B"]]["samples"] == 2
    assert g.edges[ids["B"], ids["A"]]["samples"] == 1
    assert g.nodes[ids["A"]]["inclusive_samples"] == 2
    check_call_graph(g)


def test_original_report_chain_reads_as_in_the_report() -> None:
    """The summary tree of the hand-written fixture carries the report's shares exactly."""
    from diagnose.report.trees import tree_lines

    analysis = analyze(str(FIXTURES / "original-report-shape.perf.txt.gz"))
    trees = {analysis.profile.frames[t.frame].name: t for t in analysis.summary.trees}
    assert "__libc_recvmsg" in trees
    lines = [prefix + text for prefix, text, _ in tree_lines(analysis, trees["__libc_recvmsg"], ascii=True)]
    expected = [
        "__libc_recvmsg (23.50%)",
        "+-- entry_SYSCALL_64_after_hwframe (11.48%)",
        "|   +-- do_syscall_64 (7.37%)",
        "|   |   +-- __x64_sys_recvmsg (6.60%)",
        "|   |       +-- __sys_recvmsg (6.56%)",
        "|   |           +-- ___sys_recvmsg (5.23%)",
        "|   |               +-- ____sys_recvmsg (2.97%)",
        "|   |                   +-- sock_recvmsg (2.68%)",
        "|   |                       +-- unix_stream_recvmsg (1.95%)",
        "|   |                           +-- unix_stream_read_generic (1.77%)",  # one level deeper than the report
        "|   +-- clear_bhb_loop (0.63%)",
        "+-- syscall_return_via_sysret (9.03%)",
    ]
    assert expected == lines


def test_folded_and_perf_script_inputs_agree(tmp_path: Path) -> None:
    """Analysing a capture and analysing its folded stacks give the same function counts."""
    from diagnose.report.folded import profile_folded

    perf = load_profile(str(FIXTURES / "stress-ng-futex.perf.txt.gz"))
    folded_path = tmp_path / "f.folded"
    folded_path.write_bytes(profile_folded(perf, kernel_suffix=True))
    folded = load_profile(str(folded_path))

    def counts(p: Profile) -> dict[tuple[str, str], tuple[int, int]]:
        inc, slf = p.inclusive_counts(), p.self_counts()
        return {(f.name, f.kind): (slf[i], inc[i]) for i, f in enumerate(p.frames)}

    assert counts(perf) == counts(folded)
