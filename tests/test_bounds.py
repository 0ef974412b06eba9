"""Intervals are clamped to each metric's bounds (layout.METRICS) where estimates are made; the csv stays raw."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from clustersim.cli import main
from clustersim.layout import layout_of
from clustersim.scenario import load_scenario
from clustersim.stats import estimate, summarize

RARE = """\
name = "rare"

[simulation]
horizon = "20 d"
replications = 5
seed = 3

[nodes]
count = 8
gpus_per_node = 2
nodes_per_rack = 4

[[nodes.failure_modes]]
name = "gpu"
scope = "gpu"
time_to_failure = {dist = "exponential", afr = 1.0}
time_to_repair = {dist = "lognormal", mean = "8 h", cv = 0.5}

[spares]
hot = 1
"""


def _student_t(values: np.ndarray) -> tuple[float, float]:
    """The unclamped Student-t 95 % interval, computed by hand."""
    half = scipy_stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / math.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def test_an_interval_below_the_low_bound_is_clamped_and_keeps_its_half_width():
    values = [0.0, 0.0, 0.0, 0.0, 3.0]
    raw = estimate(values, "count")
    clamped = estimate(values, "count", low=0.0)
    assert raw.ci95_low < 0 and clamped.ci95_low == 0.0
    assert clamped.ci95_high == raw.ci95_high and clamped.mean == raw.mean
    assert clamped.half_width == raw.half_width == pytest.approx((raw.ci95_high - raw.ci95_low) / 2)


def test_a_fraction_high_bound_is_at_most_one():
    rows = [{"nodes.availability": v} for v in (1.0, 1.0, 1.0, 0.9)]
    e = summarize(rows)["nodes.availability"]
    assert _student_t(np.array([1.0, 1.0, 1.0, 0.9]))[1] > 1
    assert e.ci95_high == 1.0 and 0 <= e.ci95_low <= e.mean <= 1


def test_summary_json_clamps_intervals_and_replications_csv_stays_raw(tmp_path):
    path = tmp_path / "rare.toml"
    path.write_text(RARE)
    assert main([str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    metrics = json.loads((tmp_path / "out" / "summary.json").read_text())["metrics"]
    frame = pd.read_csv(tmp_path / "out" / "replications.csv")
    plan = {spec.name: spec for spec in layout_of(load_scenario(path)).metrics}  # per-scenario bounds
    crossed = []
    for name, m in metrics.items():
        values = frame[name].dropna().to_numpy()
        assert values.mean() == pytest.approx(m["mean"]), name  # the csv holds the raw per-replication values
        if m["ci95_low"] is None or np.ptp(values) == 0:
            continue
        info = plan[name]
        low, high = _student_t(values)
        assert m["ci95_low"] == pytest.approx(max(low, info.low)), name
        assert m["ci95_high"] == pytest.approx(min(high, info.high)), name
        assert info.low <= m["ci95_low"] <= m["mean"] <= m["ci95_high"] <= info.high, name
        if low < info.low:
            crossed.append(name)
            assert m["ci95_low"] == info.low == 0.0
    assert crossed, "this seed should give at least one interval that crosses 0"
