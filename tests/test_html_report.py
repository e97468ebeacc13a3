"""`--format html`: one self-contained file, opened in a real headless Chromium (playwright): the
Markdown report's sections and tables, the flame graph embedded and zooming, tables that sort by a
click on their header, and nothing fetched from anywhere. Names from the input stay text."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from conftest import fixture, run_cli
from diagnose.pipeline import analyze
from diagnose.report.flamegraph import XPAD
from diagnose.report.html import render_html
from diagnose.report.labels import label
from diagnose.report.markdown import render_markdown

CHROMIUM = os.environ.get("DIAGNOSE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
HOSTILE = "evil<img src=x onerror=alert(1)></script><script>alert(2)</script>"


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(text: str) -> list[tuple[str, dict[str, str | None]]]:
    p = Tags()
    p.feed(text)
    return p.tags


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, str, Path]:
    analysis = analyze(str(fixture("socat-unix-ipc.perf.txt.gz")))
    text = render_html(analysis)
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(text, encoding="utf-8")
    return analysis, text, path


def test_html_has_the_markdown_reports_sections_and_embeds_the_flame_graph(report: tuple[Any, str, Path]) -> None:
    analysis, text, _ = report
    md = render_markdown(analysis)
    headings = [h.split(" ", 1)[1] for h in md.splitlines() if h.startswith("## ")]
    assert headings and re.findall(r"<h2>([^<]*)</h2>", text) == headings
    assert text.count("<table>") == len(re.findall(r"^\|[-:|]+\|$", md, re.M)) >= 4
    found = tags(text)
    assert [t for t, _ in found].count("script") == 1  # the sorting script; the graph's are inside the frame
    frames = [a for t, a in found if t == "iframe"]
    assert len(frames) == 1 and frames[0]["sandbox"] == "allow-scripts allow-modals"
    srcdoc = frames[0]["srcdoc"] or ""
    assert '<g id="frames">' in srcdoc and 'id="fg-data"' in srcdoc
    # Nothing refers to anything outside the file.
    assert not [a for _, a in found if a.get("src") or (a.get("href") or "#").split("#")[0]]
    assert "default-src 'none'" in text


def test_a_name_from_the_input_stays_text(tmp_path: Path) -> None:
    head = ("# ========\n# event : name = cpu-clock:ppp, , id = { 1 }, type = 1, size = 128, "
            "{ sample_period, sample_freq } = 99, sample_type = IP|TID|TIME|CALLCHAIN|PERIOD, freq = 1\n# ========\n#\n")
    body = "".join(f"app 1/1 {100 + i / 100:.6f}: 10101010 cpu-clock:ppp:\n\t1 {HOSTILE} (/usr/bin/app)\n"
                   f"\t2 main (/usr/bin/app)\n\n" for i in range(40))
    path = tmp_path / "names.perf.txt"
    path.write_text(head + body, encoding="utf-8")
    text = render_html(analyze(str(path)))
    assert "<img" not in text and "alert(2)</script>" not in text
    assert [t for t, _ in tags(text)].count("script") == 1
    assert "evil&lt;img src=x onerror=alert(1)&gt;" in text


def test_format_html_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    proc = run_cli("analyze", str(fixture("stress-ng-futex.perf.txt.gz")), "--format", "html", "--lang", "zh",
                   "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and '<html lang="zh-CN">' in text and "火焰图" in text


# -- in the browser -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set DIAGNOSE_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, report: tuple[Any, str, Path]) -> Iterator[Any]:
    _, _, path = report
    pg = browser.new_page(viewport={"width": 1300, "height": 900})
    pg.set_default_timeout(10_000)
    pg.requests = []  # type: ignore[attr-defined]
    pg.errors = []  # type: ignore[attr-defined]
    pg.dialogs = []  # type: ignore[attr-defined]
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.goto(path.as_uri())
    pg.frame_locator("#flamegraph").locator("#frames > g").first.wait_for()
    yield pg
    assert not pg.errors, pg.errors
    assert not pg.dialogs, pg.dialogs
    pg.close()


def test_opens_offline_and_fetches_nothing(page: Any, report: tuple[Any, str, Path]) -> None:
    _, _, path = report
    assert page.requests == [path.as_uri()]
    assert page.locator("h1").text_content() == "CPU profile diagnosis"


def _graph(page: Any) -> Any:
    return next(f for f in page.frames if f != page.main_frame)


def test_the_embedded_flame_graph_is_shown_whole_and_zooms(page: Any) -> None:
    frame = page.frame_locator("#flamegraph")
    graph = _graph(page)
    graph.wait_for_function("window.flamegraph && window.flamegraph.width() > 0")
    shown = page.locator("#flamegraph").bounding_box()
    svg_h = graph.evaluate("document.querySelector('svg').getBoundingClientRect().height")
    page.wait_for_function(f"document.getElementById('flamegraph').getBoundingClientRect().height >= {svg_h}")
    width = graph.evaluate("window.flamegraph.width()")
    assert width == pytest.approx(shown["width"] - 2, abs=2)  # the frame's width, less its border
    boxes = graph.evaluate("JSON.parse(document.getElementById('fg-data').textContent).boxes")
    total = boxes[0][5]
    i = next(k for k, b in enumerate(boxes) if b[3] >= 3 and 0.05 * total < b[5] < 0.5 * total)
    rect = frame.locator("#frames > g").nth(i).locator("rect")
    before = rect.bounding_box()["width"]
    assert before == pytest.approx(boxes[i][5] / total * (width - 2 * XPAD), abs=1)
    rect.click()
    assert rect.bounding_box()["width"] == pytest.approx(width - 2 * XPAD, abs=1)
    assert graph.evaluate("window.flamegraph.zoomed()") == i
    frame.locator("#unzoom").click()
    assert rect.bounding_box()["width"] == pytest.approx(before, abs=1)


def _column(table: Any, col: int) -> list[str]:
    return [c.strip() for c in table.locator(f"tbody tr td:nth-child({col + 1})").all_text_contents()]


def _number(text: str) -> float:
    m = re.match(r"[-+]?\d+(\.\d+)?", text.replace(",", ""))
    assert m, text
    return float(m.group())


def test_a_table_sorts_by_a_click_on_its_header(page: Any) -> None:
    # The functions by self time: ranked by share; sorted by name, then by samples both ways.
    table = page.locator(f"h3:text-is('{label('by_self', 'en')}') + table")
    headers = [h.strip() for h in table.locator("thead th").all_text_contents()]
    name, samples = headers.index(label("function", "en")), headers.index(label("col_samples", "en"))
    ranked = _column(table, name)
    assert len(ranked) >= 5
    table.locator("thead th").nth(name).click()
    names = _column(table, name)
    assert names == page.evaluate("n => n.slice().sort((a, b) => a.localeCompare(b))", names) != ranked
    assert table.locator("thead th").nth(name).get_attribute("aria-sort") == "ascending"
    header = table.locator("thead th").nth(samples)
    header.click()
    values = [_number(v) for v in _column(table, samples)]
    assert values == sorted(values, reverse=True) and header.get_attribute("aria-sort") == "descending"
    header.click()
    values = [_number(v) for v in _column(table, samples)]
    assert values == sorted(values) and header.get_attribute("aria-sort") == "ascending"
    assert sorted(_column(table, name)) == sorted(ranked)  # the same rows, reordered


def test_reports_of_a_run_folder_point_to_its_flame_graph(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "run"
    shutil.copytree(fixture("lab/janus-echotest"), folder)
    assert run_cli("flamegraph", str(folder), "-o", str(folder / "flamegraph.svg")).returncode == 0
    (tmp_path / "out").mkdir()
    md = tmp_path / "out" / "report.md"
    proc = run_cli("analyze", str(folder), "--format", "markdown", "-o", str(md))
    assert proc.returncode == 0, proc.stderr
    assert f"[{label('flamegraph_file', 'en')}](../run/flamegraph.svg)" in md.read_text(encoding="utf-8")
    term = run_cli("analyze", str(folder), "--width", "120", cwd=tmp_path)
    assert term.returncode == 0, term.stderr
    assert f"{label('flamegraph_file', 'en')}: run/flamegraph.svg" in term.stdout
