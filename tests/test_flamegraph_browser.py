"""The flame graph in a real headless Chromium (driven by playwright): it renders, zooms, searches,
shows its legend, and shows a symbol named <script>... as text without running it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from diagnose.knowledge import builtin_knowledge
from diagnose.report.flamegraph import XPAD, FlameOptions, render_profile
from test_flamegraph import XSS, make_profile

CHROMIUM = os.environ.get("DIAGNOSE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
WIDTH = 1200
INNER = WIDTH - 2 * XPAD

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                               "(pip install playwright; the browser itself is Debian's chromium)")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set DIAGNOSE_CHROMIUM)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Page:
    """One flame graph open in a tab; records dialogs and script errors, answers prompts."""

    def __init__(self, browser: Any, svg: str, path: Path) -> None:
        path.write_text(svg, encoding="utf-8")
        self.dialogs: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.answer: str | None = None
        self.page = browser.new_page(viewport={"width": WIDTH + 20, "height": 800})
        self.page.set_default_timeout(10_000)
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(path.as_uri())
        self.boxes = self.page.evaluate("JSON.parse(document.getElementById('fg-data').textContent).boxes")
        self.names = self.page.evaluate("JSON.parse(document.getElementById('fg-data').textContent).names")

    def _dialog(self, d: Any) -> None:
        self.dialogs.append((d.type, d.message))
        if d.type == "prompt" and self.answer is not None:
            d.accept(self.answer)
        else:
            d.dismiss()

    def box(self, *path: str) -> int:
        for i in range(len(self.boxes)):
            if self.path(i)[-len(path):] == path:
                return i
        raise AssertionError(f"no box {path}")

    def path(self, i: int) -> tuple[str, ...]:
        out = []
        while i > 0:
            out.append(self.names[self.boxes[i][0]])
            i = self.boxes[i][6]
        return tuple(reversed(out))

    def rect(self, i: int) -> Any:
        return self.page.locator("#frames > g").nth(i).locator("rect")

    def width(self, i: int) -> float:
        bb = self.rect(i).bounding_box()
        assert bb is not None, f"box {self.path(i)} is not displayed"
        return float(bb["width"])

    def text(self, selector: str) -> str:
        return str(self.page.locator(selector).text_content() or "")


@pytest.fixture
def page(browser: Any, tmp_path: Path) -> Iterator[Page]:
    profile = make_profile()
    svg = render_profile(profile, FlameOptions(width=WIDTH, min_width=0), builtin_knowledge(), [])
    pg = Page(browser, svg, tmp_path / "fg.svg")
    pg.profile = profile  # type: ignore[attr-defined]
    yield pg
    assert not pg.errors, pg.errors
    assert not [d for d in pg.dialogs if d[0] != "prompt"], f"a dialog fired: {pg.dialogs}"
    pg.page.close()


def expected_share(profile: Any, pattern: str) -> str:
    """Samples with any frame matching, each sample once, as the page prints it."""
    rx = re.compile(pattern)
    hit = sum(s.samples for s in profile.stacks if any(rx.search(profile.frames[f].name) for f in s.frames))
    return f"Matched: {100 * hit / profile.stack_samples:.1f}%"


def test_renders_boxes_at_their_sizes_and_the_legend(page: Page) -> None:
    assert page.page.locator("#frames > g").count() == len(page.boxes)
    total = page.boxes[0][5]
    assert page.width(0) == pytest.approx(INNER, abs=1)
    encode = page.box("main", "encode")
    assert page.width(encode) == pytest.approx(65 / total * INNER, abs=1)
    items = page.page.locator("#legend text")
    assert items.count() >= 5
    assert items.first.is_visible()
    assert "Video and audio codecs" in (page.page.locator("#legend").text_content() or "")


def test_click_zooms_and_reset_restores(page: Page) -> None:
    encode, vp8 = page.box("main", "encode"), page.box("encode", "vp8_encode_frame")
    send, main = page.box("app", "main", "send"), page.box("app", "main")
    before = page.width(encode)
    assert not page.page.locator("#unzoom").is_visible()
    page.rect(encode).click()
    assert page.width(encode) == pytest.approx(INNER, abs=1)
    assert page.width(vp8) == pytest.approx(60 / 65 * INNER, abs=1)
    assert page.rect(send).is_hidden()
    assert "parent" in (page.page.locator("#frames > g").nth(main).get_attribute("class") or "")
    assert page.text(f"#frames > g:nth-child({encode + 1}) text") == "encode"
    page.page.locator("#unzoom").click()
    assert page.width(encode) == pytest.approx(before, abs=0.5)
    assert page.rect(send).is_visible()
    assert not page.page.locator("#unzoom").is_visible()


def test_search_highlights_and_reports_the_share_once_per_sample(page: Page) -> None:
    profile = page.profile  # type: ignore[attr-defined]
    pattern = "encode|srtp"  # matches encode and, below it, vp8_encode_frame: those samples count once
    page.answer = pattern
    page.page.locator("#search").click()
    assert page.dialogs[-1][0] == "prompt"
    assert page.text("#matched") == expected_share(profile, pattern) == "Matched: 79.4%"
    hits = [i for i in range(1, len(page.boxes)) if re.search(pattern, page.names[page.boxes[i][0]])]
    assert page.page.locator("#frames > g.match").count() == len(hits) == 3
    fill = page.rect(hits[0]).evaluate("r => getComputedStyle(r).fill")
    assert fill == "rgb(230, 0, 230)"
    # The keyboard opens the same search.
    page.answer = "^send$"
    page.page.keyboard.press("/")
    assert page.text("#matched") == expected_share(profile, "^send$")
    page.page.keyboard.press("Escape")
    assert page.page.locator("#frames > g.match").count() == 0 and page.text("#matched") == ""
    page.answer = "vp8"
    page.page.keyboard.press("Control+f")
    assert page.text("#matched") == expected_share(profile, "vp8")


def test_a_script_symbol_is_text(page: Page) -> None:
    xss = page.box("main", XSS)
    page.rect(xss).click()  # zoomed to full width, the whole name fits
    label = page.page.locator("#frames > g").nth(xss).locator("text")
    assert label.text_content() == XSS and label.is_visible()
    page.rect(xss).hover()
    assert page.text("#details").startswith(XSS + " — app")
    assert page.page.evaluate("document.getElementsByTagName('script').length") == 2
    page.answer = r"^<script>alert\(1\)"
    page.page.keyboard.press("/")
    assert page.page.locator("#frames > g.match").count() == 1


def test_an_empty_graph_does_not_break(browser: Any, tmp_path: Path) -> None:
    empty = make_profile([])
    pg = Page(browser, render_profile(empty, FlameOptions(), builtin_knowledge(), []), tmp_path / "empty.svg")
    pg.rect(0).click()
    pg.answer = "main"
    pg.page.keyboard.press("/")
    assert pg.text("#matched") == "Matched: 0.0%"
    assert not pg.errors
    pg.page.close()


def test_without_a_width_the_graph_follows_the_window_and_shows_the_whole_legend(browser: Any, tmp_path: Path) -> None:
    profile = make_profile()
    svg = render_profile(profile, FlameOptions(min_width=0), builtin_knowledge(), [])
    pg = Page(browser, svg, tmp_path / "fit.svg")
    total = pg.boxes[0][5]
    encode = pg.box("main", "encode")
    for window in (640, 1700, 900):
        pg.page.set_viewport_size({"width": window, "height": 800})
        pg.page.wait_for_function(f"window.flamegraph.width() === {window}")
        inner = window - 2 * XPAD
        assert pg.width(0) == pytest.approx(inner, abs=1)
        assert pg.width(encode) == pytest.approx(65 / total * inner, abs=1)
        # Every legend entry whole and inside the picture.
        texts = pg.page.locator("#legend text")
        for k in range(texts.count()):
            bb = texts.nth(k).bounding_box()
            assert bb is not None and bb["x"] + bb["width"] <= window, (window, texts.nth(k).text_content())
        svg_box = pg.page.locator("svg").bounding_box()
        legend_box = pg.page.locator("#legend").bounding_box()
        assert svg_box is not None and legend_box is not None
        assert legend_box["y"] + legend_box["height"] <= svg_box["y"] + svg_box["height"]
    assert "Video and audio codecs" in pg.text("#legend")
    assert not any(t.endswith("..") for t in pg.page.locator("#legend text").all_text_contents())
    # Zoom works at the window's width, and survives a resize.
    pg.rect(encode).click()
    assert pg.width(encode) == pytest.approx(900 - 2 * XPAD, abs=1)
    pg.page.set_viewport_size({"width": 1100, "height": 800})
    pg.page.wait_for_function("window.flamegraph.width() === 1100")
    assert pg.width(encode) == pytest.approx(1100 - 2 * XPAD, abs=1)
    assert pg.page.locator("#unzoom").is_visible()
    assert not pg.errors, pg.errors
    pg.page.close()
