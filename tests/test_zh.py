"""Every command with --lang zh is Chinese: no English word left that is not a symbol, a number, a
unit or a code identifier (tests/helpers/zh_words.py defines exactly what is allowed), full-width
punctuation after Chinese words, and no space that YAML line folding left between Chinese words.

Reports are rendered in-process from one analysis per capture; the CLI runs only where the command
itself is what is tested (`rules`, errors and warnings)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import fixture, run_cli
from rich.cells import cell_len

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from zh_words import english_words, knowledge_code_tokens, name_tokens  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE_CODE = knowledge_code_tokens(ROOT)

# What a report holds that is a name, not prose: the input's own names and the ids of rules,
# categories, advice and sysctls (fields of the JSON report).
NAME_FIELDS = {"name", "module", "comm", "id", "key", "subject", "source", "pack", "selector", "measure", "kind",
               "category", "component", "apply", "persist", "value", "current", "command", "host", "hostname",
               "event", "tags", "explained_by", "explains", "format", "label", "rule", "cpu_model", "derived"}
# After a Chinese character or a closing full-width bracket: an ASCII . , : ; that ends a clause.
HALF_WIDTH = re.compile(r"[\u4e00-\u9fff）][.,:;](?=\s|$)", re.MULTILINE)
# A space YAML folding left: after a Chinese mark, or between two Chinese characters (one space:
# table columns are apart by two or more).
FOLDING = re.compile(r"[，。：；、）] (?=[\u4e00-\u9fff])|[\u4e00-\u9fff] (?=[\u4e00-\u9fff])")
# Two bare captures (one of two processes) and a `diagnose run` folder (threads, sockets, counted
# system calls measured beside the samples).
CAPTURES = ("aiortc-call.perf.txt.gz", "two-process-udp-unix.perf.txt.gz", "lab/janus-videoroom")


def names_of(report: dict[str, Any]) -> set[str]:
    found: list[str] = []

    def walk(x: Any, key: str | None) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if k != "texts":
                    walk(v, k)
        elif isinstance(x, list):
            for v in x:
                walk(v, key)
        elif isinstance(x, str) and key in NAME_FIELDS:
            found.append(x)

    walk(report, None)
    return name_tokens(found) | KNOWLEDGE_CODE


def assert_chinese(text: str, names: set[str], what: str) -> None:
    import html

    text = html.unescape(re.sub(r"\\([\\`*_{}\[\]<>()#+\-.!|])", r"\1", text))  # Markdown escapes
    assert re.search(r"[\u4e00-\u9fff]", text), f"{what}: no Chinese at all"
    bad = english_words(text, names)
    lines = [line.strip() for line in text.splitlines() if english_words(line, names)]
    assert not bad, f"{what}: English words {sorted(set(bad))} in:\n" + "\n".join(lines[:12])
    half = [m.group(0) for m in HALF_WIDTH.finditer(text)]
    assert not half, f"{what}: half-width punctuation after Chinese words: {half[:10]}"
    folded = [m.group(0) for m in FOLDING.finditer(text)]
    assert not folded, f"{what}: spaces between Chinese words: {folded[:10]}"


@pytest.fixture(scope="module", params=CAPTURES)
def zh(request: pytest.FixtureRequest) -> dict[str, Any]:
    from diagnose.pipeline import analyze
    from diagnose.report.json_report import render_json

    analysis = analyze(str(fixture(request.param)), lang="zh")
    report = json.loads(render_json(analysis))
    return {"analysis": analysis, "report": report, "names": names_of(report), "name": request.param}


def test_analyze_terminal_is_chinese(zh: dict[str, Any]) -> None:
    from diagnose.report.terminal import render_terminal

    # Wide enough that no name is wrapped: wrapping is the layout's business, words are ours.
    assert_chinese(render_terminal(zh["analysis"], width=400), zh["names"], f"analyze {zh['name']}")


@pytest.mark.parametrize("width", (80, 100))
def test_analyze_terminal_in_chinese_keeps_every_word_at_80_and_100_columns(zh: dict[str, Any], width: int) -> None:
    """Chinese has no spaces to wrap at: a run longer than the line is broken between characters,
    not cut with `…` (the words after the cut were lost)."""
    from diagnose.report.terminal import render_terminal

    text = render_terminal(zh["analysis"], width=width)
    assert not [line for line in text.splitlines() if cell_len(line) > width]
    cut = [t for line in text.splitlines() for t in re.split(r"\s+", line) if t.endswith("…")]
    assert not cut, f"text cut at the end of a line: {cut[:5]}"
    flat = re.sub(r"[\s│]", "", text)
    for f in zh["analysis"].findings:
        assert re.sub(r"\s", "", f.summary["zh"]) in flat, f"{f.id}: its summary is not shown whole"


def test_analyze_markdown_is_chinese(zh: dict[str, Any]) -> None:
    from diagnose.report.markdown import render_markdown

    assert_chinese(render_markdown(zh["analysis"]), zh["names"], f"analyze --format markdown {zh['name']}")


def test_explain_is_chinese(zh: dict[str, Any]) -> None:
    """The overview, every finding (--finding) and every rule (--rule), as `explain` renders them."""
    from diagnose.report.explain_view import render_explain

    report = zh["report"]
    assert_chinese(render_explain(report, None, None, "zh", 400, False), zh["names"], "explain")
    assert report["findings"], "the capture should have findings to explain"
    for f in report["findings"]:
        out = render_explain(report, f["id"], None, "zh", 400, False)
        assert_chinese(out, zh["names"], f"explain --finding {f['id']}")
        assert "How it was reached" not in out and "rank" not in out
    rules = report["evaluation"]["rules"]
    assert {r["status"] for r in rules} >= {"fired", "not-fired"}
    for r in rules:
        assert_chinese(render_explain(report, None, r["id"], "zh", 400, False), zh["names"],
                       f"explain --rule {r['id']}")


def test_flamegraph_and_graph_labels_are_chinese(zh: dict[str, Any]) -> None:
    import html

    from diagnose.graph_export import GraphOptions, export_graph
    from diagnose.report.flamegraph import render_flamegraph
    from diagnose.report.graph_dot import render_dot

    svg = render_flamegraph(zh["analysis"])
    body = re.sub(r"<script.*?</script>|<style.*?</style>", "", svg, flags=re.DOTALL)
    # A box's label cut to fit ends in "..": a piece of a function's name, not a word.
    shown = "\n".join(html.unescape(t) for t in re.findall(r">([^<>]+)<", body) if not t.endswith(".."))
    # "all" is the root box, named as FlameGraph names it.
    assert_chinese(shown, zh["names"] | {"all"}, "flamegraph")
    graph, _ = export_graph(zh["analysis"], GraphOptions(lang="zh").check())
    labels = "\n".join(json.loads(f'"{x}"') for x in re.findall(r'(?:label|tooltip)="((?:[^"\\]|\\.)*)"',
                                                                 render_dot(graph, "zh")))
    assert_chinese(labels.replace("\\n", "\n"), zh["names"] | name_tokens(graph.nodes[n]["name"] for n in graph),
                   "graph")


def test_diff_is_chinese() -> None:
    from diagnose.diff import diff_paths
    from diagnose.report.diff_report import render_diff

    cmp, _ = diff_paths(str(fixture("ffmpeg-libvpx-vp8-cpu0.perf.txt.gz")),
                        str(fixture("ffmpeg-libvpx-vp8-cpu8.perf.txt.gz")), lang="zh")
    report = json.loads(render_diff(cmp, "json", lang="zh"))
    names = names_of(report)
    for fmt in ("terminal", "markdown"):
        out = render_diff(cmp, fmt, width=300, lang="zh")
        assert "CPU profile comparison" not in out
        assert_chinese(out, names, f"diff --format {fmt}")


@pytest.mark.parametrize("args", [("rules", "list"), ("rules", "list", "--knowledge"),
                                  ("rules", "validate", "rules/linux.yaml")])
def test_rules_command_is_chinese(args: tuple[str, ...]) -> None:
    proc = run_cli(*args, "--lang", "zh", env={"COLUMNS": "300"})
    assert proc.returncode == 0, proc.stderr
    from diagnose.knowledge import builtin_knowledge

    kb = builtin_knowledge()
    # Ids, packs, kinds and tags are names; titles must be Chinese.
    ids = name_tokens([*(r for r in kb.recommendations), *(c.id for c in kb.categories), *(c.component for c in
                                                                                          kb.categories)])
    ids |= name_tokens(["linux", "webrtc", "sysctl", "webrtc", "code", "system", "investigate", "config"])
    from diagnose.rules import load_packs

    for r in load_packs(None, kb).rules:
        ids |= name_tokens([r.id, r.pack, *r.tags])
    assert_chinese(proc.stdout, ids, " ".join(args))


@pytest.mark.parametrize("args,path", [
    (("analyze", "{missing}"), "missing"),
    (("analyze", "{empty}"), "empty"),
    (("analyze", "{fixture}", "--width", "5"), None),
    (("analyze", "{fixture}", "--format", "nope"), None),
    (("analyze", "{fixture}", "--pid", "999999"), None),
    (("explain", "{missing}"), "missing"),
    (("collapse", "{missing}"), "missing"),
    (("run", "--pid", "999999999", "--duration", "1"), None),
    (("run",), None),
])
def test_errors_are_chinese(args: tuple[str, ...], path: str | None, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    values = {"missing": str(tmp_path / "missing.perf.txt"), "empty": str(empty),
              "fixture": str(fixture("aiortc-call.perf.txt.gz"))}
    proc = run_cli(*(a.format(**values) for a in args), "--lang", "zh")
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith("diagnose：错误："), line
    names = name_tokens([*values.values(), "aiortc_send", "aiortc_recv", "terminal", "json", "markdown", "svg",
                         "pprof", "speedscope"])
    assert_chinese(line, names, " ".join(args))


def test_warnings_are_chinese(tmp_path: Path) -> None:
    """A folded capture without kernel marks: the warning on stderr and in the report."""
    folded = tmp_path / "plain.folded"
    folded.write_text("app;main;work 30\napp;main;idle 10\n")
    proc = run_cli("analyze", str(folded), "--lang", "zh", "--width", "300")
    assert proc.returncode == 0, proc.stderr
    names = name_tokens([str(folded), "app", "main", "work", "idle"])
    warning = proc.stderr.strip()
    assert warning.startswith("diagnose：警告："), warning
    assert_chinese(warning, names, "warning")
    assert "折叠栈没有 _[k] 标注" in proc.stdout


def test_every_chinese_text_of_the_knowledge_base_and_rules() -> None:
    """Every zh text of knowledge/*.yaml and rules/*.yaml, as loaded (placeholders left out), not only
    those the captures above bring into a report."""
    import yaml

    from diagnose.texts import zh_tidy

    texts: list[tuple[str, str]] = []

    def walk(x: Any, where: str) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "zh" and isinstance(v, str):
                    texts.append((where, re.sub(r"\{[a-z_]+(:[a-z]+)?\}", "0", zh_tidy(v))))
                else:
                    walk(v, f"{where}.{k}")
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, f"{where}[{i}]")

    for path in sorted([*ROOT.glob("knowledge/*.yaml"), *ROOT.glob("rules/*.yaml")]):
        walk(yaml.safe_load(path.read_text(encoding="utf-8")), path.name)
    assert len(texts) > 500
    bad = [(where, sorted(set(english_words(t, KNOWLEDGE_CODE)))) for where, t in texts
           if english_words(t, KNOWLEDGE_CODE)]
    assert not bad, f"{len(bad)} Chinese texts hold English words: {bad[:15]}"
    folded = [where for where, t in texts if FOLDING.search(t) or HALF_WIDTH.search(t)]
    assert not folded, f"folding spaces or half-width punctuation in: {folded[:15]}"


def _command_tree() -> list[tuple[list[str], Any]]:
    import typer.main

    from diagnose.cli import app

    out: list[tuple[list[str], Any]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        out.append((path, cmd))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return out


def _help_names() -> set[str]:
    """What a help screen shows that is code: command, option and argument names, option values
    (defaults, the values an option lists), the program as Python runs it, typer's metavars."""
    found = ["python", "OPTIONS", "COMMAND", "ARGS"]
    for path, cmd in _command_tree():
        found += path
        for p in cmd.params:
            found += [p.name or "", *p.opts, str(p.default)]
    return name_tokens(found) | KNOWLEDGE_CODE


# typer's metavars: <str>, <list[str]>, {input} (an argument's name).
METAVAR = re.compile(r"<[a-z\[\], ]+>|\{\w+\}")
COMMAND_PATHS = [" ".join(path) for path, _ in _command_tree()]


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda p: p or "diagnose")
def test_help_is_chinese(path: str) -> None:
    """`--help` of every command and group with --lang zh: the command's and each option's help,
    the panel titles and marks, and nothing cut short with an ellipsis."""
    proc = run_cli(*path.split(), "--lang", "zh", "--help", env={"COLUMNS": "100"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "…" not in out, out
    for english in ("Usage", "Options", "Show this message", "[default:", "[required]"):
        assert english not in out, (english, out)
    assert_chinese(METAVAR.sub(" ", out), _help_names(), f"{path} --help")


def test_english_help_is_unchanged() -> None:
    """Without --lang zh, typer's help as it was: English texts, English panels, no Chinese."""
    proc = run_cli("analyze", "--help", env={"COLUMNS": "100"})
    assert proc.returncode == 0, proc.stderr
    assert "Usage: " in proc.stdout and "─ Options ─" in proc.stdout and "[default: terminal]" in proc.stdout
    assert "Analyse a capture: findings with advice" in proc.stdout
    assert "Show this message and exit." in proc.stdout
    assert not re.search(r"[\u4e00-\u9fff]", proc.stdout)


@pytest.mark.parametrize("args", [
    ("analyze", "--bogus", "x"),  # no such option
    ("analyze",),  # missing argument
    ("analyze", "x", "--width", "wide"),  # invalid value
    ("anlyze",),  # no such command
    ("diff", "a", "b", "c"),  # extra argument
    ("rules", "nosuch"),
])
def test_usage_errors_are_chinese(args: tuple[str, ...]) -> None:
    proc = run_cli(*args, "--lang", "zh")
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith("diagnose：错误："), line
    assert proc.stdout == ""
    assert_chinese(line, _help_names() | {"anlyze", "nosuch", "bogus", "wide"}, " ".join(args))


def test_lang_before_the_command_is_the_commands_default() -> None:
    """`diagnose --lang zh rules list` is `diagnose rules list --lang zh`."""
    before = run_cli("--lang", "zh", "rules", "list", env={"COLUMNS": "200"})
    after = run_cli("rules", "list", "--lang", "zh", env={"COLUMNS": "200"})
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    assert before.stdout == after.stdout and "规则" in before.stdout


def test_rules_test_says_unmet_expectations_in_chinese(tmp_path: Path) -> None:
    """A pack whose test cases fail in every way `rules test` knows: each unmet expectation, and why
    the expected rule did not fire, in Chinese (the English is kept for --lang en)."""
    from conftest import FIXTURES, run_cli

    pack = tmp_path / "team.yaml"
    capture = FIXTURES / "iperf3-udp-recv.perf.txt.gz"
    pack.write_text(
        "schema: diagnose.rules/v1\npack: {name: team, version: 1.0.0, engine: '>=1.0'}\nrules: []\ntests:\n"
        f"  - {{capture: {capture}, expect: [codec-hot, no-such-rule], expect_not: [syscall-heavy],"
        " top: codec-hot, severity_at_most: info}\n"
        "  - {capture: missing.perf.txt.gz, expect: [codec-hot]}\n")
    en = run_cli("rules", "test", str(pack))
    assert en.returncode == 1 and "expected codec-hot to fire; it did not" in en.stdout, en.stdout + en.stderr
    zh = run_cli("rules", "test", str(pack), "--lang", "zh")
    assert zh.returncode == 1, zh.stdout + zh.stderr
    for said in ("预期 codec-hot 触发", "没有这条规则", "预期 syscall-heavy 不触发", "排名第一", "找不到采集"):
        assert said in zh.stdout, zh.stdout
    from diagnose.knowledge import builtin_knowledge
    from diagnose.rules import load_packs

    names = {"codec-hot", "no-such-rule", "team", str(capture), str(tmp_path / "missing.perf.txt.gz"),
             "iperf3-udp-recv.perf.txt.gz", "missing.perf.txt.gz", "pselect6"}
    names |= {r.id for r in load_packs(None, builtin_knowledge()).rules}  # the findings that fired instead
    assert_chinese(zh.stdout, name_tokens(list(names)) | names, "rules test --lang zh")
