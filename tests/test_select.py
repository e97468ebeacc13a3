"""--pid, --tid and --comm (and --only-pid/--only-tid) on analyze, flamegraph and collapse: each
selection gives the report of exactly the selected threads, counted from the capture's text here."""

from __future__ import annotations

import gzip
import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import assert_one_line_error, fixture, run_cli

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from perf_samples import samples  # noqa: E402

SEED = fixture("original-report-shape.perf.txt.gz")
TWO = fixture("two-process-udp-unix.perf.txt.gz")


@pytest.fixture(scope="module")
def seed_samples() -> list:
    return list(samples(SEED))


def _report(tmp_path: Path, *args: str, src: Path = SEED) -> tuple[dict, str]:
    out = tmp_path / "r.json"
    proc = run_cli("analyze", str(src), "-f", "json", "-o", str(out), *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text()), proc.stderr


def _top_leaf(chosen: list) -> str:
    leaves = Counter(s.frames[0][0] for s in chosen if s.frames)
    (name, n), (_, n2) = leaves.most_common(2)
    assert n > n2  # the truth has one top function
    return name


@pytest.mark.parametrize("pid", [1264187, 1264202])
def test_pid_gives_each_process_its_own_report(tmp_path: Path, seed_samples: list, pid: int) -> None:
    mine = [s for s in seed_samples if s.pid == pid]
    r, err = _report(tmp_path, "--pid", str(pid))
    cap = r["capture"]
    assert cap["total_samples"] == len(mine) == r["profile"]["total_samples"]
    assert [p["pid"] for p in cap["processes"]] == [pid]
    assert {t["pid"] for t in cap["threads"]} == {pid}
    sel = cap["selection"]
    assert sel["pids"] == [pid] and sel["samples"] == len(mine) and sel["of_samples"] == len(seed_samples)
    assert sel["threads"] == len({s.tid for s in mine})
    top = max(r["profile"]["functions"], key=lambda f: f["self_samples"])
    assert top["name"] == _top_leaf(mine)
    assert top["self_samples"] == sum(1 for s in mine if s.frames and s.frames[0][0] == top["name"])
    # cores used are the process's own: its samples / (frequency x duration)
    assert cap["cores_used"] == pytest.approx(len(mine) / (99 * 30), abs=1e-4)
    assert f"pid {pid}" in err and f"{len(mine):,} of {len(seed_samples):,} samples" in err
    assert "selection" in json.dumps(r["capture"]) and r["capture"]["warnings"]


def test_unfiltered_report_has_no_selection(tmp_path: Path) -> None:
    r, err = _report(tmp_path)
    assert r["capture"]["selection"] is None and err == ""


def test_a_finding_of_one_process_is_absent_from_the_others_report(tmp_path: Path) -> None:
    """Two real processes, each with its own bottleneck (fixtures/two-process-udp-unix.yaml)."""
    by_comm = {s.comm: s.pid for s in samples(TWO)}
    iperf, _ = _report(tmp_path, "--pid", str(by_comm["iperf3"]), src=TWO)
    socat, _ = _report(tmp_path, "--pid", str(by_comm["socat"]), src=TWO)
    ids = lambda r: {f["id"] for f in r["findings"]}  # noqa: E731
    assert "udp-receive-heavy" in ids(iperf) and "udp-receive-heavy" not in ids(socat)
    assert "unix-socket-ipc" in ids(socat) and "unix-socket-ipc" not in ids(iperf)


def test_comm_is_a_whole_name_re2_pattern(tmp_path: Path, seed_samples: list) -> None:
    want = [s for s in seed_samples if s.comm in ("network_thread", "worker_thread")]
    r, _ = _report(tmp_path, "--comm", "(network|worker)_thread")
    assert r["capture"]["total_samples"] == len(want)
    r2, _ = _report(tmp_path, "--comm", "network_thread", "--comm", "worker_.*")
    assert r2["capture"]["total_samples"] == len(want)
    # a part of a name is not the name
    proc = run_cli("analyze", str(SEED), "--comm", "network", "-f", "json")
    assert_one_line_error(proc, "comm matching 'network'", "rtc_peer 1264187", "rtc_peer 1264202")
    proc = run_cli("analyze", str(SEED), "--comm", "(a+)+", "-f", "json")
    assert_one_line_error(proc, "--comm", "nested repetition")


def test_tid_and_combinations(tmp_path: Path, seed_samples: list) -> None:
    r, _ = _report(tmp_path, "--tid", "1264188")
    assert r["capture"]["total_samples"] == sum(1 for s in seed_samples if s.tid == 1264188)
    both = [s for s in seed_samples if s.pid == 1264202 and s.comm == "network_thread"]
    r1, _ = _report(tmp_path, "--pid", "1264202", "--comm", "network_thread")
    r2, _ = _report(tmp_path, "--only-pid", "1264202", "--comm", "network_thread")
    assert r1["capture"]["total_samples"] == r2["capture"]["total_samples"] == len(both)
    r3, _ = _report(tmp_path, "--pid", "1264202", "--pid", "1264187", "--only-tid", "1264188", "--tid", "1264203")
    assert r3["capture"]["total_samples"] == sum(1 for s in seed_samples if s.tid in (1264188, 1264203))


