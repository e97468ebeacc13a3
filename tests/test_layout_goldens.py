"""Terminal layout at 80, 100 and 140 columns: goldens of `analyze` (the seed-shaped capture, the
aiortc call, GStreamer's libwebrtc audio processing with long C++ names), `run`'s report (a saved
run folder), `diff`, `explain` and `rules list`, rendered in-process, plus structural checks on
every golden: no line wider than the terminal, no identifier broken mid-name (every line break is
checked against the names the JSON report holds), no cell cut with `…` at its end, findings and
table rows numbered 1, 2, 3, ... Goldens are written by `pytest --update-goldens`, never by hand."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rich.cells import cell_len

from conftest import FIXTURES, ROOT
from diagnose.report.fit import BOUNDARIES

GOLDENS = Path(__file__).parent / "goldens" / "layout"
WIDTHS = (80, 100, 140)
CAPTURES = {"seed": "original-report-shape.perf.txt.gz", "aiortc": "aiortc-call.perf.txt.gz",
            "webrtcdsp": "gst-webrtcdsp.perf.txt.gz", "run-janus": "lab/janus-videoroom"}
TOKEN_EDGE = "([{'\"`,;:)]}"


@pytest.fixture(scope="module")
def analyses(request: pytest.FixtureRequest) -> dict[str, object]:
    from diagnose.pipeline import analyze

    mp = pytest.MonkeyPatch()
    mp.chdir(ROOT)  # sources as given: relative, the same on every machine
    request.addfinalizer(mp.undo)
    return {key: analyze(f"fixtures/{path}") for key, path in CAPTURES.items()}


@pytest.fixture(scope="module")
def reports(analyses: dict[str, object]) -> dict[str, dict]:
    from diagnose.report.json_report import render_json

    return {key: json.loads(render_json(a)) for key, a in analyses.items()}  # type: ignore[arg-type]


def names_of(report: dict) -> tuple[set[str], set[str]]:
    """(function names, which may break after a boundary; ids and file names, which never break)."""
    listed = report["profile"]["functions"] if "profile" in report else []
    assert listed or "profile" not in report
    functions = {f["name"] for f in listed if not f["name"].startswith("[")}
    whole = {f.get("module", "").rsplit("/", 1)[-1] for f in listed}
    whole |= {f["name"] for f in listed if f["name"].startswith("[")}  # [libvpx.so.7]: a file, not cut
    cap = report.get("capture", {})
    whole |= {t.get("comm", "") for t in cap.get("threads", [])} | {cap.get("source") or ""}
    whole |= {f["id"] for f in report.get("findings", [])}
    whole |= {r["id"] for r in (report.get("evaluation") or {}).get("rules", [])}
    return {n for n in functions if len(n) > 3}, {n for n in whole if len(n) > 3}


def _tokens(line: str) -> list[str]:
    return [t.strip(TOKEN_EDGE) for t in re.split(r"[\s│║╭╮╰╯─]+", line) if t.strip(TOKEN_EDGE)]


def broken_names(text: str, breakable: set[str], whole: set[str]) -> list[str]:
    """Names whose head ends a token of one line and whose tail starts a token of the next (in any
    column); a function name may break after `::`, `.`, `/` or `;`, an id or a file name nowhere."""
    names = {n.strip(TOKEN_EDGE): n in breakable for n in breakable | whole}
    lines = text.splitlines()
    bad = []
    for a, b in zip(lines, lines[1:]):
        tails = _tokens(b)
        for head in set(_tokens(a)):
            for name, may_break in names.items():
                if len(head) >= len(name) or not name.startswith(head):
                    continue
                if may_break and head.endswith(BOUNDARIES):
                    continue
                tail = name[len(head):]
                if any(t == tail or (t.startswith(tail) and not re.match(r"\w", t[len(tail)])) for t in tails):
                    bad.append(f"{head} | {tail}")
    return bad


def check_layout(text: str, width: int, breakable: set[str], whole: set[str]) -> None:
    wide = [line for line in text.splitlines() if cell_len(line) > width]
    assert not wide, f"lines wider than {width}: {wide[:3]}"
    assert not broken_names(text, breakable, whole), broken_names(text, breakable, whole)[:5]
    cut = [t for line in text.splitlines() for t in re.split(r"\s+", line) if t.endswith("…")]
    assert not cut, f"cells cut at their end: {cut[:5]}"
    numbers = [int(m.group(1)) for m in re.finditer(r"^│ (\d+)\. ", text, re.MULTILINE)]
    assert numbers == list(range(1, len(numbers) + 1)), f"findings numbered {numbers}"
    for table in re.split(r"\n\s*\n", text):  # each table's "#" column: 1, 2, 3, ...
        rows = [int(m.group(1)) for m in re.finditer(r"^ {0,2}(\d+) {3}\S", table, re.MULTILINE)]
        assert rows == list(range(1, len(rows) + 1)), f"rows numbered {rows}"


def golden(name: str, text: str, request: pytest.FixtureRequest) -> None:
    path = GOLDENS / f"{name}.txt"
    if request.config.getoption("--update-goldens"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run pytest --update-goldens"
    assert text == path.read_text(), f"{path} differs: review the change, then run pytest --update-goldens"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("key", list(CAPTURES))
def test_analyze_and_run_report(key: str, width: int, analyses: dict, reports: dict,
                                request: pytest.FixtureRequest) -> None:
    from diagnose.report.terminal import render_terminal

    text = render_terminal(analyses[key], width=width)
    check_layout(text, width, *names_of(reports[key]))
    golden(f"analyze-{key}.{width}", text, request)


@pytest.mark.parametrize("width", WIDTHS)
def test_explain(width: int, reports: dict, request: pytest.FixtureRequest) -> None:
    from diagnose.report.explain_view import render_explain

    report = reports["seed"]
    text = render_explain(report, None, None, "en", width, False)
    text += render_explain(report, "unix-socket-ipc", None, "en", width, False)
    check_layout(text, width, *names_of(report))
    golden(f"explain-seed.{width}", text, request)


@pytest.mark.parametrize("width", WIDTHS)
def test_diff(width: int, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    from diagnose.diff import diff_paths
    from diagnose.report.diff_report import diff_dict, render_terminal

    monkeypatch.chdir(ROOT)
    cmp, _ = diff_paths("fixtures/ffmpeg-libvpx-vp8-cpu0.perf.txt.gz", "fixtures/ffmpeg-libvpx-vp8-cpu8.perf.txt.gz")
    text = render_terminal(cmp, width)
    doc = diff_dict(cmp, "en")
    breakable = {f["name"] for f in doc["functions"] if len(f["name"]) > 3}
    whole = {f["module"] for f in doc["functions"] if len(f.get("module") or "") > 3}
    check_layout(text, width, breakable, whole)
    assert "Δ cores [95%]" in text  # the last column whole, never clipped
    golden(f"diff-vp8.{width}", text, request)


@pytest.mark.parametrize("width", WIDTHS)
def test_rules_list(width: int, request: pytest.FixtureRequest) -> None:
    import io

    from rich.console import Console

    from diagnose.commands.rules import rules_table
    from diagnose.knowledge import builtin_knowledge
    from diagnose.rules import load_packs

    ruleset = load_packs(None, builtin_knowledge())
    buf = io.StringIO()
    Console(file=buf, width=width, highlight=False).print(rules_table(ruleset, "en", width))
    text = buf.getvalue()
    ids = {r.id for r in ruleset.rules}
    check_layout(text, width, set(), ids)
    for rid in ids:  # every id whole on one line
        assert re.search(rf"(^|\s){re.escape(rid)}(\s|$)", text, re.MULTILINE), rid
    golden(f"rules-list.{width}", text, request)


def test_the_checks_catch_what_the_issue_saw() -> None:
    """The structural checks fail on the layout issue 13 reported (a name folded mid-identifier,
    a module cut after a dot, numbers with a gap), so a golden that passes them is not luck."""
    folded = "  6   webrtc::RTCStatsCollector::GetSta   rtc_peer\n      tsReport\n"
    assert broken_names(folded, {"webrtc::RTCStatsCollector::GetStatsReport"}, set())
    at_scope = "  6   webrtc::RTCStatsCollector::   rtc_peer\n      GetStatsReport\n"
    assert not broken_names(at_scope, {"webrtc::RTCStatsCollector::GetStatsReport"}, set())
    module = " [libvpx-edb6de90.so.12.0.   2.74%\n 0]\n"
    assert broken_names(module, set(), {"[libvpx-edb6de90.so.12.0.0]"})
    rule = " │ mitigation-overhe │ linux │\n │ ad                │       │\n"
    assert broken_names(rule, set(), {"mitigation-overhead"})
    with pytest.raises(AssertionError):
        check_layout("│ 1. a\n│ 3. b\n", 80, set(), set())
    with pytest.raises(AssertionError):
        check_layout(" name   Δ cores [9…\n", 80, set(), set())


def test_inclusive_list_skips_thread_wide_frames_and_says_so(analyses: dict, reports: dict) -> None:
    """The seed-shaped capture's roots (rtc::Thread::Run on every stack, clone3 and start_thread on
    every stack of their threads) are named in one line, not listed; the JSON keeps them."""
    from diagnose.report.terminal import render_terminal

    text = render_terminal(analyses["seed"], width=140)
    incl = text[text.index("Hottest functions by inclusive time"):text.index("Kernel / user")]
    table, _, note = incl.partition("Not listed:")
    for root in ("rtc::Thread::Run", "clone3", "start_thread"):
        assert root not in table and root in note
    assert "rtc_ipc::Channel::OnReadable" in table  # 39.55%: on part of its threads' stacks only
    rows = re.findall(r"^ {0,2}(\d+) {3}", table, re.MULTILINE)
    assert rows == [str(i) for i in range(1, 16)]
    json_names = {f["name"]: f for f in reports["seed"]["profile"]["functions"]}
    assert json_names["rtc::Thread::Run"]["inclusive_samples"] == 6200


def test_overview_says_when_and_how_it_was_recorded(analyses: dict, reports: dict) -> None:
    from diagnose.call_graph_mode import call_graph_mode as call_graph_of
    from diagnose.report.terminal import render_terminal

    text = render_terminal(analyses["seed"], width=100)
    assert "Captured on         2025-08-04 10:22:55" in text  # perf's "Mon Aug  4 10:22:55 2025"
    assert "perf version        6.8.12" in text and "frame pointers (--call-graph fp)" in text
    assert reports["seed"]["capture"]["call_graph"] == "fp"
    dwarf = "/usr/bin/perf record -e cpu-clock -F 99 --call-graph dwarf -D -1 -p 18041 -o x/perf.data"
    assert call_graph_of(dwarf) == "dwarf" and call_graph_of("perf record --call-graph=lbr -p 1") == "lbr"
    assert call_graph_of("perf record -F 99 -p 1 -- sleep 5") == "none" and call_graph_of("sleep 5") is None
