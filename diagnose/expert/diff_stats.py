"""The statistics of `diagnose diff` (the method is in diagnose.expert.diff's docstring): the
change of a share with Newcombe's hybrid score interval and the pooled z-test, the change of a
rate of samples per second of one core with MOVER Poisson intervals and the conditional test,
and Holm-Bonferroni adjusted p-values."""

from __future__ import annotations

import math

from diagnose.model.stats import Z95, wilson


def share_change(k1: int, n1: int, k2: int, n2: int, z: float = Z95) -> tuple[float, float, float]:
    """p2 - p1 with its 95% interval (Newcombe's hybrid score method, from Wilson intervals)."""
    p1 = k1 / n1 if n1 else 0.0
    p2 = k2 / n2 if n2 else 0.0
    l1, u1 = wilson(k1, n1, z)
    l2, u2 = wilson(k2, n2, z)
    d = p2 - p1
    return d, d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2), d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)


def share_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test."""
    if not n1 or not n2:
        return 1.0
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    return math.erfc(abs(k2 / n2 - k1 / n1) / se / math.sqrt(2))


def poisson_interval(k: int, exposure: float, z: float = Z95) -> tuple[float, float]:
    """Score interval of a Poisson rate k/exposure."""
    half = z * math.sqrt(k + z * z / 4)
    centre = k + z * z / 2
    return max(0.0, centre - half) / exposure, (centre + half) / exposure


def rate_change(k1: int, e1: float, k2: int, e2: float, z: float = Z95) -> tuple[float, float, float]:
    """k2/e2 - k1/e1 with its 95% interval (MOVER from Poisson score intervals)."""
    r1, r2 = k1 / e1, k2 / e2
    l1, u1 = poisson_interval(k1, e1, z)
    l2, u2 = poisson_interval(k2, e2, z)
    d = r2 - r1
    return d, d - math.sqrt((r2 - l2) ** 2 + (u1 - r1) ** 2), d + math.sqrt((u2 - r2) ** 2 + (r1 - l1) ** 2)


def rate_p(k1: int, e1: float, k2: int, e2: float) -> float:
    """Two-sided p-value for equal Poisson rates: k2 | k1 + k2 ~ Binomial(k1 + k2, e2 / (e1 + e2)),
    normal approximation with continuity correction."""
    n = k1 + k2
    if n == 0:
        return 1.0
    pi = e2 / (e1 + e2)
    sd = math.sqrt(n * pi * (1 - pi))
    if sd == 0:
        return 1.0
    return math.erfc(max(0.0, abs(k2 - n * pi) - 0.5) / sd / math.sqrt(2))


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
