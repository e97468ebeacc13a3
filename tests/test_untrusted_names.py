"""Names come from the input (a process names its own threads, a library its functions, anyone can
write a report or a rule pack): they are shown, never obeyed. Control characters (ESC, CR, BEL,
C1, bidi overrides) appear escaped (`\\x1b`) in the terminal report, Markdown, explain, diff, the
rule listing and warnings; a Markdown table keeps its cells and carries no HTML; JSON keeps the
names exactly."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import fixture, run_cli

COMM = "wrk\x1b[7m&lt;b&gt;|X"
HOT = "hot\x1b[2J\x1b[31mRED|`tick`<img src=x onerror=alert(1)>"
CR = "over\rwrite\x9b31mC1\x07bell\u202eevil"
MODULE = "/usr/lib/libe\x1b[5m&lt;i&gt;vil.so"
# Every character that must never reach a terminal raw (a newline is the report's own).
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def shown(text: str) -> str:
    """How a name looks once escaped: each control character as \\xNN (\\uNNNN above 0xff)."""
    return "".join(f"\\x{ord(c):02x}" if RAW.match(c) and ord(c) < 0x100 else
                   f"\\u{ord(c):04x}" if RAW.match(c) else c for c in text)


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hand-written perf script whose thread, function and module names carry terminal escapes."""
    head = ("# ========\n# cmdline : /usr/bin/perf record -F 99 -g -p 1 -- sleep 2\n"
            "# event : name = cpu-clock:ppp, , id = { 1 }, type = 1, size = 128, { sample_period, sample_freq } = 99,"
            " sample_type = IP|TID|TIME|CALLCHAIN|PERIOD, freq = 1\n# ========\n#\n")
    body = []
    for i in range(60):
        leaf = HOT if i % 3 else CR
        body.append(f"{COMM} 1/{1 + i % 2} {100 + i / 100:.6f}: 10101010 cpu-clock:ppp:\n"
                    f"\t1 {leaf} ({MODULE})\n\t2 main (/usr/bin/app)\n\n")
    path = tmp_path_factory.mktemp("names") / "names.perf.txt"
    path.write_text(head + "".join(body), encoding="utf-8")
    return path


def assert_nothing_raw(text: str) -> None:
    raw = RAW.findall(text)
    assert not raw, f"raw control characters reached the output: {raw!r}"


def test_terminal_report_shows_names_escaped(capture: Path) -> None:
    proc = run_cli("analyze", str(capture), "--width", "220")
    assert proc.returncode == 0, proc.stderr
    assert_nothing_raw(proc.stdout)
    for name in (HOT, CR, MODULE.rsplit("/", 1)[-1], COMM):
        assert shown(name) in proc.stdout, shown(name)


