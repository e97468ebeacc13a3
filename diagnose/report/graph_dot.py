"""The call graph as Graphviz DOT text (render with `dot -Tsvg`), in the manner of gprof2dot: a
box per function (name, module, inclusive share and self share), an edge per call with the
share and number of samples in which it was made, filled with the function's component colour
(the flame graph's); kernel functions dashed; the frames of findings bold with a double border.

Every text from the input is written inside a quoted DOT string: control characters escaped
for the terminal first (`\\x1b`), then backslashes and double quotes escaped for DOT, so a name
(C++ templates, quotes, backslashes, `<>`) is shown as written and cannot end the string or
turn into a DOT escape such as `\\N` or `\\l`."""

from __future__ import annotations

import networkx as nx

from diagnose.core.escape import terminal

# Longer names (C++ templates) are shortened in the middle in the box; the tooltip has all of it.
MAX_LABEL = 80
WORDS = {
    "en": {"samples": "samples", "self": "self", "findings": "findings", "legend": "components",
           "header": "{source}: {n:,} samples with a call chain; functions with {node:g}% or more of them "
                     "(inclusive), calls in {edge:g}% or more",
           "key": "box: inclusive % (self %); edge: % and number of samples that made the call; dashed: kernel; "
                  "bold, double border: frames of a finding"},
    "zh": {"samples": "次采样", "self": "自身", "findings": "诊断发现", "legend": "组件",
           "header": "{source}：{n:,} 次带调用链的采样；显示占其中 {node:g}% 以上（含子调用）的函数、占 {edge:g}% 以上的调用",
           "key": "方框：含子调用占比（自身占比）；边：发生该调用的采样占比与次数；虚线：内核；粗体双框：诊断发现涉及的帧"},
}


def quote(text: object) -> str:
    """A DOT double-quoted string showing `text` as written."""
    s = terminal(text).encode("utf-8", "backslashreplace").decode("utf-8")
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _lines(*parts: str) -> str:
    """Several texts as one quoted DOT label, a line each (centred)."""
    return '"' + "\\n".join(quote(p)[1:-1] for p in parts) + '"'


def _short(name: str) -> str:
    if len(name) <= MAX_LABEL:
        return name
    half = (MAX_LABEL - 1) // 2
    return name[:half] + "…" + name[-half:]


def _text_color(fill: str) -> str:
    c = fill.lstrip("#")
    try:
        r, g, b = (int(c[i:i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return "#000000"
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b >= 140 else "#ffffff"


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def render_dot(g: nx.DiGraph, lang: str = "en") -> str:
    w = WORDS.get(lang, WORDS["en"])
    out = ["digraph callgraph {"]
    header = w["header"].format(source=g.graph.get("source", ""), n=g.graph.get("stack_samples", 0),
                                node=g.graph.get("node_threshold", 0), edge=g.graph.get("edge_threshold", 0))
    out.append(f'  graph [fontname="Helvetica", fontsize=12, labelloc=t, ranksep=0.25, nodesep=0.25, '
               f'label={_lines(header, w["key"])}];')
    out.append('  node [shape=box, style="filled,rounded", fontname="Helvetica", fontsize=10, penwidth=1];')
    out.append('  edge [fontname="Helvetica", fontsize=9, arrowsize=0.6];')
    used: dict[str, tuple[str, str]] = {}
    for node, d in sorted(g.nodes(data=True), key=lambda nd: (-nd[1]["inclusive_samples"], nd[0])):
        module = d["module"].rsplit("/", 1)[-1]
        parts = [_short(d["name"])] + ([module] if module else [])
        parts.append(f"{_pct(d['inclusive_share'])} ({w['self']} {_pct(d['self_share'])})")
        if d["marked"]:
            parts.append(f"{w['findings']}{'：' if lang == 'zh' else ': '}{d['findings'].replace(',', ', ')}")
        style = "filled,rounded" + (",dashed" if d["kind"] == "kernel" else "") + (",bold" if d["marked"] else "")
        tooltip = f"{d['name']} — {d['module'] or '?'} — {d['component_title']} — " \
                  f"{d['inclusive_samples']:,} {w['samples']} ({w['self']} {d['self_samples']:,})"
        extra = ", peripheries=2, penwidth=2.5" if d["marked"] else ""
        out.append(f"  {node} [label={_lines(*parts)}, tooltip={quote(tooltip)}, fillcolor={quote(d['color'])}, "
                   f"fontcolor={quote(_text_color(d['color']))}, style={quote(style)}{extra}];")
        if d["component"]:
            used.setdefault(d["component"], (d["component_title"], d["color"]))
    for a, b, d in sorted(g.edges(data=True), key=lambda e: (-e[2]["samples"], e[0], e[1])):
        width = 1 + 4 * min(1.0, d["share"] * 2)
        out.append(f"  {a} -> {b} [label={_lines(_pct(d['share']), str(d['samples']))}, "
                   f"penwidth={width:.2f}, weight={max(1, round(100 * d['share']))}];")
    if used:
        out.append("  subgraph cluster_legend {")
        out.append(f"    label={quote(w['legend'])}; fontsize=10; style=rounded;")
        for k, (cid, (title, color)) in enumerate(sorted(used.items())):
            out.append(f"    legend_{k} [label={quote(title)}, fillcolor={quote(color)}, "
                       f"fontcolor={quote(_text_color(color))}, tooltip={quote(cid)}];")
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"
