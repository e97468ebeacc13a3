"""The HTML report: one self-contained file a browser opens offline. Its text is the Markdown
report's (the same sections, tables and numbers), rendered with raw HTML off, so whatever the
input put in a name stays text; the interactive flame graph is embedded in a sandboxed frame; every
table sorts by a click on its header. A content security policy forbids fetching anything."""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any

from diagnose.report.html_assets import FRAME_STYLE, PAGE_SCRIPT, PAGE_STYLE
from diagnose.report.labels import label

if TYPE_CHECKING:
    from diagnose.expert.analysis import Analysis

# Nothing is loaded from anywhere: inline style and script only (the flame graph's frame inherits it).
POLICY = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"
_HEIGHT = re.compile(r'<svg\b[^>]*\bheight="(\d+)"')


def _markdown_html(text: str) -> tuple[Any, list[Any]]:
    # markdown_it: loaded only when this runs
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])
    return md, md.parse(text)


def flamegraph_frame(svg: str, title: str) -> str:
    """The SVG flame graph in a sandboxed frame of its own (its script, ids and keys stay in there)."""
    svg = re.sub(r"^<\?xml[^>]*\?>\s*", "", svg)
    m = _HEIGHT.search(svg)
    height = int(m.group(1)) if m else 600
    doc = f'<!DOCTYPE html><html><head><meta charset="utf-8"><style>{FRAME_STYLE}</style></head><body>{svg}</body></html>'
    return (f'<iframe id="flamegraph" title="{html.escape(title)}" sandbox="allow-scripts allow-modals" '
            f'style="height:{height}px" srcdoc="{html.escape(doc, quote=True)}"></iframe>\n')


def render_html(analysis: Analysis) -> str:
    # markdown_it: loaded only when this runs
    from markdown_it.token import Token

    # re2: loaded only when this runs
    from diagnose.report.flamegraph import render_flamegraph

    # networkx, re2: loaded only when this runs
    from diagnose.report.markdown import render_markdown

    lang = analysis.lang
    embedded = analysis.extra.get("flamegraph_embedded")
    analysis.extra["flamegraph_embedded"] = True  # the Markdown then says nothing of drawing one
    try:
        md, tokens = _markdown_html(render_markdown(analysis))
    finally:
        if embedded is None:
            del analysis.extra["flamegraph_embedded"]
    frame = Token("html_block", "", 0)
    frame.content = flamegraph_frame(render_flamegraph(analysis), label("flamegraph_file", lang))
    at = _section_end(tokens, label("flamegraph", lang))
    if at is None:  # no flame graph section: the graph goes at the end, under a heading of its own
        frame.content = f"<h2>{html.escape(label('flamegraph_file', lang))}</h2>\n" + frame.content
        at = len(tokens)
    tokens.insert(at, frame)
    body = md.renderer.render(tokens, md.options, {})
    title = label("report_title", lang)
    source = analysis.profile.capture.source.rstrip("/").rsplit("/", 1)[-1]
    return (f'<!DOCTYPE html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}: {html.escape(source)}</title>\n<style>{PAGE_STYLE}</style>\n</head>\n"
            f"<body>\n<main>\n{body}</main>\n<script>{PAGE_SCRIPT}</script>\n</body>\n</html>\n")


def _section_end(tokens: list[Any], text: str) -> int | None:
    """The end of the section under the first level-2 heading whose text ends with `text` (just
    before the next level-2 heading)."""
    start = next((i for i, t in enumerate(tokens[:-1]) if t.type == "heading_open" and t.tag == "h2"
                  and tokens[i + 1].content.endswith(text)), None)
    if start is None:
        return None
    return next((i for i in range(start + 3, len(tokens)) if tokens[i].type == "heading_open"
                 and tokens[i].tag in ("h1", "h2")), len(tokens))
