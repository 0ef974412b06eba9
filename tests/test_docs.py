"""The user contract in the repository: the JSON Schema, --version, the complete example and docs/."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import clustersim_process
from pydantic import TypeAdapter

from clustersim import __version__
from clustersim.cli import build_parser
from clustersim.scenario.json_schema import scenario_json_schema
from clustersim.layout import METRICS
from clustersim.model.records import EventCode, JobState, Kind, NodeState, RepairState, SlotState
from clustersim.quantities import Duration
from clustersim.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLE = ROOT / "docs" / "examples" / "complete_example.toml"
DURATION = re.compile(TypeAdapter(Duration).json_schema()["pattern"])


@pytest.fixture(scope="module")
def schema() -> dict:
    return scenario_json_schema()


def properties(schema: dict) -> Iterator[tuple[str, str, dict]]:
    """(model, key, property schema) of every key of the top level and of every model in $defs."""
    models = [("Scenario", schema), *schema["$defs"].items()]
    for model, body in models:
        for key, prop in body.get("properties", {}).items():
            yield model, key, prop


def test_schema_names_its_dialect_and_id(schema: dict):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] and __version__ in schema["$id"]


def test_every_schema_property_has_a_description(schema: dict):
    missing = [f"{model}.{key}" for model, key, prop in properties(schema) if not prop.get("description")]
    assert not missing, f"keys without a description: {missing}"


def test_duration_defaults_are_unit_strings(schema: dict):
    durations = [(model, key, prop) for model, key, prop in properties(schema)
                 if any(branch.get("pattern") == DURATION.pattern for branch in prop.get("anyOf", [prop]))]
    assert len(durations) > 10
    bad = [(model, key, prop["default"]) for model, key, prop in durations
           if prop.get("default") is not None and not (isinstance(prop["default"], str)
                                                       and DURATION.match(prop["default"]))]
    assert not bad
    horizon = schema["$defs"]["Simulation"]["properties"]["horizon"]["default"]
    assert horizon == "365 d"


def test_every_default_validates_against_its_property(schema: dict):
    import jsonschema  # a test dependency (pyproject.toml): the schema is checked against the JSON Schema spec

    jsonschema.Draft202012Validator.check_schema(schema)
    bad = []
    for model, key, prop in properties(schema):
        if "default" in prop:
            validator = jsonschema.Draft202012Validator({**prop, "$defs": schema["$defs"]})
            bad += [f"{model}.{key}: {err.message}" for err in validator.iter_errors(prop["default"])]
    assert not bad


def test_schema_command_prints_the_complete_schema(tmp_path: Path, schema: dict):
    proc = clustersim_process(["schema"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == schema


def test_version_flag_prints_the_version(tmp_path: Path):
    proc = clustersim_process(["--version"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"clustersim {__version__}"


def test_complete_example_uses_every_section_and_key_kind():
    scenario = load_scenario(EXAMPLE)
    nodes, repair, spares = scenario.nodes, scenario.repair, scenario.spares
    assert {m.scope for m in nodes.failure_modes} == {"gpu", "node"}
    assert {m.recovery for m in nodes.failure_modes} == {"reboot", "replace", "pipeline"}
    assert {m.effect for m in nodes.failure_modes} == {"crash", "slow", "leak"}
    assert nodes.lemon_count > 0 and nodes.score is not None
    assert repair.crews and repair.detection > 0 and repair.stages and repair.recurrence is not None
    assert repair.diagnosis.probability < 1 and repair.diagnosis.wrong_node > 0
    assert repair.retirement.policy != "never"
    assert spares.hot and spares.cold and spares.warm
    assert {d.kind for d in scenario.failure_domains} >= {"rack", "power"}
    assert {c.action for c in scenario.chaos} == {"kill_node", "kill_rack", "slow_node", "leak_memory"}
    assert {j.checkpoint_mode for j in scenario.training} == {"sync", "async", "continuous"}
    assert {j.on_failure for j in scenario.training} == {"spare", "wait", "shrink"}
    text = EXAMPLE.read_text()
    dists = ["exponential", "weibull", "lognormal", "gamma", "deterministic", "uniform", "empirical"]
    assert all(f'dist = "{dist}"' in text for dist in dists)
    assert "afr =" in text and "samples =" in text and "file =" in text


def test_complete_example_validates_and_runs(tmp_path: Path):
    proc = clustersim_process(["validate", "--quiet", str(EXAMPLE)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    proc = clustersim_process(["--quiet", str(EXAMPLE), "--set", 'simulation.horizon="10 d"',
                               "--replications", "2", "--out", str(out)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] and summary["replications"] == 2


def doc(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_scenario_doc_names_every_key(schema: dict):
    text = doc("scenario.md")
    missing = sorted({key for _, key, _ in properties(schema) if f"`{key}`" not in text})
    assert not missing, f"docs/scenario.md does not name {missing}"
    assert "#:schema ./scenario.schema.json" in text


def test_cli_doc_names_every_command_and_flag():
    text = doc("cli.md")
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    flags = {flag for sub in commands.values() for action in sub._actions for flag in action.option_strings}
    flags |= {flag for action in parser._actions for flag in action.option_strings}
    missing = sorted(name for name in [*commands, *flags] if f"`{name}" not in text)
    assert not missing, f"docs/cli.md does not name {missing}"
    assert all(f"`{code}`" in text for code in (0, 2, 130))


def test_results_doc_names_every_metric_and_code():
    text = doc("results.md")
    missing = [name for name in METRICS if f"`{name}`" not in text]
    for enum in (Kind, NodeState, RepairState, SlotState, JobState, EventCode):
        missing += [f"{enum.__name__}.{member.name}" for member in enum if f"`{member.name.lower()}`" not in text
                    and f"`{member.name}`" not in text]
    assert not missing, f"docs/results.md does not name {missing}"


@pytest.mark.parametrize("name", ["scenario.md", "cli.md", "results.md", "python.md"])
def test_docs_stay_inside_the_repository(name: str):
    text = doc(name)
    assert "shared/" not in text and "../" not in text


def test_readme_links_the_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(f"docs/{name}" in readme for name in ("scenario.md", "cli.md", "results.md"))


def test_the_python_api_page_s_examples_run_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ```python block of docs/python.md runs from the repository's root, in order."""
    import re

    monkeypatch.chdir(ROOT)
    blocks = re.findall(r"```python\n(.*?)```", doc("python.md"), flags=re.S)
    assert len(blocks) >= 4
    for block in blocks:
        exec(compile(block, "docs/python.md", "exec"), {})


def test_the_api_gives_the_command_line_s_numbers(tmp_path: Path) -> None:
    """clustersim.run and `python -m clustersim` agree on every metric of summary.json (same scenario, seed)."""
    import clustersim

    scenario = ROOT / "scenarios" / "example_renewal.toml"
    settings = ['simulation.horizon="120 d"']
    result = clustersim.run(scenario, replications=3, seed=5, overrides=settings)
    out = tmp_path / "out"
    proc = clustersim_process([str(scenario), "--replications", "3", "--seed", "5", "--set", settings[0], "--quiet",
                               "--out", str(out)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    assert list(metrics) == list(result.summary.index)
    for name, row in result.summary.iterrows():
        mean = row["mean"]
        assert metrics[name]["mean"] == (None if mean is None or mean != mean else mean), name  # NaN: JSON null
