"""A rule pack's own knowledge (issue 15): its category (a library the built-in knowledge base
does not know), component, thread roles and recommendation reach every report format in both
languages; its ids are namespaced so they never replace built-in entries by accident; and
`rules validate` lists every error of a pack at once."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import ROOT, fixture, run_cli
from diagnose.pipeline import analyze
from diagnose.report.render import render

PACK = ROOT / "tests" / "packs" / "team-knowledge.yaml"
CAPTURE = fixture("aiortc-call.perf.txt.gz")
# What the pack says, in each language: its recommendation's title, a thread role, the component.
SAYS = {
    "en": ("Convert frames once and reuse them", "sending peer of the team's call test", "Python media bindings"),
    "zh": ("帧只转换一次并复用", "团队通话测试的发送端", "Python 媒体绑定"),
}


@pytest.fixture(scope="module")
def reports() -> dict[str, dict[str, str]]:
    """Terminal, Markdown and JSON of the aiortc call with the pack, in English and Chinese."""
    out = {}
    for lang in ("en", "zh"):
        a = analyze(str(CAPTURE), rules=[str(PACK)], lang=lang)
        out[lang] = {fmt: str(render(a, fmt, to_terminal=False, width=200)) for fmt in ("terminal", "markdown", "json")}
    return out


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("fmt", ["terminal", "markdown", "json"])
def test_the_packs_advice_and_roles_appear_in_every_format(reports: dict[str, dict[str, str]], fmt: str, lang: str) -> None:
    text = reports[lang][fmt]
    if fmt == "markdown":
        text = text.replace("\\_", "_")  # Markdown escapes the underscores of names
    advice, role, component = SAYS[lang]
    other = SAYS["zh" if lang == "en" else "en"]
    assert advice in text and role in text and component in text, (fmt, lang)
    if fmt != "json":  # the JSON holds both languages' texts; a rendered report only its own
        assert other[0] not in text and other[1] not in text


def test_the_json_report_carries_the_packs_finding_category_and_roles(reports: dict[str, dict[str, str]]) -> None:
    data = json.loads(reports["en"]["json"])
    finding = next(f for f in data["findings"] if f["id"] == "team-rtc-bindings")
    assert finding["rule_source"].endswith("team-knowledge.yaml:43")
    rec = finding["recommendations"][0]
    assert rec["id"] == "team-rtc:reuse-frames" and rec["title"] == SAYS["en"][0]
    # Its share is the owned share of the pack's category, as the component table counts it.
    comp = next(c for c in data["profile"]["components"] if c["id"] == "team-rtc:bindings")
    cat = next(c for c in comp["categories"] if c["id"] == "team-rtc:pyav")
    assert cat["samples"] == comp["samples"] > 0
    assert finding["share"] == pytest.approx(cat["share"], abs=1e-6)
    roles = {t["comm"]: t.get("role") for t in data["profile"]["threads"]}
    assert roles["aiortc_send"] == SAYS["en"][1]
    assert roles["aiortc_recv"] == "receiving peer of the team's call test"
    # The built-in knowledge still owns what it recognised: libvpx stays the VP8/VP9 codec's.
    codecs = next(c for c in data["profile"]["components"] if c["id"] == "codecs")
    assert any(c["id"] == "vpx-common" and c["samples"] > 300 for c in codecs["categories"])


def test_without_the_pack_nothing_of_it_shows() -> None:
    a = analyze(str(CAPTURE), lang="en", summaries=False)
    assert all(f.id != "team-rtc-bindings" for f in a.findings)
    assert a.knowledge is not None and "team-rtc:pyav" not in a.knowledge.category_by_id


HEAD = "schema: diagnose.rules/v1\npack: {name: team, version: 1.0.0, engine: '>=1.0'}\n"
REC = "{kind: code, title: {en: T, zh: 标题}, why: {en: W, zh: 原因}}"


def _validate(tmp_path: Path, body: str, *extra: str) -> tuple[int, list[str], str]:
    p = tmp_path / "team.yaml"
    p.write_text(HEAD + body)
    proc = run_cli("rules", "validate", str(p), *extra)
    assert "Traceback" not in proc.stderr
    return proc.returncode, proc.stderr.splitlines(), proc.stdout


def test_a_packs_entry_with_a_built_in_id_is_its_own_not_a_replacement(tmp_path: Path) -> None:
    """`code.recvmmsg` in pack team is team:code.recvmmsg: the built-in advice keeps its text,
    and a rule naming the bare id gets the built-in one."""
    from diagnose.knowledge import builtin_knowledge
    from diagnose.rules import load_packs

    p = tmp_path / "team.yaml"
    p.write_text(HEAD + f"knowledge:\n  recommendations:\n    - {{id: code.recvmmsg, {REC[1:]}\n")
    kb = load_packs([str(p)], builtin_knowledge()).knowledge
    assert kb is not None
    assert kb.recommendations["team:code.recvmmsg"].title["en"] == "T"
    assert kb.recommendations["code.recvmmsg"] == builtin_knowledge().recommendations["code.recvmmsg"]
    # Replacing it is explicit.
    p.write_text(HEAD + f"knowledge:\n  recommendations:\n    - {{id: code.recvmmsg, override: true, {REC[1:]}\n")
    kb = load_packs([str(p)], builtin_knowledge()).knowledge
    assert kb is not None and kb.recommendations["code.recvmmsg"].title["en"] == "T"
    assert "team:code.recvmmsg" not in kb.recommendations
    # An override of what does not exist is an error naming the line.
    p.write_text(HEAD + f"knowledge:\n  recommendations:\n    - {{id: no.such, override: true, {REC[1:]}\n")
    code, lines, _ = _validate(tmp_path, p.read_text()[len(HEAD):])
    assert code == 2 and len(lines) == 1
    assert f"{p}:5: knowledge.recommendations[0].id: override: true names recommendations entry 'no.such'" in lines[0]


def test_a_rule_naming_the_packs_entry_without_its_namespace_is_told_the_full_id(tmp_path: Path) -> None:
    body = (f"knowledge:\n  recommendations:\n    - {{id: tip, {REC[1:]}\n"
            "rules:\n  - {id: r, title: t, severity: low, summary: s, recommend: [tip],\n"
            "     when: [{inclusive_share: {symbol: main}, gte: 0.1}]}\n")
    code, lines, _ = _validate(tmp_path, body)
    assert code == 2 and "unknown knowledge id 'tip'; this pack's own recommendation is team:tip" in lines[0]


FIVE = """knowledge:
  recommendations:
    - {id: a, kind: codee, title: {en: A, zh: 甲}, why: {en: a, zh: 甲}}
