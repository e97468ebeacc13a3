"""What both flame graphs (diagnose.report.flamegraph, diagnose.report.flame_diff) are drawn with:
the options, the words in two languages, the tree cut to the drawable width, the boxes' titles,
the legend, and the SVG document with its script and data."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

from diagnose.core.errors import DiagnoseError
from diagnose.model.profile import Profile
from diagnose.model.flametree import KINDS, FlameTree, Node, build_tree, module_base
from diagnose.report.flame_paint import (CHAR_W, clean, esc, fit,
                                         script_json)
from diagnose.report.flamegraph_js import SCRIPT, STYLE


COLOR_MODES = ("category", "module")

FRAME_HEIGHT = 16
XPAD = 10
TOP = 60                 # title, subtitle and the controls
LEGEND_ROW = 16
TOP_FINDINGS = 5         # findings whose frames are outlined (one outline colour each)
TOP_MODULES = 12
LAYOUT_WIDTH = 1200       # the width a graph that follows the window is drawn at before its script runs
LEGEND_GAP = 24           # swatch and space before a legend text; between columns
SYNTHETIC_FILL = {"root": "#c8c8c8", "process": "#d3d3d3", "thread": "#dddddd", "narrow": "#ececec"}

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Flame graph", "diff_title": "Differential flame graph", "reset_zoom": "Reset Zoom",
        "search": "Search", "clear": "Clear", "matched": "Matched",
        "prompt": "Search functions (regular expression):", "bad_regex": "not a valid regular expression",
        "samples": "samples", "with_stack": "samples with a call chain", "cores": "cores",
        "root": "all samples", "process": "process", "thread": "thread", "user": "user",
        "kernel": "kernel", "narrow": "merged",
        "empty": "no samples with a call chain: nothing to draw",
        "narrow_box": "({n} functions narrower than {px} px)", "narrow_note": "boxes narrower than {px} px merged",
        "kernel_frames": "kernel frames (hatched)", "finding": "outlined: frames of finding",
        "more_modules": "... and {n} more modules",
        "after": "after", "before": "before", "absent": "not present",
        "grew": "share grew (AFTER vs BEFORE)", "shrank": "share shrank", "same": "about the same",
        "widths_after": "widths: AFTER",
        "only_before": "call paths only in BEFORE ({share} of its samples) are not drawn",
        "pp": "pp",
    },
    "zh": {
        "title": "火焰图", "diff_title": "差分火焰图", "reset_zoom": "重置缩放",
        "search": "搜索", "clear": "清除", "matched": "匹配",
        "prompt": "搜索函数（正则表达式）：", "bad_regex": "无效的正则表达式",
        "samples": "次采样", "with_stack": "次带调用链的采样", "cores": "核",
        "root": "全部采样", "process": "进程", "thread": "线程", "user": "用户态",
        "kernel": "内核态", "narrow": "合并",
        "empty": "没有带调用链的采样：无可绘制内容",
        "narrow_box": "（{n} 个窄于 {px} 像素的函数）", "narrow_note": "窄于 {px} 像素的方框已合并",
        "kernel_frames": "内核帧（斜线）", "finding": "描边：诊断发现涉及的帧",
        "more_modules": "……另有 {n} 个模块",
        "after": "之后", "before": "之前", "absent": "不存在",
        "grew": "占比上升（AFTER 对比 BEFORE）", "shrank": "占比下降", "same": "基本不变",
        "widths_after": "宽度：AFTER", "only_before": "仅在 BEFORE 中出现的调用路径（占其采样 {share}）未绘制",
        "pp": "个百分点",
    },
}


@dataclass(frozen=True)
class FlameOptions:
    title: str | None = None
    # Pixels; None: the graph follows the width of the window (laid out at LAYOUT_WIDTH until
    # its script runs, and for a viewer without scripts).
    width: int | None = None
    min_width: float = 0.1
    icicle: bool = False
    colors: str = "category"
    lang: str = "en"

    def check(self) -> FlameOptions:
        if self.colors not in COLOR_MODES:
            raise DiagnoseError(f"unknown --colors {self.colors!r}; choose one of: {', '.join(COLOR_MODES)}")
        if self.width is not None and not 200 <= self.width <= 100_000:
            raise DiagnoseError(f"--width {self.width} is out of range; give the image width in pixels (200-100000)")
        if not 0 <= self.min_width <= 100:
            raise DiagnoseError(f"--min-width {self.min_width:g} is out of range; give pixels (0-100, default 0.1)")
        if self.lang not in WORDS:
            raise DiagnoseError(f"unknown --lang {self.lang!r}; choose one of: {', '.join(WORDS)}")
        return self

    @property
    def layout_width(self) -> int:
        return self.width or LAYOUT_WIDTH


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


# -- rendering -----------------------------------------------------------------------------

@dataclass
class LegendItem:
    fill: str
    text: str
    stroke: str | None = None


@dataclass
class _Paint:
    """Per box: fill, extra classes, hover text; plus what the legend says."""

    fills: list[str]
    classes: list[str]
    titles: list[str]
    components: list[int]
    component_ids: list[str]
    legend: list[LegendItem]
    patterns: dict[str, str] = field(default_factory=dict)  # pattern id -> base colour
    payload: dict[str, Any] = field(default_factory=dict)


def _box_title(node: Node, samples: int, total: int, words: dict[str, str], extra: str = "") -> str:
    parts = [node.name]
    if node.module:
        parts.append(module_base(node.module))
    head = " — ".join(parts) + f" · {words[node.kind]}" + (f" · {extra}" if extra else "")
    return f"{head} — {samples:,} {words['samples']} ({_pct(samples / total if total else 0.0)})"


def _hatch(paint: _Paint, color: str) -> str:
    pid = "h" + color.lstrip("#")
    paint.patterns[pid] = color
    return f"url(#{pid})"


def _tree(profile: Profile, opts: FlameOptions, words: dict[str, str], threads: Literal["auto", "always"]) -> FlameTree:
    inner = opts.layout_width - 2 * XPAD
    min_samples = opts.min_width * profile.stack_samples / inner
    label = words["narrow_box"].replace("{px}", f"{opts.min_width:g}")
    return build_tree(profile, min_samples, threads, narrow_label=label)


def _source_name(source: str) -> str:
    return os.path.basename(source.rstrip("/")) or source


def _legend_layout(items: list[LegendItem], width: int) -> tuple[int, int]:
    """(columns, rows) of the legend: two columns when the longest text fits in half the width
    (a text is never cut; the script lays the legend out again at the window's width)."""
    longest = max((len(i.text) for i in items), default=0) * CHAR_W + LEGEND_GAP
    cols = 2 if len(items) > 4 and 2 * (longest + LEGEND_GAP) <= width - 2 * XPAD else 1
    return cols, (len(items) + cols - 1) // cols


def _svg(tree: FlameTree, paint: _Paint, opts: FlameOptions, words: dict[str, str], title: str, subtitle: str) -> str:
    width = opts.layout_width
    inner = width - 2 * XPAD
    levels = tree.max_depth + 1
    graph_h = levels * FRAME_HEIGHT
    cols, rows = _legend_layout(paint.legend, width)
    details_y = TOP + graph_h + 18
    legend_y = details_y + 12
    height = legend_y + rows * LEGEND_ROW + 10
    scale = inner / tree.total if tree.total else 0.0
    out: list[str] = []
    w = out.append
    w('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n')
    shown = width if opts.width else "100%"
    w(f'<svg version="1.1" xmlns="http://www.w3.org/2000/svg" width="{shown}" height="{height}" '
      f'viewBox="0 0 {width} {height}">\n')
    w(f"<style>{STYLE}</style>\n<defs>\n")
    for pid, color in sorted(paint.patterns.items()):
        w(f'<pattern id="{pid}" width="5" height="5" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
          f'<rect width="5" height="5" fill="{color}"/><rect width="2" height="5" fill="#fff" fill-opacity="0.55"/>'
          f"</pattern>\n")
    w("</defs>\n")
    w(f'<rect id="background" x="0" y="0" width="{width}" height="{height}" fill="#f8f8f8"/>\n')
    w(f'<text id="title" x="{width / 2:.1f}" y="24">{esc(title)}</text>\n')
    w(f'<text id="subtitle" x="{width / 2:.1f}" y="42">{esc(subtitle)}</text>\n')
    w(f'<text id="unzoom" class="button hide" x="{XPAD}" y="42">{esc(words["reset_zoom"])}</text>\n')
    w(f'<text id="search" class="button" x="{width - XPAD - 100}" y="42">{esc(words["search"])}</text>\n')
    w(f'<text id="clear" class="button" x="{width - XPAD - 40}" y="42">{esc(words["clear"])}</text>\n')
    w('<g id="frames">\n')
    for i, b in enumerate(tree.boxes):
        node = tree.nodes[b.node]
        x = XPAD + b.start * scale
        bw = b.samples * scale if tree.total else inner  # an empty capture: the root alone
        y = TOP + (b.depth * FRAME_HEIGHT if opts.icicle else (levels - 1 - b.depth) * FRAME_HEIGHT)
        cls = paint.classes[i]
        w(f'<g class="{cls}">' if cls else "<g>")
        w(f"<title>{esc(paint.titles[i])}</title>")
        w(f'<rect x="{x:.2f}" y="{y}" width="{bw:.2f}" height="{FRAME_HEIGHT - 1}" fill="{paint.fills[i]}"/>')
        w(f'<text x="{x + 3:.2f}" y="{y + 11}">{esc(fit(clean(node.name), bw))}</text></g>\n')
    w("</g>\n")
    w(f'<text id="details" x="{XPAD}" y="{details_y}"> </text>\n')
    w(f'<text id="matched" x="{width - XPAD}" y="{details_y}" text-anchor="end"></text>\n')
    w(_legend(paint.legend, cols, rows, legend_y, inner))
    w(f'<script type="application/json" id="fg-data">{script_json(_payload(tree, paint, opts, words))}</script>\n')
    w(f'<script type="text/javascript"><![CDATA[{SCRIPT}]]></script>\n')
    w("</svg>\n")
    return "".join(out)


def _legend(items: list[LegendItem], cols: int, rows: int, top: int, inner: int) -> str:
    col_w = inner / cols
    out = [f'<g id="legend" transform="translate({XPAD},{top})">\n']
    for k, item in enumerate(items):
        col, row = divmod(k, rows) if cols > 1 else (0, k)
        x, y = col * col_w, row * LEGEND_ROW
        stroke = f' stroke="{item.stroke}" stroke-width="2"' if item.stroke else ""
        out.append(f'<g class="item"><rect x="{x:.1f}" y="{y + 2}" width="14" height="11" fill="{item.fill}"{stroke}/>'
                   f'<text x="{x + 20:.1f}" y="{y + 12}">{esc(item.text)}</text></g>\n')
    out.append("</g>\n")
    return "".join(out)


def _payload(tree: FlameTree, paint: _Paint, opts: FlameOptions, words: dict[str, str]) -> dict[str, Any]:
    names: dict[str, int] = {}
    modules: dict[str, int] = {}
    boxes = []
    for i, b in enumerate(tree.boxes):
        node = tree.nodes[b.node]
        ni = names.setdefault(clean(node.name), len(names))
        mi = modules.setdefault(clean(module_base(node.module)), len(modules))
        boxes.append([ni, mi, KINDS.index(node.kind), b.depth, b.start, b.samples, b.parent, paint.components[i]])
    data: dict[str, Any] = {
        "version": 1, "total": tree.total, "width": opts.layout_width, "fit": opts.width is None, "xpad": XPAD,
        "charw": CHAR_W, "legend_row": LEGEND_ROW, "legend_gap": LEGEND_GAP,
        "icicle": opts.icicle, "names": list(names), "modules": list(modules), "kinds": list(KINDS),
        "components": paint.component_ids, "boxes": boxes,
        "words": {k: words[k] for k in ("matched", "prompt", "bad_regex")},
    }
    data.update(paint.payload)
    return data
