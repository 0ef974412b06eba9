"""The scenario schema's structure: choice lists derived from the tagged unions, the one problem mechanism
(section problems() and checks across sections), re-exports, and resolved scenarios that load back equal."""
from __future__ import annotations

import typing
from pathlib import Path

import pytest
from pydantic import ValidationError

from clustersim.distributions import Distribution
from clustersim.errors import ScenarioError
from clustersim.scenario import dump_scenario_toml, load_scenario, scenario_from_dict, schema
from clustersim.scenario.cross_checks import cross_section_problems
from clustersim.scenario.sections.common import FIELDS_ONLY, SECTION_PROBLEMS, Section, union_tags

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
TTF = {"dist": "exponential", "mean": "100 h"}
TTR = {"dist": "exponential", "mean": "1 h"}


def tags_of(union: typing.Any, key: str) -> list[str]:
    """The tag each member model of a tagged union declares for ``key``, read from the member classes."""
    members = typing.get_args(typing.get_args(union)[0])
    return [typing.get_args(member.model_fields[key].annotation)[0] for member in members]


def problems_of(raw: dict) -> list[str]:
    """The loader's problem lines for a raw scenario (without the source prefix)."""
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(raw, source="s")
    return [line.removeprefix("s: ") for line in str(info.value).splitlines()]


def scenario(**sections: typing.Any) -> dict:
    """A small valid raw scenario with ``sections`` replaced."""
    raw = {"name": "x", "nodes": {"count": 8, "failure_modes": [
        {"name": "gpu", "time_to_failure": TTF, "time_to_repair": TTR}]}}
    return {**raw, **sections}


@pytest.mark.parametrize("union, key, what, today", [
    (Distribution, "dist", "distribution", "exponential, weibull, lognormal, gamma, deterministic, uniform, empirical"),
    (schema.Retirement, "policy", "policy", "never, threshold, scored, any"),
])
def test_missing_tag_lists_exactly_the_unions_tags(union, key, what, today):
    assert union_tags(union) == (key, tuple(tags_of(union, key)))
    assert ", ".join(tags_of(union, key)) == today
    ttf = {"mean": "100 h"} if key == "dist" else TTF
    repair = {"retirement": {"max_failures": 3}} if key == "policy" else {}
    raw = scenario(repair=repair)
    raw["nodes"]["failure_modes"][0]["time_to_failure"] = ttf
    line = next(p for p in problems_of(raw) if f"needs {key!r}" in p)
    assert line.endswith(f"a {what} needs {key!r} ({today})")


def test_a_sections_problems_are_one_error_of_lines_keyed_in_the_section():
    class Pair(Section):
        low: int
        high: int

        def problems(self) -> list[str]:
            return [f"high: {self.high} is not above low", "low: second line"] if self.high <= self.low else []

    with pytest.raises(ValidationError) as info:
        Pair(low=2, high=1)
    [error] = info.value.errors()
    assert error["type"] == SECTION_PROBLEMS
    assert error["msg"] == "high: 1 is not above low\nlow: second line"
    assert Pair.model_validate({"low": 2, "high": 1}, context={FIELDS_ONLY: True}).high == 1


def test_problem_lines_are_written_under_the_sections_key_path():
    raw = scenario(training=[{"name": "job", "nodes": 2, "checkpoint_interval": "1 h", "checkpoint_cost": "1 min",
                              "restart_overhead": "1 min", "min_nodes": 1}])
    assert problems_of(raw) == ['training[0].min_nodes: applies to on_failure = "shrink" only']


def test_checks_across_sections_run_only_with_the_sections_they_read():
    nodes = schema.Nodes(count=2)
    spares = schema.Spares(hot=2)
    assert cross_section_problems({"nodes": nodes}) == []
    assert cross_section_problems({"nodes": nodes, "spares": spares}) == [
        "spares: hot + cold = 2 leaves no working node out of nodes.count = 2"]


def test_cross_section_checks_still_run_beside_a_sections_own_problems():
    raw = scenario(spares={"hot": 8, "warm": 9})
    assert problems_of(raw) == ["spares.warm: 9 warm standbys need as many hot spares, spares.hot = 8",
                                "spares: hot + cold = 8 leaves no working node out of nodes.count = 8"]


def test_schema_re_exports_every_section_class():
    sections = ["Simulation", "FailureMode", "NodeScore", "Nodes", "Diagnosis", "RepairStage", "NeverRetire",
                "ThresholdRetirement", "ScoredRetirement", "Repair", "Spares", "FailureDomain", "Chaos", "Training",
                "Inference"]
    for name in sections:
        cls = getattr(schema, name)
        assert issubclass(cls, schema.Section) and cls.__module__.startswith("clustersim.scenario.sections.")
    assert set(schema.Scenario.model_fields) >= {"simulation", "nodes", "repair", "spares", "training"}


def test_planned_sections_are_the_later_ones_without_a_field():
    assert schema.PLANNED_SECTIONS == ()  # every section of the contract has its field
    assert {"network", "storage", "inference"} <= set(schema.Scenario.model_fields)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_resolved_scenario_loads_back_equal(path: Path, tmp_path: Path):
    original = load_scenario(path)
    resolved = tmp_path / path.name
    resolved.write_text(dump_scenario_toml(original))
    data_dir = path.parent / "data"
    if data_dir.exists():  # empirical files resolve relative to the scenario file
        (tmp_path / "data").symlink_to(data_dir)
    assert load_scenario(resolved) == original