rules:
  - {id: r1, title: R1, severity: hgh, summary: s, when: [{inclusive_share: {symbol: x}, gte: 0.1}]}
  - {id: r2, title: R2, severity: low, summary: s, when: [{inclusive_share: {category: [no-such]}, gte: 0.1}]}
  - {id: r3, title: R3, severity: low, summary: s, when: [{inclusive_share: {symbol: "(a+)+"}, gte: 0.1}]}
override:
  - {rule: no-such-rule, params: {warn: 0.3}}
"""


def test_a_pack_with_five_independent_errors_gets_all_five_in_one_run(tmp_path: Path) -> None:
    code, lines, out = _validate(tmp_path, FIVE)
    p = tmp_path / "team.yaml"
    assert code == 2 and out == ""
    assert len(lines) == 6, lines
    assert [int(re.match(rf"{re.escape(str(p))}:(\d+): ", line).group(1)) for line in lines[:5]] == [5, 7, 8, 9, 11]
    assert "kind: unknown kind 'codee'" in lines[0]
    assert "rules[0].severity: unknown severity 'hgh'" in lines[1]
    assert "category: unknown category 'no-such'" in lines[2]
    assert "symbol: nested repetition" in lines[3]
    assert "override names rule 'no-such-rule'" in lines[4]
    assert lines[5] == f"diagnose: error: 5 error(s) in {p}; fix them and run `diagnose rules validate` again"
    # In Chinese the count says it too (the errors of the pack's own texts stay as written).
    code, lines, _ = _validate(tmp_path, FIVE, "--lang", "zh")
    assert code == 2 and lines[-1] == f"diagnose：错误：{p} 中有 5 处错误；请全部修正后再次运行 `diagnose rules validate`"


def test_an_override_of_warn_is_noted_as_changing_the_score_not_whether_it_fires(tmp_path: Path) -> None:
    code, lines, out = _validate(tmp_path, "override:\n  - {rule: udp-receive-heavy, params: {warn: 0.5}}\n"
                                           "  - {rule: codec-hot, params: {info: 0.2}}\n")
    assert code == 0, lines
    notes = [line for line in out.splitlines() if "only the score reads" in line]
    assert len(notes) == 1, out
    assert "override of rule udp-receive-heavy changes warn" in notes[0]
    assert "not whether it fires (that is info)" in notes[0]


def test_explain_rule_of_a_custom_rule_shows_its_pack_and_line(tmp_path: Path, reports: dict[str, dict[str, str]]) -> None:
    report = tmp_path / "report.json"
    report.write_text(reports["en"]["json"])
    proc = run_cli("explain", str(report), "--rule", "team-rtc-bindings", "--width", "200")
    assert proc.returncode == 0, proc.stderr
    assert f"team-rtc-bindings (team-rtc, {PACK}:43)" in proc.stdout or \
        re.search(r"team-rtc-bindings \(team-rtc, \S*team-knowledge\.yaml:45\)", proc.stdout), proc.stdout
