"""`diagnose diff`: the statistics, comparisons of real captures and of JSON reports, the outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import assert_one_line_error, fixture, run_cli
from diagnose.diff import (Comparison, compare, diff_paths, holm, rate_change, rate_p, share_change, share_p,
                           side_from_report)
from diagnose.knowledge import builtin_knowledge
from diagnose.report.diff_report import diff_dict, render_diff

CPU0 = str(fixture("ffmpeg-libvpx-vp8-cpu0.perf.txt.gz"))  # libvpx at its slowest speed: ~1 core
CPU8 = str(fixture("ffmpeg-libvpx-vp8-cpu8.perf.txt.gz"))  # the same encode at speed 8: ~0.18 cores
LIBVPX = "[libvpx.so.7.1.0]"


@pytest.fixture(scope="module")
def vp8() -> Comparison:
    return diff_paths(CPU0, CPU8, jobs=1)[0]


# -- statistics ----------------------------------------------------------------------------

def test_newcombe_interval_matches_the_published_example() -> None:
    # Newcombe (1998), method 10: 56/70 vs 48/80 -> difference 0.2, 95% interval 0.0524 to 0.3339.
    d, lo, hi = share_change(48, 80, 56, 70)
    assert d == pytest.approx(0.2)
    assert (lo, hi) == pytest.approx((0.0524, 0.3339), abs=5e-4)
    # pooled z = 2.65 (chi-square 7.02 without continuity correction)
    assert share_p(48, 80, 56, 70) == pytest.approx(0.0080, abs=1e-4)


def test_rate_change_interval_and_test() -> None:
    d, lo, hi = rate_change(100, 100.0, 100, 100.0)
    assert d == 0 and lo < 0 < hi and lo == pytest.approx(-hi)
    assert rate_p(100, 100.0, 100, 100.0) == pytest.approx(1.0)
    d, lo, hi = rate_change(0, 10.0, 0, 10.0)
    assert d == 0 and lo < 0 < hi
    d, lo, hi = rate_change(1000, 100.0, 200, 100.0)
    assert d == pytest.approx(-8.0) and hi < 0 and rate_p(1000, 100.0, 200, 100.0) < 1e-50


def test_holm_adjustment() -> None:
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([]) == []


# -- real captures -------------------------------------------------------------------------

def test_codec_speed_change_is_significant_in_cores(vp8: Comparison) -> None:
    assert vp8.primary == "cores"
    assert vp8.total.cores is not None and vp8.total.cores.significant and vp8.total.cores.value < -0.7
    comps = {c.name: c for c in vp8.components}
    codecs = comps["codecs"]
    assert codecs.significant and codecs.direction == "shrank"
    assert codecs.cores is not None and codecs.cores.value < -0.7 and codecs.cores.ci[1] < -0.5
    # In shares the codec also shrinks, but much less (13 points of ~98%): the encoder is still
    # nearly all of what the process does; the real change is the CPU time.
    assert codecs.share is not None and -0.2 < codecs.share.value < -0.05
    # Everything else is claimed unchanged in cores, whatever its share did.
    assert [c.name for c in vp8.components if c.significant] == ["codecs"]
    fn = [c for c in vp8.functions if c.significant]
    assert [c.name for c in fn] == [LIBVPX]
    assert fn[0].cores is not None and fn[0].cores.value < -0.7


def test_a_capture_against_itself_changes_nothing() -> None:
    cmp, _ = diff_paths(CPU8, CPU8, jobs=1)
    assert not [c for c in cmp.components + cmp.functions if c.significant or (c.share and c.share.significant)]
    assert cmp.total.cores is not None and not cmp.total.cores.significant
    assert all(f.status == "persists" and f.score_change == 0 for f in cmp.findings)


def test_renderings_carry_the_significant_change(vp8: Comparison) -> None:
    data = json.loads(render_diff(vp8, "json"))
    assert data["schema"] == "diagnose.diff/v1" and data["primary_measure"] == "cores"
    codecs = next(c for c in data["components"] if c["name"] == "codecs")
    assert codecs["significant"] and codecs["direction"] == "shrank"
    assert codecs["cores_change"]["delta"] < -0.7 and codecs["cores_change"]["ci95"][1] < 0
    assert data["significant"] == {"components": 1, "functions": 1}
    assert data["functions"][0]["name"] == LIBVPX and data["functions"][0]["significant"]
    md = render_diff(vp8, "markdown")
    row = next(line for line in md.splitlines() if line.startswith("| Video and audio codecs"))
    assert "**shrank**" in row and "-0.8" in row
    assert "\\[libvpx.so.7.1.0\\]" in md and "Holm" in md
    term = render_diff(vp8, "terminal", width=140)
    assert "shrank" in term and "CPU used: 0.997 -> 0.176 cores" in term
    with pytest.raises(Exception, match="--format"):
        render_diff(vp8, "html")


# -- JSON reports --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("reports")
    out = []
    for src, name in ((CPU0, "cpu0.json"), (CPU8, "cpu8.json")):
        proc = run_cli("analyze", src, "--format", "json", "-o", str(d / name), "-j", "1")
        assert proc.returncode == 0, proc.stderr
        out.append(d / name)
    return out[0], out[1]


def test_diff_of_two_json_reports(reports: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "diff.json"
    proc = run_cli("diff", str(reports[0]), str(reports[1]), "--format", "json", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["before"]["origin"] == data["after"]["origin"] == "report"
    codecs = next(c for c in data["components"] if c["name"] == "codecs")
    assert codecs["significant"] and codecs["cores_change"]["delta"] < -0.7
    assert {(f["id"], f["status"]) for f in data["findings"]} >= {("codec-hot", "persists")}


def test_reports_and_captures_give_the_same_comparison(reports: tuple[Path, Path], vp8: Comparison) -> None:
    mixed, _ = diff_paths(str(reports[0]), CPU8, jobs=1)
    assert mixed.before.origin == "report" and mixed.after.origin == "capture"
    a, b = diff_dict(mixed), diff_dict(vp8)
    for key in ("components", "functions"):
        assert [(c["name"], c["before"], c["after"], c["significant"]) for c in a[key]] == \
               [(c["name"], c["before"], c["after"], c["significant"]) for c in b[key]]


def test_findings_that_appear_and_disappear(reports: tuple[Path, Path]) -> None:
    kb = builtin_knowledge()
    data = json.loads(reports[0].read_text(encoding="utf-8"))
    before = side_from_report(data, "before.json", kb)
    data["findings"] = [f for f in data["findings"] if f["id"] != "codec-hot"]
    data["findings"].append({"id": "new-rule", "subject": "x", "severity": "medium", "score": 55.0})
    after = side_from_report(data, "after.json", kb)
    status = {(f.id, f.status) for f in compare(before, after).findings}
    assert ("codec-hot", "resolved") in status and ("new-rule", "new") in status


def test_markdown_output_file(tmp_path: Path) -> None:
    out = tmp_path / "diff.md"
    proc = run_cli("diff", CPU0, CPU8, "--format", "markdown", "-o", str(out), "-j", "1")
    assert proc.returncode == 0, proc.stderr
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# CPU profile comparison") and "**shrank**" in text


def test_a_json_file_that_is_not_a_report(tmp_path: Path) -> None:
    bad = tmp_path / "other.json"
    bad.write_text('{"schema": "something/v9"}', encoding="utf-8")
    assert_one_line_error(run_cli("diff", str(bad), CPU8, "-j", "1"), "not a diagnose report")
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema": ', encoding="utf-8")
    assert_one_line_error(run_cli("diff", CPU8, str(broken), "-j", "1"), "not valid JSON")


# -- warnings: captures that compare badly (diagnose.diff_warnings) ---------------------------
BZ_FP = str(fixture("bzip2-fp.perf.txt.gz"))  # bzip2 -9, perf record -g
BZ_DWARF = str(fixture("bzip2-dwarf.perf.txt.gz"))  # the same load, perf record --call-graph dwarf


@pytest.fixture(scope="module")
def unwinders() -> Comparison:
    return diff_paths(BZ_FP, BZ_DWARF)[0]


def test_fp_against_dwarf_says_the_unwinder_changed_not_the_program(unwinders: Comparison) -> None:
    assert [(w.kind, w.before, w.after) for w in unwinders.warnings] == [("call-graph", "fp", "dwarf")]
    md, term = render_diff(unwinders, "markdown"), render_diff(unwinders, "terminal", width=100)
    for text in (md, " ".join(term.split())):
        assert "the unwinder changed, not the program" in text
        assert "frame pointers (--call-graph fp)" in text and "DWARF unwinding (--call-graph dwarf)" in text
    data = json.loads(render_diff(unwinders, "json"))
    assert [(w["kind"], w["before"], w["after"]) for w in data["warnings"]] == [("call-graph", "fp", "dwarf")]
    assert "unwinder changed" in data["warnings"][0]["text"]
    zh = render_diff(unwinders, "markdown", lang="zh")
    assert "变的是栈展开方式，不是程序" in zh


def test_unrelated_captures_warn_that_they_share_no_process() -> None:
    cmp = diff_paths(str(fixture("socat-unix-ipc.perf.txt.gz")), str(fixture("iperf3-udp-recv.perf.txt.gz")))[0]
    assert [(w.kind, w.before, w.after) for w in cmp.warnings] == [("no-common-process", "socat", "iperf3")]
    assert "share no process (before: socat; after: iperf3)" in render_diff(cmp, "markdown")
    assert json.loads(render_diff(cmp, "json"))["warnings"][0]["kind"] == "no-common-process"


def test_one_program_before_and_after_a_change_gives_no_warning(vp8: Comparison) -> None:
    assert vp8.warnings == []  # ffmpeg at two speeds: same process name, event, frequency, unwinder
    assert json.loads(render_diff(vp8, "json"))["warnings"] == []


def test_json_reports_carry_the_call_graph_and_processes_to_diff(tmp_path: Path) -> None:
    """A diff of saved reports warns as a diff of the captures does (capture.call_graph, processes)."""
    paths = []
    for src in (BZ_FP, BZ_DWARF):
        out = tmp_path / (Path(src).name + ".json")
        proc = run_cli("analyze", src, "--format", "json", "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        paths.append(str(out))
    assert json.loads(Path(paths[1]).read_text())["capture"]["call_graph"] == "dwarf"
    cmp = diff_paths(*paths)[0]
    assert [(w.kind, w.before, w.after) for w in cmp.warnings] == [("call-graph", "fp", "dwarf")]


def test_call_graph_mode_from_the_perf_record_command() -> None:
    from diagnose.call_graph_mode import call_graph_mode

    assert call_graph_mode("/usr/bin/perf record -F 99 -g -p 1 -- sleep 5") == "fp"
    assert call_graph_mode("perf record -ag -F 99 -- sleep 1") == "fp"
    assert call_graph_mode("perf record --call-graph dwarf,16384 -p 1") == "dwarf"
    assert call_graph_mode("perf record --call-graph=lbr -p 1") == "lbr"
    assert call_graph_mode("perf record -F 99 -p 1 -- prog -g") == "none"  # -g after -- is the program's
    assert call_graph_mode(None) is None and call_graph_mode("stackcollapse") is None
