"""The interactive SVG flame graph: call paths merged from the root (per process, per thread name),
coloured by component or module, with zoom, regex search, legend, outlined findings, and the
differential view (widths from AFTER, red for growth, blue for shrinkage)."""


from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from diagnose.expert.attribution import Walk, attribution
from diagnose.expert.components import component_breakdown
from diagnose.expert.knowledge import Knowledge, builtin_knowledge
from diagnose.model.flametree import FlameTree, build_tree, module_base
from diagnose.model.profile import Profile, cores_used
from diagnose.report.flame_paint import _jitter, _shade, module_color
from diagnose.report.flame_svg import (
    SYNTHETIC_FILL,
    TOP_FINDINGS,
    TOP_MODULES,
    WORDS,
    XPAD,
    FlameOptions,
    LegendItem,
    _box_title,
    _hatch,
    _Paint,
    _pct,
    _source_name,
    _svg,
    _tree,
)
from diagnose.report.flamegraph_js import OUTLINES
from diagnose.report.labels import colon, severity_label

# Also importable from here: the options, the left padding and the tree the tests and callers use.
__all__ = ["XPAD", "FlameOptions", "build_tree", "render_diff_flamegraph", "render_flamegraph", "render_profile"]


if TYPE_CHECKING:
    from diagnose.expert.analysis import Analysis


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
    # Loaded here: the comparison's modules are not what a plain flame graph needs.
    from diagnose.report.flame_diff import render_diff

    return render_diff(before, after, options, kb)
