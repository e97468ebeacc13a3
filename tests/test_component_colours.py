"""The component colours of the flame graph and call graph can be told apart: every pair, by people
with normal colour vision and by people with protanopia, deuteranopia or tritanopia (simulated with
the matrices of Machado, Oliveira and Fernandes 2009, severity 1.0), and each is light enough for
the black box labels."""

from __future__ import annotations

import itertools

from diagnose.knowledge import builtin_knowledge

# Linear-RGB simulation matrices (Machado et al. 2009, severity 1.0).
VISION = {
    "normal": ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
    "protanopia": ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216), (-0.003882, -0.048116, 1.051998)),
    "deuteranopia": ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413), (-0.011820, 0.042940, 0.968881)),
    "tritanopia": ((1.255528, -0.076749, -0.178779), (-0.078411, 0.930809, 0.147602), (0.004733, 0.691367, 0.303900)),
}
# CIE76 distance below which two swatches side by side start to look alike.
MIN_DELTA_E = 12.0
MIN_LIGHTNESS = 50.0


def _linear(color: str) -> tuple[float, ...]:
    out = []
    for i in (1, 3, 5):
        c = int(color[i:i + 2], 16) / 255
        out.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    return tuple(out)


def lab(color: str, vision: str) -> tuple[float, float, float]:
    rgb = [min(1.0, max(0.0, sum(m * c for m, c in zip(row, _linear(color))))) for row in VISION[vision]]
    xyz = [sum(m * c for m, c in zip(row, rgb)) / white for row, white in
           zip(((0.4124, 0.3576, 0.1805), (0.2126, 0.7152, 0.0722), (0.0193, 0.1192, 0.9505)), (0.95047, 1.0, 1.08883))]
    f = [v ** (1 / 3) if v > 0.008856 else 7.787 * v + 16 / 116 for v in xyz]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def delta_e(a: str, b: str, vision: str) -> float:
    return sum((x - y) ** 2 for x, y in zip(lab(a, vision), lab(b, vision))) ** 0.5


def test_every_pair_of_component_colours_differs_for_every_kind_of_colour_vision() -> None:
    comps = builtin_knowledge().components
    assert len(comps) >= 10
    close = [(a.id, b.id, vision, round(delta_e(a.color, b.color, vision), 1))
             for a, b in itertools.combinations(comps.values(), 2) for vision in VISION
             if delta_e(a.color, b.color, vision) < MIN_DELTA_E]
    assert not close, f"component colours too close to tell apart (ΔE < {MIN_DELTA_E}): {close}"


def test_component_colours_are_light_enough_for_black_labels() -> None:
    dark = {c.id: c.color for c in builtin_knowledge().components.values() if lab(c.color, "normal")[0] < MIN_LIGHTNESS}
    assert not dark


def test_the_check_sees_colours_that_look_alike() -> None:
    # The palette before: ipc and file-io were two teals, media-processing and serialization two
    # yellows that tritanopia cannot tell apart.
    assert delta_e("#76b7b2", "#86bcb6", "normal") < MIN_DELTA_E
    assert delta_e("#edc948", "#f1ce63", "tritanopia") < MIN_DELTA_E < delta_e("#edc948", "#4e79a7", "tritanopia")
