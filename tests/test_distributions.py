"""Distributions know their moments, and their samplers reproduce them."""
from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import TypeAdapter
from scipy import stats as scipy_stats

from clustersim.distributions import Distribution

ADAPTER = TypeAdapter(Distribution)

CASES = [
    {"dist": "exponential", "mean": "10 h"},
    {"dist": "exponential", "afr": 0.5},
    {"dist": "weibull", "shape": 0.7, "mean": "3 d"},
    {"dist": "weibull", "shape": 3.0, "mean": "90 min"},
    {"dist": "lognormal", "mean": "8 h", "cv": 0.5},
    {"dist": "gamma", "shape": 2.5, "mean": "1 w"},
    {"dist": "deterministic", "value": "20 min"},
    {"dist": "uniform", "low": "1 h", "high": "3 h"},
    {"dist": "empirical", "samples": ["1 h", "2 h", "4 h", "30 min"]},
]


@pytest.mark.parametrize("spec", CASES, ids=lambda s: s["dist"])
def test_sample_moments_match_declared_moments(spec):
    dist = ADAPTER.validate_python(spec)
    rng = np.random.default_rng(2024)
    n = 200_000
    batch = dist.sample(rng, n)
    one_by_one = np.array([dist.sampler(np.random.default_rng(7))() for _ in range(3)])
    assert np.all(one_by_one >= 0)
    sd = math.sqrt(dist.variance_hours2)
    # the sample mean is within 4.4 standard errors (two-sided p = 1e-5) of the declared mean
    assert abs(batch.mean() - dist.mean_hours) <= 4.4 * sd / math.sqrt(n) + 1e-12
    if sd > 0:
        assert batch.var(ddof=1) == pytest.approx(dist.variance_hours2, rel=0.05)


def test_afr_is_failures_per_year():
    assert ADAPTER.validate_python({"dist": "exponential", "afr": 0.05}).mean_hours == pytest.approx(8760 / 0.05)


def test_weibull_scale_from_mean():
    dist = ADAPTER.validate_python({"dist": "weibull", "shape": 2.0, "mean": "10 h"})
    rng = np.random.default_rng(1)
    sample = dist.sample(rng, 50_000)
    fitted_shape, _, fitted_scale = scipy_stats.weibull_min.fit(sample, floc=0)
    assert fitted_shape == pytest.approx(2.0, rel=0.03)
    assert fitted_scale == pytest.approx(10 / math.gamma(1.5), rel=0.03)


def test_lognormal_cv_is_the_coefficient_of_variation():
    dist = ADAPTER.validate_python({"dist": "lognormal", "mean": "2 h", "cv": 1.5})
    assert math.sqrt(dist.variance_hours2) / dist.mean_hours == pytest.approx(1.5)


def test_empirical_file_is_read_relative_to_context(tmp_path):
    (tmp_path / "repairs.csv").write_text("# hours\n1.5\n2.5\n\n3\n")
    dist = ADAPTER.validate_python({"dist": "empirical", "file": "repairs.csv"}, context={"base_dir": tmp_path})
    assert dist.samples == [1.5, 2.5, 3.0]
    assert dist.mean_hours == pytest.approx(7 / 3)
