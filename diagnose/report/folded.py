"""Folded-stack text of a Profile (root frame = process name, as stackcollapse-perf.pl writes it)."""

from __future__ import annotations

from diagnose.model.profile import Profile
from diagnose.model.stack_counts import profile_counts

__all__ = ["profile_counts", "profile_folded"]


def profile_folded(profile: Profile, kernel_suffix: bool = False) -> bytes:
    folded = profile_counts(profile, kernel_suffix)
    return b"".join(k + b" %d\n" % folded[k] for k in sorted(folded))
