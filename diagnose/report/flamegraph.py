"""The interactive SVG flame graph: call paths merged from the root (per process, per thread name),
coloured by component or module, with zoom, regex search, legend, outlined findings, and the
differential view (widths from AFTER, red for growth, blue for shrinkage)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from diagnose.core.errors import DiagnoseError
from diagnose.expert.attribution import Walk, attribution
from diagnose.expert.knowledge import Knowledge, builtin_knowledge
from diagnose.model.profile import Profile, cores_used
from diagnose.model.flametree import KINDS, FlameTree, Node, build_tree, module_base
from diagnose.report.flame_paint import (CHAR_W, _jitter, _shade, clean, esc, fit,
                                         module_color, script_json)
from diagnose.report.flamegraph_js import OUTLINES, SCRIPT, STYLE

if TYPE_CHECKING:
    from diagnose.expert.analysis import Analysis

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


def _paint_profile(tree: FlameTree, profile: Profile, kb: Knowledge, findings: Sequence[Any],
                   opts: FlameOptions, words: dict[str, str]) -> _Paint:
    lang = opts.lang
    att = attribution(profile, kb)
    walks: list[Walk | None] = []  # per box: the attribution of the path down to it
    comp_index: dict[str, int] = {}
    comp_ids: list[str] = []
    outlined = [f for f in findings if getattr(f, "frames", None)][:TOP_FINDINGS]
    outline_of: dict[int, int] = {}
    for k, f in enumerate(outlined):
        for fid in f.frames:
            outline_of.setdefault(int(fid), k)
    paint = _Paint([], [], [], [], comp_ids, [])
    any_kernel = False
    for b in tree.boxes:
        node = tree.nodes[b.node]
        cls = ""
        comp = -1
        extra = ""
        if node.frame is None:
            fill = SYNTHETIC_FILL[node.kind]
            walks.append(None)
            if node.kind == "thread":
                extra = kb.role_text(node.name, lang) or ""
        else:
            frame = profile.frames[node.frame]
            parent = walks[b.parent] if b.parent >= 0 else None
            walk = parent.copy() if parent is not None else att.walk()
            walk.step(node.frame, b.depth)
            walks.append(walk)
            # The colour of the component that owns this box's own samples: the same model as
            # the legend's shares and the component table.
            cid = walk.owner(frame).component
            if cid not in comp_index:
                comp_index[cid] = len(comp_ids)
                comp_ids.append(cid)
            comp = comp_index[cid]
            c = kb.components.get(cid)
            extra = (c.title.get(lang) or c.title["en"]) if c else cid
            base = (c.color if c else "#999999") if opts.colors == "category" else module_color(frame.module)
            if frame.kind == "kernel":
                any_kernel = True
                fill, cls = _hatch(paint, base), "k"
            else:
                fill = _shade(base, _jitter(frame.name))
            o = outline_of.get(node.frame)
            if o is not None:
                cls = f"{cls} o{o}".strip()
        paint.fills.append(fill)
        paint.classes.append(cls)
        paint.components.append(comp)
        paint.titles.append(_box_title(node, b.samples, tree.total, words, extra))

    if opts.colors == "category":
        from diagnose.expert.components import component_breakdown

        for row in component_breakdown(profile, kb):
            title = row.title.get(lang) or row.title["en"]
            paint.legend.append(LegendItem(row.color, f"{title} — {_pct(row.share.value)}"))
    else:
        slf = profile.self_counts()
        per_module: dict[str, int] = {}
        for i, f in enumerate(profile.frames):
            if slf[i]:
                m = f.module or "[unknown]"
                per_module[m] = per_module.get(m, 0) + slf[i]
        ranked = sorted(per_module.items(), key=lambda kv: (-kv[1], kv[0]))
        n = profile.stack_samples or 1
        for m, k in ranked[:TOP_MODULES]:
            paint.legend.append(LegendItem(module_color(m), f"{module_base(m)} — {_pct(k / n)}"))
        if len(ranked) > TOP_MODULES:
            paint.legend.append(LegendItem("none", words["more_modules"].format(n=len(ranked) - TOP_MODULES)))
    if any_kernel:
        paint.legend.append(LegendItem(_hatch(paint, "#999999"), words["kernel_frames"]))
    for k, f in enumerate(outlined):
        subject = f" ({f.subject})" if getattr(f, "subject", None) else ""
        ftitle = getattr(f, "title", None)
        title_text = str(ftitle.get(lang) or ftitle.get("en", "")) if isinstance(ftitle, dict) else ""
        from diagnose.report.labels import colon, severity_label

        sev = severity_label(f.severity, lang) if lang == "zh" else f.severity
        text = f"{words['finding']} {f.id}{subject} [{sev}]" + \
            (f"{colon(lang)}{title_text}" if title_text else "")
        paint.legend.append(LegendItem("#ffffff", text, OUTLINES[k]))
    return paint


def render_flamegraph(analysis: Analysis, options: FlameOptions | None = None) -> str:
    """The flame graph of an analysed capture (its findings outlined), as SVG text."""
    opts = (options or FlameOptions(lang=analysis.lang if analysis.lang in WORDS else "en")).check()
    kb = analysis.knowledge or builtin_knowledge()
    return render_profile(analysis.profile, opts, kb, analysis.findings)


def render_profile(profile: Profile, options: FlameOptions | None = None, kb: Knowledge | None = None,
                   findings: Sequence[Any] = (), words_for: dict[str, str] | None = None) -> str:
    """`words_for` replaces words of WORDS (a graph whose widths are microseconds, not samples)."""
    opts = (options or FlameOptions()).check()
    words = {**WORDS[opts.lang], **(words_for or {})}
    kb = kb or builtin_knowledge()
    tree = _tree(profile, opts, words, "auto")
    paint = _paint_profile(tree, profile, kb, findings, opts, words)
    cap = profile.capture
    sub = [_source_name(cap.source)]
    if cap.event:
        sub.append(cap.event)
    sub.append(f"{profile.stack_samples:,} {words['with_stack']}")
    cores = cores_used(cap.total_samples, cap.frequency_hz, cap.duration_s)
    if cores is not None and cap.duration_s:
        sub.append(f"{cap.duration_s:.1f} s, {cores:.2f} {words['cores']}")
    if tree.total == 0:
        sub.append(words["empty"])
    if tree.merged:
        sub.append(words["narrow_note"].format(px=f"{opts.min_width:g}"))
    title = opts.title or f"{words['title']}{'：' if opts.lang == 'zh' else ': '}{_source_name(cap.source)}"
    return _svg(tree, paint, opts, words, title, " · ".join(sub))


def render_diff_flamegraph(before: Profile, after: Profile, options: FlameOptions | None = None,
                           kb: Knowledge | None = None) -> str:
    """The differential flame graph (diagnose.report.flame_diff)."""
    from diagnose.report.flame_diff import render_diff

    return render_diff(before, after, options, kb)


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