class _Html(HTMLParser):
    """The tags of rendered HTML, and the text of each table row's cells as a reader sees it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _render(markdown: str) -> _Html:
    markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py (a dependency of rich) renders GFM tables")
    html = _Html()
    html.feed(markdown_it.MarkdownIt("commonmark").enable("table").render(markdown))
    return html


def test_markdown_tables_keep_their_cells_and_carry_no_html(capture: Path) -> None:
    proc = run_cli("analyze", str(capture), "--format", "markdown")
    assert proc.returncode == 0, proc.stderr
    assert_nothing_raw(proc.stdout)
    html = _render(proc.stdout)
    assert "img" not in html.tags and "b" not in html.tags and "i" not in html.tags, html.tags
    # The hottest-functions table: the name, then its module, each whole in its own cell.
    rows = [r for r in html.rows if len(r) > 2 and r[1] == shown(HOT)]
    assert rows, [r for r in html.rows if len(r) > 1][:12]
    assert all(r[2] == shown(MODULE.rsplit("/", 1)[-1]) for r in rows)
    assert [r for r in html.rows if r and r[0] == shown(COMM) + " 1"], "the thread row lost its name"


def test_json_keeps_the_names_exactly(capture: Path) -> None:
    proc = run_cli("analyze", str(capture), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    names = {f["name"] for f in report["profile"]["functions"]}
    assert {HOT, CR} <= names
    assert {t["comm"] for t in report["capture"]["threads"]} == {COMM}


def test_explain_shows_a_doctored_report_escaped(capture: Path, tmp_path: Path) -> None:
    report = json.loads(run_cli("analyze", str(capture), "--format", "json").stdout)
    finding = report["findings"][0]
    finding["subject"] = "\x1b]0;owned\x07"
    finding["summary"] = finding["texts"]["en"]["summary"] = "before\x1b[2Jafter"
    report["capture"]["source"] = "src\x1bc"
    path = tmp_path / "doctored.json"
    path.write_text(json.dumps(report), encoding="utf-8")
    overview = run_cli("explain", str(path), "--width", "160")
    detail = run_cli("explain", str(path), "--finding", finding["id"], "--width", "160")
    for proc in (overview, detail):
        assert proc.returncode == 0, proc.stderr
        assert_nothing_raw(proc.stdout)
    assert shown("src\x1bc") in overview.stdout
    assert shown("\x1b]0;owned\x07") in detail.stdout and shown("before\x1b[2Jafter") in detail.stdout


@pytest.mark.parametrize("fmt", ["terminal", "markdown"])
def test_diff_shows_names_escaped(capture: Path, fmt: str) -> None:
    proc = run_cli("diff", str(fixture("stress-ng-memcpy.perf.txt.gz")), str(capture), "--format", fmt,
                   "--width", "200")
    assert proc.returncode == 0, proc.stderr
    assert_nothing_raw(proc.stdout)
    if fmt == "terminal":
        assert shown(HOT) in proc.stdout
    else:
        html = _render(proc.stdout)
        assert "img" not in html.tags
        assert [r for r in html.rows if r and r[0] == shown(HOT)], "the function's row lost its name"


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    """A rule pack whose name and title carry escapes (YAML's "\\e" is ESC)."""
    path = tmp_path / "pack.yaml"
    path.write_text('schema: diagnose.rules/v1\npack:\n  name: "evil\\e[31mpack"\n  version: 1.0.0\n'
                    '  engine: ">=1.0"\nrules:\n  - id: evil-rule\n    title:\n      en: "Evil \\e[2J\\r title"\n'
                    '      zh: "Evil \\e[2J title"\n    severity: low\n    when:\n      - stack_samples: {}\n'
                    '        gte: 1\n    summary:\n      en: "sum\\e[8mmary"\n      zh: "sum\\e[8mmary"\n',
                    encoding="utf-8")
    return path


def test_rule_pack_texts_are_shown_escaped(pack: Path, capture: Path) -> None:
    listing = run_cli("rules", "list", "--rules", str(pack), env={"COLUMNS": "250"})
    assert listing.returncode == 0, listing.stderr
    assert_nothing_raw(listing.stdout)
    assert shown("evil\x1b[31mpack") in listing.stdout and shown("Evil \x1b[2J\r title") in listing.stdout
    # The Markdown source of the literal text `sum\x1b[8mmary`: its backslash and bracket escaped.
    for fmt, summary in (("terminal", r"sum\x1b[8mmary"), ("markdown", r"sum\\x1b\[8mmary")):
        proc = run_cli("analyze", str(capture), "--rules", str(pack), "--format", fmt, "--width", "200")
        assert proc.returncode == 0, proc.stderr
        assert_nothing_raw(proc.stdout)
        assert summary in proc.stdout


def test_an_error_naming_bad_input_is_one_escaped_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad\x1b[2J\nname.txt"
    bad.write_text("not a capture\n")
    proc = run_cli("analyze", str(bad))
    assert proc.returncode == 2
    assert_nothing_raw(proc.stderr)
    assert len(proc.stderr.splitlines()) == 1 and r"bad\x1b[2J\x0aname.txt" in proc.stderr, proc.stderr
