"""The SVG flame graph: structure parsed back from the XML and from its data payload."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import fixture, run_cli
from diagnose.components import component_breakdown
from diagnose.knowledge import builtin_knowledge
from diagnose.pipeline import analyze, load_profile
from diagnose.profile import CaptureInfo, Frame, Profile, Stack, Thread
from diagnose.report.flamegraph import (FlameOptions, XPAD, build_tree, render_diff_flamegraph, render_flamegraph,
                                        render_profile)

NS = {"s": "http://www.w3.org/2000/svg"}
XSS = "<script>alert(1)</script>"
NASTY = [XSS, "]]></script><script>alert(2)</script>", 'a & b "q" \'x\' <i>', "x\x01y"]

APP, LIBC, VPX = "/usr/bin/app", "/usr/lib/libc.so.6", "/usr/lib/libvpx.so.7"
SRTP, K = "/usr/lib/libsrtp2.so.1", "[kernel.kallsyms]"
# (thread name, frames root first as (name, module), samples); kernel frames are those in [kernel.kallsyms]
SAMPLE_STACKS = [
    ("app", [("main", APP), ("encode", APP), ("vp8_encode_frame", VPX)], 50),
    ("app", [("main", APP), ("encode", APP), ("vp8_encode_frame", VPX), ("memcpy", LIBC)], 10),
    ("app", [("main", APP), ("encode", APP)], 5),
    ("app", [("main", APP), ("send", APP), ("srtp_protect", SRTP)], 20),
    ("net", [("main", APP), ("send", APP), ("sendto", LIBC), ("entry_SYSCALL_64", K), ("udp_sendmsg", K)], 15),
    ("net", [("main", APP), (XSS, APP)], 4),
    ("net", [("main", APP), (NASTY[1], APP), (NASTY[2], APP), (NASTY[3], APP)], 3),
]


def make_profile(stacks: list[tuple[str, list[tuple[str, str]], int]] = SAMPLE_STACKS, pid: int = 100,
                 duration: float | None = 1.0) -> Profile:
    frames: list[Frame] = []
    ids: dict[Frame, int] = {}
    threads: list[Thread] = []
    tids: dict[str, int] = {}
    out = []
    for comm, path, n in stacks:
        if comm not in tids:
            tids[comm] = len(threads)
            threads.append(Thread(comm, pid, pid + len(threads)))
        fids = []
        for name, module in path:
            f = Frame(name, module, "kernel" if module == K else "user")
            if f not in ids:
                ids[f] = len(frames)
                frames.append(f)
            fids.append(ids[f])
        out.append(Stack(tids[comm], tuple(fids), n, 1))
    total = sum(n for _, _, n in stacks)
    cap = CaptureInfo(source="synthetic.perf.txt", format="perf-script", event="cpu-clock", total_samples=total,
                      frequency_hz=99.0 if duration else None, duration_s=duration)
    return Profile(frames, threads, out, cap)


@dataclass
class StandIn:
    """What the flame graph reads of a finding."""

    id: str
    subject: str | None
    severity: str
    score: float
    frames: list[int] = field(default_factory=list)


class Svg:
    """A rendered flame graph, parsed."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.root = ET.fromstring(text.encode("utf-8"))
        self.groups = self.root.findall("s:g[@id='frames']/s:g", NS)
        data = self.root.find("s:script[@id='fg-data']", NS)
        assert data is not None and data.text
        self.data = json.loads(data.text)

    def rect(self, i: int) -> ET.Element:
        r = self.groups[i].find("s:rect", NS)
        assert r is not None
        return r

    def title(self, i: int) -> str:
        return self.groups[i].findtext("s:title", "", NS)

    def label(self, i: int) -> str:
        return self.groups[i].findtext("s:text", "", NS)

    def name(self, i: int) -> str:
        return self.data["names"][self.data["boxes"][i][0]]

    def path(self, i: int) -> tuple[str, ...]:
        out = []
        while i > 0:
            out.append(self.name(i))
            i = self.data["boxes"][i][6]
        return tuple(reversed(out))

    def legend(self) -> list[str]:
        return [t.text or "" for t in self.root.findall("s:g[@id='legend']//s:text", NS)]

    def classes(self, i: int) -> set[str]:
        return set((self.groups[i].get("class") or "").split())


def render(profile: Profile | None = None, findings: list[StandIn] | None = None, **opts: object) -> Svg:
    return Svg(render_profile(profile or make_profile(), FlameOptions(**opts), builtin_knowledge(),  # type: ignore[arg-type]
                              findings or []))


