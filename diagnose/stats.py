"""Sampling statistics: shares of samples with their 95% Wilson score intervals."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Share:
    """k of n samples, as a fraction with its 95% interval."""

    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.k, self.n)

    @property
    def half_width(self) -> float:
        lo, hi = self.interval
        return (hi - lo) / 2

    def to_dict(self) -> dict[str, float | int | list[float]]:
        lo, hi = self.interval
        return {"samples": self.k, "share": round(self.value, 6), "ci95": [round(lo, 6), round(hi, 6)]}


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion k/n (0..1 bounds; (0, 0) when n is 0)."""
    if n <= 0:
        return (0.0, 0.0)
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    lo = 0.0 if k == 0 else max(0.0, center - half)
    hi = 1.0 if k == n else min(1.0, center + half)
    return (lo, hi)


def pct(x: float, digits: int = 2) -> str:
    return f"{100 * x:.{digits}f}%"


def share_text(share: Share, digits: int = 2) -> str:
    """"23.50% (21.9-25.2)": the share and its 95% interval."""
    lo, hi = share.interval
    d = max(1, digits - 1)
    return f"{pct(share.value, digits)} ({100 * lo:.{d}f}-{100 * hi:.{d}f})"