def test_a_selection_of_nothing_is_one_line_listing_the_processes() -> None:
    proc = run_cli("analyze", str(SEED), "--pid", "42")
    assert_one_line_error(proc, "pid 42", "2 process(es)", "rtc_peer 1264187", "rtc_peer 1264202")
    proc = run_cli("flamegraph", str(SEED), "--tid", "7", "-o", "-")
    assert_one_line_error(proc, "tid 7", "rtc_peer 1264187")


def test_pid_on_input_without_pids_says_so(tmp_path: Path) -> None:
    # perf script's default fields: tid only. Two single-threaded socat processes recorded with
    # -p 5239,5241 (fixtures/socat-unix-ipc.yaml): each thread is its process's main thread.
    r, _ = _report(tmp_path, "--pid", "5239", src=fixture("socat-unix-ipc.perf.txt.gz"))
    assert {(t["pid"], t["tid"]) for t in r["capture"]["threads"]} == {(5239, 5239)}
    # Two aiortc peers of several threads each, recorded with -p, their pids taken out: a thread
    # that is not a main thread could be either process's.
    text = gzip.decompress(fixture("aiortc-call.perf.txt.gz").read_bytes())
    no_pids = tmp_path / "aiortc-no-pids.perf.txt"
    no_pids.write_bytes(re.sub(rb"^(\S.*?\s+)\d+/(\d+)(\s)", rb"\1\2\3", text, flags=re.MULTILINE))
    proc = run_cli("analyze", str(no_pids), "--pid", "9897")
    assert_one_line_error(proc, "names no process ids", "--tid")
    r, _ = _report(tmp_path, "--tid", "9897", src=no_pids)
    assert r["capture"]["selection"]["tids"] == [9897] and {t["tid"] for t in r["capture"]["threads"]} == {9897}
    # folded stacks without comm-PID roots
    folded = tmp_path / "plain.folded"
    assert run_cli("collapse", str(SEED), "-o", str(folded)).returncode == 0
    proc = run_cli("analyze", str(folded), "--pid", "1264187")
    assert_one_line_error(proc, "names no process ids", "comm-PID")
    proc = run_cli("collapse", str(folded), "--only-pid", "1264187")
    assert_one_line_error(proc, "names no process ids")


def _folded(text: str) -> Counter:
    out: Counter = Counter()
    for line in text.splitlines():
        stack, n = line.rsplit(" ", 1)
        out[stack] += int(n)
    return out


def test_collapse_only_pid_keeps_its_pid_and_tid_flags(tmp_path: Path) -> None:
    full = run_cli("collapse", str(SEED), "--tid")
    assert full.returncode == 0
    one = run_cli("collapse", str(SEED), "--tid", "--only-pid", "1264202")
    assert one.returncode == 0, one.stderr
    want = Counter({k: v for k, v in _folded(full.stdout).items() if k.split(";", 1)[0].split("-")[-1].startswith("1264202/")})
    assert want and _folded(one.stdout) == want
    # folded input carrying comm-PID/TID roots can be selected too, and gives the same stacks
    folded = tmp_path / "tid.folded"
    folded.write_text(full.stdout)
    again = run_cli("collapse", str(folded), "--only-tid", "1264203")
    assert again.returncode == 0, again.stderr
    by_root = Counter()
    for k, v in _folded(full.stdout).items():
        root, rest = k.split(";", 1)
        if root.endswith("/1264203"):
            by_root[root.rsplit("-", 1)[0] + ";" + rest] += v
    assert _folded(again.stdout) == by_root


def test_flamegraph_draws_the_selected_threads(tmp_path: Path, seed_samples: list) -> None:
    out = tmp_path / "f.svg"
    proc = run_cli("flamegraph", str(SEED), "--only-pid", "1264187", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    n = sum(1 for s in seed_samples if s.pid == 1264187)
    svg = out.read_text()
    assert f"{n:,} samples" in svg or f"{n} samples" in svg
    assert f"{len(seed_samples):,} samples" not in svg


def test_graph_draws_the_selected_process_only(tmp_path: Path) -> None:
    """On the two-process capture, `graph --pid` keeps the chosen process's functions and their
    inclusive samples, counted here from the capture's text."""
    import networkx as nx

    two = list(samples(TWO))
    counts = Counter(s.pid for s in two)
    (pid, n), (other, _) = counts.most_common(2)
    out = tmp_path / "g.graphml"
    proc = run_cli("graph", str(TWO), "--pid", str(pid), "--format", "graphml", "--node-threshold", "0",
                   "--edge-threshold", "0", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    g = nx.read_graphml(out)
    names = {d.get("name", k) for k, d in g.nodes(data=True)}

    def name(sym: str) -> str:  # perf prints symbol versions (clock_gettime@@GLIBC_2.17); names drop them
        return sym.split("@@", 1)[0]

    mine = {name(f[0]) for s in two if s.pid == pid for f in s.frames}
    only_other = {name(f[0]) for s in two if s.pid == other for f in s.frames} - mine
    assert names and names <= mine | {"[unknown]"}
    assert only_other and not names & only_other
    roots = Counter(name(s.frames[-1][0]) for s in two if s.pid == pid and s.frames)
    top_root, top_n = roots.most_common(1)[0]
    node = next(d for k, d in g.nodes(data=True) if d.get("name", k) == top_root)
    assert int(node["inclusive_samples"]) == top_n <= n
