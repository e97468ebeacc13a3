"""The differential flame graph: widths from AFTER, each call path matched by names to BEFORE,
red where its share grew, blue where it shrank."""

from __future__ import annotations

from diagnose.expert.diff import share_change
from diagnose.expert.knowledge import Knowledge
from diagnose.model.flametree import module_base
from diagnose.model.profile import CaptureInfo, Profile, cores_used
from diagnose.report.flame_paint import DIFF_FULL_SCALE, DIFF_GREW, DIFF_NEUTRAL, DIFF_SHRANK, _hex, diff_color
from diagnose.report.flame_svg import (
    SYNTHETIC_FILL,
    WORDS,
    FlameOptions,
    LegendItem,
    _box_title,
    _Paint,
    _pct,
    _source_name,
    _svg,
    _tree,
)


def render_diff(before: Profile, after: Profile, options: FlameOptions | None = None,
                           kb: Knowledge | None = None) -> str:
    """Widths from AFTER; each box red where its share of samples grew since BEFORE, blue where it
    shrank, the deeper the larger the change; hover shows both shares and the change's 95% interval."""
    opts = (options or FlameOptions()).check()
    words = WORDS[opts.lang]
    tree = _tree(after, opts, words, "always")
    index, counts = _path_index(before)
    n_before, n_after = before.stack_samples, tree.total
    matched: list[int | None] = [0] * len(tree.boxes)
    before_samples = [0] * len(tree.boxes)
    before_samples[0] = n_before
    for i, b in enumerate(tree.boxes[1:], 1):
        p = matched[b.parent]
        m = index.get((p, tree.nodes[b.node].key)) if p is not None else None
        matched[i] = m
        before_samples[i] = counts[m] if m is not None else 0
    deltas = [b.samples / n_after - before_samples[i] / n_before if n_after and n_before else 0.0
              for i, b in enumerate(tree.boxes)]
    scale = max([abs(d) for i, d in enumerate(deltas) if tree.nodes[tree.boxes[i].node].kind != "narrow"]
                + [DIFF_FULL_SCALE])
    bcap, acap = before.capture, after.capture
    paint = _Paint([], [], [], [], [], [])
    for i, b in enumerate(tree.boxes):
        node = tree.nodes[b.node]
        paint.components.append(-1)
        if node.kind == "narrow":
            paint.fills.append(SYNTHETIC_FILL["narrow"])
            paint.classes.append("")
            paint.titles.append(_box_title(node, b.samples, n_after, words))
            continue
        paint.fills.append(diff_color(deltas[i], scale))
        paint.classes.append("k" if node.kind == "kernel" else "")
        k_before = before_samples[i]
        d, lo, hi = share_change(k_before, n_before, b.samples, n_after)
        before_text = _side_text(k_before, n_before, bcap, words) if matched[i] is not None else words["absent"]
        head = node.name + (f" — {module_base(node.module)}" if node.module else "") + f" · {words[node.kind]}"
        paint.titles.append(f"{head} — {words['after']}: {_side_text(b.samples, n_after, acap, words)} · "
                            f"{words['before']}: {before_text} · Δ {100 * d:+.2f} {words['pp']} "
                            f"(95%: {100 * lo:+.2f} .. {100 * hi:+.2f})")
    only_before = _only_before(before, after, index)
    paint.legend = [
        LegendItem(_hex(DIFF_GREW), words["grew"]),
        LegendItem(_hex(DIFF_SHRANK), words["shrank"]),
        LegendItem(_hex(DIFF_NEUTRAL), words["same"]),
    ]
    note = words["only_before"].format(share=_pct(only_before / n_before if n_before else 0.0))
    paint.legend.append(LegendItem("none", f"{words['widths_after']}; {note}"))
    paint.payload["diff"] = {"before_total": n_before, "before": before_samples,
                             "only_before_samples": only_before}
    sub = [f"{words['before']}: {_source_name(bcap.source)} ({n_before:,})",
           f"{words['after']}: {_source_name(acap.source)} ({n_after:,})", words["widths_after"]]
    title = opts.title or words["diff_title"]
    return _svg(tree, paint, opts, words, title, " · ".join(sub))


def _side_text(k: int, n: int, cap: CaptureInfo, words: dict[str, str]) -> str:
    c = cores_used(k, cap.frequency_hz, cap.duration_s)
    more = f", {c:.3f} {words['cores']}" if c is not None else ""
    return f"{_pct(k / n if n else 0.0)} ({k:,} {words['samples']}{more})"


def _path_keys(profile: Profile) -> list[tuple[tuple[str, ...], ...]]:
    """Per thread: the keys of its process and thread boxes (as build_tree(threads="always") draws)."""
    pnames = profile.program_names()
    out: list[tuple[tuple[str, ...], ...]] = []
    for th in profile.threads:
        if th.pid is None:
            out.append((("p", th.comm),))
        else:
            out.append((("p", pnames[th.pid]), ("t", th.comm)))
    return out


def _path_index(profile: Profile) -> tuple[dict[tuple[int, tuple[str, ...]], int], list[int]]:
    """Every call path of a profile (by names), as (parent path id, key) -> path id, with samples."""
    fkeys = [("f", f.name, module_base(f.module)) for f in profile.frames]
    tkeys = _path_keys(profile)
    index: dict[tuple[int, tuple[str, ...]], int] = {}
    counts = [profile.stack_samples]
    for s in profile.stacks:
        if not s.frames:
            continue
        p = 0
        for key in (*tkeys[s.thread], *(fkeys[f] for f in s.frames)):
            nxt = index.get((p, key))
            if nxt is None:
                nxt = index[(p, key)] = len(counts)
                counts.append(0)
            counts[nxt] += s.samples
            p = nxt
    return index, counts


def _only_before(before: Profile, after: Profile, before_index: dict[tuple[int, tuple[str, ...]], int]) -> int:
    """BEFORE's samples in call paths that AFTER never reaches (not drawn in the differential graph)."""
    after_index, _ = _path_index(after)
    fkeys = [("f", f.name, module_base(f.module)) for f in before.frames]
    tkeys = _path_keys(before)
    missing = 0
    for s in before.stacks:
        if not s.frames:
            continue
        p = 0
        for key in (*tkeys[s.thread], *(fkeys[f] for f in s.frames)):
            nxt = after_index.get((p, key))
            if nxt is None:
                missing += s.samples
                break
            p = nxt
    return missing