def test_valid_xml_with_one_box_per_call_path() -> None:
    profile = make_profile()
    svg = render(profile, min_width=0)
    expected = {("app [100]",), ("app [100]", "app"), ("app [100]", "net")}
    for comm, path, _ in SAMPLE_STACKS:
        names = [n for n, _ in path]
        for k in range(1, len(names) + 1):
            expected.add(("app [100]", comm, *[n.replace("\x01", "\ufffd") for n in names[:k]]))
    paths = [svg.path(i) for i in range(1, len(svg.groups))]
    assert len(paths) == len(set(paths)), "a call path drawn twice"
    assert set(paths) == expected
    assert len(svg.groups) == len(svg.data["boxes"]) == len(expected) + 1
    for g in svg.groups:
        assert [c.tag.split("}")[1] for c in g] == ["title", "rect", "text"]


def test_widths_proportional_to_samples_and_root_is_total() -> None:
    profile = make_profile()
    svg = render(profile, width=1000, min_width=0)
    inner = 1000 - 2 * XPAD
    total = profile.stack_samples
    assert svg.data["total"] == total
    assert svg.name(0) == "all" and svg.data["boxes"][0][5] == total
    assert float(svg.rect(0).get("width")) == pytest.approx(inner, abs=0.01)
    for i, box in enumerate(svg.data["boxes"]):
        assert float(svg.rect(i).get("width")) == pytest.approx(box[5] * inner / total, abs=0.006)
        assert float(svg.rect(i).get("x")) == pytest.approx(XPAD + box[4] * inner / total, abs=0.006)
    by_path = {svg.path(i): svg.data["boxes"][i][5] for i in range(len(svg.groups))}
    assert by_path[("app [100]", "app", "main", "encode")] == 65
    assert by_path[("app [100]", "app", "main", "encode", "vp8_encode_frame")] == 60
    assert "65 samples" in svg.title(list(by_path).index(("app [100]", "app", "main", "encode")))


def test_tree_invariants_children_inside_parents() -> None:
    profile = make_profile()
    for min_samples in (0.0, 4.0, 30.0):
        tree = build_tree(profile, min_samples)
        assert tree.boxes[0].samples == profile.stack_samples
        kids: dict[int, list[int]] = {}
        for i, b in enumerate(tree.boxes[1:], 1):
            assert b.parent < i, "parents come first"
            p = tree.boxes[b.parent]
            assert b.depth == p.depth + 1
            assert p.start <= b.start and b.start + b.samples <= p.start + p.samples
            kids.setdefault(b.parent, []).append(i)
        for cs in kids.values():
            spans = sorted((tree.boxes[c].start, tree.boxes[c].start + tree.boxes[c].samples) for c in cs)
            assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), "siblings overlap"


def test_names_are_escaped_everywhere() -> None:
    svg = render(min_width=0, width=6000)
    titles = [svg.title(i) for i in range(len(svg.groups))]
    assert any(t.startswith(XSS + " — app · user") for t in titles)
    assert any(svg.label(i) == XSS for i in range(len(svg.groups)))
    for name in NASTY[:3]:
        assert name in svg.data["names"]
    assert "x\ufffdy" in svg.data["names"]
    # Only our two scripts exist, and the payload holds no raw markup characters.
    assert len(svg.root.findall(".//s:script", NS)) == 2
    raw_payload = svg.text.split('id="fg-data">', 1)[1].split("</script>", 1)[0]
    assert not set("<>&") & set(raw_payload)
    assert "<script>alert" not in svg.text
    assert svg.text.count("]]>") == 1  # the end of our own CDATA section only


def test_legend_lists_the_components_present_with_shares() -> None:
    profile = make_profile()
    kb = builtin_knowledge()
    svg = render(profile)
    legend = svg.legend()
    rows = component_breakdown(profile, kb)
    assert {r.id for r in rows} >= {"codecs", "crypto", "network-io", "memory", "application"}
    for r in rows:
        assert any(t.startswith(r.title["en"]) and f"{100 * r.share.value:.2f}%" in t for t in legend), r.id
    absent = [c for cid, c in kb.components.items() if cid not in {r.id for r in rows}]
    assert absent and not any(t.startswith(c.title["en"]) for c in absent for t in legend)
    zh = render(profile, lang="zh").legend()
    assert any(t.startswith(kb.components["codecs"].title["zh"]) for t in zh)


