"""Statistics helpers against hand computations."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from clustersim.stats import estimate


def test_student_t_interval():
    values = [1.0, 2.0, 4.0, 7.0]
    e = estimate(values, "h")
    half = scipy_stats.t.ppf(0.975, 3) * np.std(values, ddof=1) / 2
    assert (e.mean, e.ci95_low, e.ci95_high, e.n) == pytest.approx((3.5, 3.5 - half, 3.5 + half, 4))


def test_undefined_replications_are_left_out_and_one_value_has_no_interval():
    e = estimate([math.nan, 5.0], "h")
    assert e.n == 1 and e.mean == 5.0 and e.ci95_low is None
