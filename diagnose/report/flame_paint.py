"""The flame graph's colours and text helpers: colour arithmetic, a stable colour per module,
the differential colour scale, and text made safe for SVG (character data, attributes, an
embedded JSON payload)."""

from __future__ import annotations

import colorsys
import json
import re
import zlib
from collections.abc import Iterable
from typing import Any

from diagnose.model.flametree import module_base

CHAR_W = 6.6             # average advance of an 11px Verdana glyph, for fitting names into boxes
DIFF_NEUTRAL = (232, 232, 232)
DIFF_GREW = (214, 39, 40)
DIFF_SHRANK = (31, 90, 180)
# A differential colour reaches full intensity at the largest change in the graph, but never for
# less than this (so a graph of sampling noise stays pale).
DIFF_FULL_SCALE = 0.02


def _rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    try:
        return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
    except ValueError:
        return (153, 153, 153)


def _hex(rgb: Iterable[float]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(v))):02x}" for v in rgb)


def _shade(color: str, amount: float) -> str:
    """Lighter (amount > 0) or darker (< 0), so that neighbouring boxes of one colour stay apart."""
    r, g, b = _rgb(color)
    if amount >= 0:
        return _hex(v + (255 - v) * amount for v in (r, g, b))
    return _hex(v * (1 + amount) for v in (r, g, b))


def _jitter(name: str) -> float:
    return ((zlib.crc32(name.encode("utf-8", "replace")) % 1000) / 1000 - 0.5) * 0.3


def module_color(module: str) -> str:
    """A stable colour per module (DSO): hue, saturation and lightness from a hash of its name."""
    h = zlib.crc32(module_base(module).encode("utf-8", "replace"))
    hue = (h % 360) / 360
    light = 0.55 + ((h >> 9) % 16) / 100
    sat = 0.45 + ((h >> 17) % 30) / 100
    r, g, b = colorsys.hls_to_rgb(hue, light, sat)
    return _hex((r * 255, g * 255, b * 255))


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> str:
    return _hex(x + (y - x) * t for x, y in zip(a, b))


def diff_color(delta: float, scale: float) -> str:
    t = min(1.0, abs(delta) / scale) if scale > 0 else 0.0
    return _mix(DIFF_NEUTRAL, DIFF_GREW if delta > 0 else DIFF_SHRANK, t)


# -- text ----------------------------------------------------------------------------------

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean(text: str) -> str:
    """Characters XML 1.0 cannot hold at all (controls, lone surrogates) become U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def esc(text: str) -> str:
    """Text as XML character data or attribute value (already cleaned or not)."""
    return (clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;"))


def script_json(data: Any) -> str:
    """JSON that can sit in any markup: <, > and & only ever appear as \\u escapes (so neither
    "</script>" nor "]]>" nor an entity can end or change it)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def fit(name: str, width: float) -> str:
    """The name as it fits in a box of `width` px (the script does the same after a zoom)."""
    n = int((width - 6) // CHAR_W)
    if n < 3:
        return ""
    return name if len(name) <= n else name[: n - 2] + ".."
