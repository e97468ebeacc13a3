"""A measured value as the rules see it (the value, the samples behind it, per thread), how sure a
share is against its threshold, the reading of numbers and environment paths rules compare, and
the apportioning of samples under a wrapper frame or a system call."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Measured:
    """A measured value, the samples behind it (for intervals) and per-thread samples."""

    value: float | str | None
    samples: int | float | None = None
    by_thread: dict[int, float] | None = None
    subject: str | None = None
    note: str | None = None
    # Read from user-space wrapper frames only (a profile without kernel frames): less certain.
    inferred: bool = False


INFERRED_NOTE = "read from system-call wrapper frames: the profile has no kernel frames"
NO_KERNEL_NOTE = ("the profile has no frames marked as kernel (a user-space sampler, or folded stacks without _[k] "
                  "annotations): kernel work cannot be measured")


def confidence(share: float, threshold: float, n: int) -> float:
    """How sure we are that the true share is at or above the threshold, from n samples
    (normal approximation to the binomial; 0.5 exactly at the threshold)."""
    if n <= 0:
        return 0.0
    p = min(max(share, 0.0), 1.0)
    se = math.sqrt(max(p * (1 - p), 1.0 / n) / n)
    z = (p - threshold) / se
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def env_lookup(env: dict[str, Any], path: str) -> Any:
    """environment["sysctl"]["net.core.rmem_max"] for "sysctl.net.core.rmem_max"."""
    node: Any = env
    rest = path
    while rest:
        if isinstance(node, dict) and rest in node:
            return node[rest]
        head, _, tail = rest.partition(".")
        if not isinstance(node, dict) or head not in node:
            return None
        node, rest = node[head], tail
    return node


def as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        # One number only: "4096 131072 6291456" (udp_mem, tcp_rmem) is not one number, and is
        # not compared as if it were its first.
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _apportion(rows: dict[tuple[int, Any], list[int]],
               last_resort: Callable[[Any], bool] | None = None) -> tuple[float, dict[int, float], bool]:
    """Samples under something (a wrapper frame, a system call), per (thread, key) row of
    [under, reaching `to`, reaching `among`], attributed to `to` in the row's own proportion;
    a row that reaches nothing compared (all entry/exit, say) takes the proportion of its key on
    all threads, else all or nothing as `last_resort(key)` says. Returns the attributed samples,
    per thread, and whether the last resort was used."""
    per_key: dict[Any, list[int]] = {}
    for (_, key), r in rows.items():
        agg = per_key.setdefault(key, [0, 0])
        agg[0] += r[1]
        agg[1] += r[2]
    total = 0.0
    by: dict[int, float] = {}
    used_last = False
    for (t, key), (under, reach_to, reach_among) in rows.items():
        if reach_among:
            ratio = reach_to / reach_among
        elif per_key[key][1]:
            ratio = per_key[key][0] / per_key[key][1]
        elif last_resort is not None and last_resort(key):
            ratio, used_last = 1.0, True
        else:
            ratio = 0.0
        total += under * ratio
        by[t] = by.get(t, 0.0) + under * ratio
    return total, by, used_last
