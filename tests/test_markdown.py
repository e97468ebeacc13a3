"""The shareable Markdown report, in English and Chinese. Goldens are regenerated with
`pytest --update-goldens`, never edited by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT, fixture, run_cli
from diagnose.knowledge import builtin_knowledge
from diagnose.pipeline import analyze
from diagnose.report.markdown import render_markdown
from diagnose.rules import load_packs

GOLDENS = Path(__file__).parent / "goldens"
SECTIONS_EN = ["## 1. Capture overview", "## 2. Hottest functions and call chains", "## 3. System-call overhead",
               "## 4. Where the time goes, by component", "## 5. Performance assessment",
               "## 6. Findings and recommendations", "## 7. How to read the flame graph", "## 8. Verdict"]
SECTIONS_ZH = ["## 1. 采集概况", "## 2. 最热函数与调用链", "## 3. 系统调用开销", "## 4. 按组件划分的时间分布",
               "## 5. 性能评估", "## 6. 诊断发现与优化建议", "## 7. 如何阅读火焰图", "## 8. 结论"]


def markdown(name: str, lang: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(ROOT)  # the report names its source as given: keep it relative
    return render_markdown(analyze(f"fixtures/{name}", lang=lang))


def test_report_shaped_like_the_original_has_every_section_and_reads_ipc_right(monkeypatch: pytest.MonkeyPatch) -> None:
    md = markdown("original-report-shape.perf.txt.gz", "en", monkeypatch)
    positions = [md.index(s) for s in SECTIONS_EN]
    assert positions == sorted(positions)
    findings = md[md.index(SECTIONS_EN[5]):md.index(SECTIONS_EN[6])]
    assert "Local IPC over Unix sockets" in findings and "this is IPC, not network receive" in findings
    assert "~~sysctl net.core.rmem\\_max~~ (would not help)" in findings
    assert "it caps SO\\_RCVBUF requests of network sockets" in findings
    assert "sudo sysctl -w net.core.rmem_max" not in md  # no socket-buffer command to paste
    assert "| `recvmsg` | receive | 20.52% |" in md and "`__libc_recvmsg`" in md  # one row per call, its caller
    assert "├── entry_SYSCALL_64_after_hwframe (11.48%)" in md
    verdict = md[md.index(SECTIONS_EN[7]):]
    assert "Unix socket" in verdict and "Not worth doing" in verdict


def english_texts() -> set[str]:
    """Every English text of the built-in rules and knowledge that has a Chinese version."""
    kb = builtin_knowledge()
    texts: set[str] = set()

    def add(t: dict[str, str] | None) -> None:
        # Prose only: code such as RTCRtpSender.setParameters({...}) stays code in both languages.
        if t and t.get("zh") and t.get("en") and t["en"] != t["zh"]:
            texts.update(x.strip() for x in re.split(r"[{}()\[\]'\"`]", t["en"])
                         if len(x.strip()) >= 16
                         and sum(1 for w in x.split() if re.fullmatch(r"[a-z]{3,}[,.;:]?", w)) >= 3)

    for r in load_packs([], kb, use_env=False).rules:
        for t in (r.title, r.summary, r.explanation, *[nh.why for nh in r.not_helpful]):
            add(t)
    for rec in kb.recommendations.values():
        for t in (rec.title, rec.why, rec.caveats, rec.where):
            add(t)
    for c in kb.categories:
        add(c.title)
    for c in kb.components.values():
        add(c.title)
    return texts


@pytest.mark.parametrize("name", ["original-report-shape.perf.txt.gz", "socat-unix-ipc.perf.txt.gz",
                                  "iperf3-udp-recv.perf.txt.gz", "ffmpeg-libvpx-vp8.perf.txt.gz"])
def test_chinese_report_has_no_english_rule_text_left(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    md = markdown(name, "zh", monkeypatch)
    for s in SECTIONS_ZH:
        assert s in md
    plain = md.replace("\\", "")
    left = [t for t in english_texts() if t.replace("\\", "") in plain]
    assert left == []
    assert not re.search(r"\b(Capture overview|Findings|Would not help|Verdict|Healthy)\b", md)


def test_every_report_text_has_chinese() -> None:
    from diagnose.report.labels import texts

    for key, value in texts().items():
        assert value.get("zh") and re.search(r"[\u4e00-\u9fff]", value["zh"]), key


@pytest.mark.parametrize("name,lang", [("iperf3-udp-recv.perf.txt.gz", "en"), ("socat-unix-ipc.perf.txt.gz", "zh")])
def test_markdown_goldens(name: str, lang: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    md = markdown(name, lang, monkeypatch)
    golden = GOLDENS / f"{name.split('.')[0]}.{lang}.md"
    if request.config.getoption("--update-goldens"):
        golden.write_text(md)
    assert golden.exists(), f"{golden} is missing: run pytest --update-goldens"
    assert md == golden.read_text(), f"{golden} differs: review the change, then run pytest --update-goldens"


def test_format_markdown_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    proc = run_cli("analyze", str(fixture("stress-ng-futex.perf.txt.gz")), "--format", "markdown", "--lang", "zh",
                   "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "锁" in out.read_text()


def test_fail_on_gates_ci_with_exit_code_3() -> None:
    cap = str(fixture("stress-ng-futex.perf.txt.gz"))
    high = run_cli("analyze", cap, "--format", "json", "--fail-on", "high")
    assert high.returncode == 3 and "lock-contention" in high.stderr and high.stdout.startswith("{")
    assert run_cli("analyze", cap, "--format", "json", "--fail-on", "critical").returncode == 0
    idle = run_cli("analyze", str(fixture("idle-sleep.perf.txt.gz")), "--fail-on", "low")
    assert idle.returncode == 0
    bad = run_cli("analyze", cap, "--fail-on", "severe")
    assert bad.returncode == 2 and "--fail-on" in bad.stderr