def test_kernel_frames_are_hatched_and_in_the_legend() -> None:
    svg = render(min_width=0)
    kernel = [i for i in range(len(svg.groups)) if svg.name(i) in ("udp_sendmsg", "entry_SYSCALL_64")]
    assert len(kernel) == 2
    patterns = {p.get("id") for p in svg.root.findall(".//s:defs/s:pattern", NS)}
    for i in kernel:
        assert "k" in svg.classes(i)
        m = re.fullmatch(r"url\(#(\w+)\)", svg.rect(i).get("fill") or "")
        assert m and m.group(1) in patterns
    user = [i for i in range(1, len(svg.groups)) if svg.data["kinds"][svg.data["boxes"][i][2]] == "user"]
    assert all("k" not in svg.classes(i) and svg.rect(i).get("fill", "").startswith("#") for i in user)
    assert any("kernel frames" in t for t in svg.legend())


def test_top_findings_are_outlined_and_named() -> None:
    profile = make_profile()
    vp8 = next(i for i, f in enumerate(profile.frames) if f.name == "vp8_encode_frame")
    srtp = next(i for i, f in enumerate(profile.frames) if f.name == "srtp_protect")
    findings = [StandIn("codec-hot", "vp8", "high", 90.0, [vp8]), StandIn("no-frames", None, "low", 10.0, []),
                StandIn("srtp-cost", None, "medium", 60.0, [srtp])]
    svg = render(profile, findings)
    marks = {"o0", "o1"}
    outlined = {svg.name(i): svg.classes(i) & marks for i in range(len(svg.groups)) if svg.classes(i) & marks}
    assert outlined == {"vp8_encode_frame": {"o0"}, "srtp_protect": {"o1"}}
    legend = svg.legend()
    assert any("codec-hot (vp8) [high]" in t for t in legend)
    assert any("srtp-cost [medium]" in t for t in legend)
    assert not any("no-frames" in t for t in legend)


def test_real_capture_outlines_the_codec_finding() -> None:
    analysis = analyze(str(fixture("ffmpeg-libvpx-vp8-cpu0.perf.txt.gz")), jobs=1)
    svg = Svg(render_flamegraph(analysis))
    assert any("codec-hot (vp8)" in t for t in svg.legend())
    hot = [i for i in range(len(svg.groups)) if "o0" in svg.classes(i)]
    assert hot and sum(svg.data["boxes"][i][5] for i in hot) >= 0.9 * svg.data["total"]


def _wide_profile(n_siblings: int = 400) -> Profile:
    stacks = [("app", [("main", APP), ("hot", APP)], 4000)]
    stacks += [("app", [("main", APP), (f"tiny_{i:03d}", APP), ("leaf", APP)], 1) for i in range(n_siblings)]
    stacks += [("app", [("main", APP), (f"small_{i:02d}", APP)], 3) for i in range(10)]
    return make_profile(stacks)


def test_min_width_merges_narrow_boxes_and_keeps_the_width() -> None:
    profile = _wide_profile()
    full = render(profile, min_width=0)
    merged = render(profile, min_width=0.5)
    assert len(merged.groups) < len(full.groups) / 5
    for svg in (full, merged):
        assert float(svg.rect(0).get("width")) == pytest.approx(1200 - 2 * XPAD, abs=0.01)
    narrow = [i for i in range(len(merged.groups)) if merged.name(i).startswith("(")]
    assert len(narrow) == 1 and merged.name(narrow[0]) == "(400 functions narrower than 0.5 px)"
    assert merged.data["boxes"][narrow[0]][5] == 400
    assert sum(merged.name(i).startswith("small_") for i in range(len(merged.groups))) == 10
    main = next(i for i in range(len(merged.groups)) if merged.name(i) == "main")
    kids = [b for b in merged.data["boxes"] if b[6] == main]
    assert sum(b[5] for b in kids) == merged.data["boxes"][main][5], "merged, not lost"
    assert "merged" in merged.root.findtext("s:text[@id='subtitle']", "", NS)
    # Even narrower together: dropped, their time left to the parent.
    dropped = render(profile, min_width=100)
    assert not any(dropped.name(i).startswith("(") and dropped.data["boxes"][i][3] == 4
                   for i in range(len(dropped.groups)))


def test_icicle_puts_the_root_on_top() -> None:
    profile = make_profile()
    flame, icicle = render(profile, min_width=0), render(profile, min_width=0, icicle=True)
    ys = lambda s: [float(s.rect(i).get("y")) for i in range(len(s.groups))]  # noqa: E731
    assert ys(flame)[0] == max(ys(flame)) and ys(icicle)[0] == min(ys(icicle))
    deepest = max(range(len(flame.groups)), key=lambda i: flame.data["boxes"][i][3])
    assert ys(flame)[deepest] == min(ys(flame)) and ys(icicle)[deepest] == max(ys(icicle))


