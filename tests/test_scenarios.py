"""Every shipped scenario loads and runs (at a reduced horizon); the README documents every metric."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from clustersim.runner import run_scenario
from clustersim.scenario import load_scenario
from clustersim.layout import METRICS

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))


def test_the_main_scenario_exists():
    assert (ROOT / "scenarios" / "gpt_cluster.toml") in SCENARIOS


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_scenario_runs_at_a_reduced_horizon(path: Path):
    # a serving scenario simulates every request: 30 days of them would take minutes, so it keeps a few hours
    horizon = "30 d" if not load_scenario(path).inference else "90 min"
    scenario = load_scenario(path, [f'simulation.horizon="{horizon}"', 'simulation.warmup="0 d"',
                                    "simulation.replications=2"])
    result = run_scenario(scenario)
    assert result.complete and len(result.rows) == 2
    availability = result.estimates["nodes.availability"].mean
    assert 0.0 < availability <= 1.0 and math.isfinite(availability)


def test_readme_glossary_lists_every_metric():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in METRICS if f"`{name}`" not in readme]
    assert not missing, f"README glossary lacks {missing}"
