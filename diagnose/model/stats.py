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


def poisson_cdf(k: int, lam: float) -> float:
    """P(X <= k) for X ~ Poisson(lam): the chance of seeing at most k samples where lam were expected."""
    if k < 0:
        return 0.0
    if lam <= 0:
        return 1.0
    if lam > 1000:  # normal approximation with continuity correction: exact to far better than 2 decimals here
        return 0.5 * (1 + math.erf((k + 0.5 - lam) / math.sqrt(2 * lam)))
    if k > lam + 40 * math.sqrt(lam) + 40:
        return 1.0
    term = math.exp(-lam)
    total = term
    for i in range(1, k + 1):
        term *= lam / i
        total += term
    return min(total, 1.0)


def cores_confidence(samples: int, threshold: float, op: str, frequency_hz: float, duration_s: float) -> float:
    """How sure we are that the true CPU cores are on the rule's side of `threshold` (op lt/lte:
    below it; gt/gte: above it), given `samples` samples at `frequency_hz` over `duration_s`:
    the samples counted are Poisson with mean cores × frequency × duration, so this is one minus
    the chance of seeing as few (or as many) samples if the cores were exactly at the threshold."""
    lam = threshold * frequency_hz * duration_s
    if op in ("lt", "lte"):
        return 1.0 - poisson_cdf(samples, lam)
    return poisson_cdf(samples - 1, lam)