def test_module_colours_differ_from_category_colours() -> None:
    profile = make_profile()
    by_cat, by_mod = render(profile, min_width=0), render(profile, min_width=0, colors="module")
    fills = lambda s: [s.rect(i).get("fill") for i in range(len(s.groups))]  # noqa: E731
    assert fills(by_cat) != fills(by_mod)
    legend = by_mod.legend()
    for module in ("libvpx.so.7", "app", "libsrtp2.so.1", "libc.so.6"):
        assert any(t.startswith(f"{module} — ") for t in legend), module
    again = render(profile, min_width=0, colors="module")
    assert fills(again) == fills(by_mod), "the palette is stable"


def test_differential_graph_colours_by_change_of_share() -> None:
    before = make_profile()
    grown = [(c, p, n * 5 if any(name == "srtp_protect" for name, _ in p) else n) for c, p, n in SAMPLE_STACKS]
    grown = [s for s in grown if s[1][-1][0] != "memcpy"]  # a call path gone in AFTER
    after = make_profile(grown)
    svg = Svg(render_diff_flamegraph(before, after, FlameOptions(min_width=0)))
    idx = {svg.path(i)[-1]: i for i in range(1, len(svg.groups))}
    red = svg.rect(idx["srtp_protect"]).get("fill") or ""
    blue = svg.rect(idx["vp8_encode_frame"]).get("fill") or ""
    r, g, b = (int(red[k:k + 2], 16) for k in (1, 3, 5))
    assert r > 150 and r > g + 60 and r > b + 60
    r, g, b = (int(blue[k:k + 2], 16) for k in (1, 3, 5))
    assert b > r + 30
    assert svg.data["boxes"][0][5] == after.stack_samples
    assert svg.data["diff"]["before"][idx["srtp_protect"]] == 20
    assert svg.data["diff"]["only_before_samples"] == 10
    title = svg.title(idx["srtp_protect"])
    assert "after:" in title and "before: 18.69% (20 samples" in title and "95%" in title
    assert "memcpy" not in svg.data["names"]
    assert any("only in BEFORE" in t for t in svg.legend())


def test_cli_writes_the_svg(tmp_path: Path) -> None:
    out = tmp_path / "fg.svg"
    proc = run_cli("flamegraph", str(fixture("ffmpeg-libvpx-vp8-cpu8.perf.txt.gz")), "-o", str(out), "-j", "1",
                   "--title", "VP8 <fast>", "--width", "900", "--icicle")
    assert proc.returncode == 0, proc.stderr
    svg = Svg(out.read_text(encoding="utf-8"))
    assert svg.root.get("width") == "900"
    assert svg.root.findtext("s:text[@id='title']", "", NS) == "VP8 <fast>"
    diff = tmp_path / "diff.svg"
    proc = run_cli("flamegraph", "--diff", str(fixture("ffmpeg-libvpx-vp8-cpu0.perf.txt.gz")),
                   str(fixture("ffmpeg-libvpx-vp8-cpu8.perf.txt.gz")), "-o", str(diff), "-j", "1")
    assert proc.returncode == 0, proc.stderr
    assert "diff" in Svg(diff.read_text(encoding="utf-8")).data


@pytest.mark.parametrize("args, text", [
    ([], "either one INPUT or --diff"),
    (["--colors", "rainbow"], "--colors"),
    (["--width", "5"], "--width"),
])
def test_cli_errors_are_one_line(args: list[str], text: str) -> None:
    from conftest import assert_one_line_error

    target = [] if not args else [str(fixture("ffmpeg-libvpx-vp8-cpu8.perf.txt.gz"))]
    assert_one_line_error(run_cli("flamegraph", *target, *args), text)


def test_real_capture_stays_consistent_with_the_profile() -> None:
    profile = load_profile(str(fixture("ffmpeg-libvpx-vp8-cpu8.perf.txt.gz")), jobs=1)
    svg = Svg(render_profile(profile, FlameOptions(min_width=0)))
    leaves_total = sum(b[5] for i, b in enumerate(svg.data["boxes"]) if svg.data["kinds"][b[2]] == "process")
    assert leaves_total == profile.stack_samples


def test_a_capture_without_call_chains_gives_an_empty_graph() -> None:
    analysis = analyze(str(fixture("idle-sleep.perf.txt.gz")), jobs=1)
    assert analysis.profile.stack_samples == 0
    svg = Svg(render_flamegraph(analysis))
    assert len(svg.groups) == 1 and svg.name(0) == "all" and svg.data["total"] == 0
    assert "no samples with a call chain" in svg.root.findtext("s:text[@id='subtitle']", "", NS)
