"""Wilson intervals: a share from 300 samples is not a share from 30,000."""

from __future__ import annotations

import pytest

from diagnose.stats import Share, wilson


def test_known_values() -> None:
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    lo, hi = wilson(10, 10)
    assert lo == pytest.approx(0.7225, abs=1e-4) and hi == 1.0


def test_more_samples_narrow_the_interval_around_the_same_share() -> None:
    small, large = Share(70, 300), Share(7000, 30000)
    assert small.value == pytest.approx(large.value)
    assert small.half_width > 5 * large.half_width
    for s in (small, large):
        lo, hi = s.interval
        assert lo < s.value < hi


def test_empty_profile_has_no_interval() -> None:
    assert wilson(0, 0) == (0.0, 0.0)
