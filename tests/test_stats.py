"""Statistics helpers against hand computations."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from clustersim.stats import estimate, time_at_level, time_weighted_mean


def test_time_weighted_mean_of_a_step_function():
    # level 4 on [0, 2), 3 on [2, 5), 4 on [5, 10)
    times, deltas = np.array([2.0, 5.0]), np.array([-1.0, 1.0])
    assert time_weighted_mean(times, deltas, 4.0, 0.0, 10.0) == pytest.approx((8 + 9 + 20) / 10)
    # window [3, 10): 3 on [3, 5), 4 on [5, 10)
    assert time_weighted_mean(times, deltas, 4.0, 3.0, 10.0) == pytest.approx((6 + 20) / 7)


def test_time_at_level_counts_only_the_window():
    times, levels = np.array([2.0, 5.0, 12.0]), np.array([0.0, 1.0, 0.0])
    assert time_at_level(times, levels, 1.0, 1.0, 10.0, lambda v: v == 0) == pytest.approx(3.0)


def test_student_t_interval():
    values = [1.0, 2.0, 4.0, 7.0]
    e = estimate(values, "h")
    half = scipy_stats.t.ppf(0.975, 3) * np.std(values, ddof=1) / 2
    assert (e.mean, e.ci95_low, e.ci95_high, e.n) == pytest.approx((3.5, 3.5 - half, 3.5 + half, 4))


def test_undefined_replications_are_left_out_and_one_value_has_no_interval():
    e = estimate([math.nan, 5.0], "h")
    assert e.n == 1 and e.mean == 5.0 and e.ci95_low is None
