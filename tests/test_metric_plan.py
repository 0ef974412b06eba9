"""The metric plan (clustersim.layout) is the one list of metrics: both engines measure every quantity in it."""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from clustersim.engine.fast.engine import _KernelMeasures
from clustersim.layout import METRICS, layout_of, metric_info
from clustersim.scenario import load_scenario
from clustersim.measures import Measures

SCENARIOS = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.toml"))
QUANTITIES = {
    name for name, _ in inspect.getmembers(Measures, inspect.isfunction) if not name.startswith("_")
} - {"consume", "take_inference", "finish", "metrics", "measure"}  # feeding and reading, not quantities


# Quantities of a feature the fast engine refuses by name ([[abort]]: support._lacking), so it never plans them.
REFUSED_BY_FAST = {"aborted", "abort_hours"}


def test_both_engines_measure_the_same_quantities():
    kernel = {name for name, _ in inspect.getmembers(_KernelMeasures, inspect.isfunction) if not name.startswith("_")}
    assert kernel - {"measure"} == QUANTITIES - REFUSED_BY_FAST


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_every_planned_metric_has_a_quantity_both_engines_measure(path):
    plan = layout_of(load_scenario(path)).metrics
    assert len({spec.name for spec in plan}) == len(plan)
    for spec in plan:
        assert spec.quantity in QUANTITIES, spec
        info = metric_info(spec.name)
        assert (spec.unit, spec.low) == (info.unit, info.low) and spec.high <= info.high, spec


def test_every_catalogue_entry_has_bounds_and_a_unit():
    for name, info in METRICS.items():
        assert info.unit and info.meaning and info.low <= info.high, name
        if info.unit == "fraction":
            assert (info.low, info.high) == (0.0, 1.0), name
