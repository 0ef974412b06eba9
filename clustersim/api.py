"""The Python API: ``clustersim.load_scenario``, ``run``, ``sweep``, ``compare`` and ``chaos`` (re-exported by
the package root, lazily, so that ``import clustersim`` stays light and the import tree keeps its order). Their
numbers are the command line's: same scenario and seed, same figures."""
from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from clustersim.chaos_run import ChaosOutcome
    from clustersim.runner import RunResult
    from clustersim.scenario.schema import Scenario


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """A scenario file, its ``KEY=VALUE`` overrides applied, validated (ScenarioError names every problem)."""
    from clustersim.scenario import load_scenario as load

    return load(path, tuple(overrides))


@dataclass(frozen=True)
class Result:
    """A run's result: ``summary`` (one row per metric: mean, ci95_low, ci95_high, unit, n), ``replications`` (one
    row per replication, as replications.csv) and, with ``simulation.series_window``, ``series`` (series.csv)."""

    scenario: Scenario
    run: RunResult

    @property
    def summary(self) -> pd.DataFrame:
        """summary.json's metrics as a table indexed by metric."""
        from clustersim.report.results import estimate_dict

        rows = {name: estimate_dict(e) for name, e in self.run.estimates.items()}
        frame = pd.DataFrame.from_dict(rows, orient="index", columns=["mean", "ci95_low", "ci95_high", "unit", "n"])
        frame.index.name = "metric"
        return frame

    @property
    def replications(self) -> pd.DataFrame:
        """replications.csv as a table."""
        from clustersim.report.results import replications_frame

        return replications_frame(self.run)

    @property
    def series(self) -> pd.DataFrame | None:
        """series.csv as a table (None without ``simulation.series_window``)."""
        import io

        from clustersim.report.results import series_csv

        if self.scenario.simulation.series_window is None:
            return None
        return pd.read_csv(io.StringIO(series_csv(self.run)))

    def _repr_html_(self) -> str:
        return str(self.summary._repr_html_())  # a notebook shows the summary table


def run(scenario: str | Path | Scenario, replications: int | None = None, seed: int | None = None,
        engine: str | None = None, overrides: Sequence[str] = ()) -> Result:
    """Run a scenario (a file, or a loaded one) as ``python -m clustersim`` would; ``replications``, ``seed`` and
    ``engine`` are the flags of that name, ``overrides`` its ``--set KEY=VALUE``."""
    from clustersim.errors import ScenarioError
    from clustersim.feasibility import run_problems
    from clustersim.runner import run_scenario

    settings = _flag_settings(replications, seed, engine)
    loaded = _scenario(scenario, [*settings, *overrides])
    problems = run_problems(loaded)
    if problems:
        raise ScenarioError(loaded.name, problems)
    return Result(loaded, run_scenario(loaded, source=loaded.name))


def _flag_settings(replications: int | None, seed: int | None, engine: str | None) -> list[str]:
    """--replications, --seed and --engine as the --set overrides they stand for."""
    return [f"simulation.{key}={value}" for key, value in (("replications", replications), ("seed", seed))
            if value is not None] + ([f'simulation.engine="{engine}"'] if engine is not None else [])


def _scenario(scenario: str | Path | Scenario, overrides: list[str]) -> Scenario:
    """A file loaded with ``overrides``, or a loaded scenario with them applied (through its resolved TOML, so
    they are validated alike)."""
    from clustersim.scenario import dump_scenario_toml, scenario_from_dict
    from clustersim.scenario.load import apply_overrides

    if isinstance(scenario, (str, Path)):
        return load_scenario(scenario, overrides)
    if not overrides:
        return scenario
    raw = apply_overrides(tomllib.loads(dump_scenario_toml(scenario)), overrides, scenario.name)
    return scenario_from_dict(raw, source=scenario.name)


def sweep(scenario: str | Path, vary: Sequence[str] = (), overrides: Sequence[str] = (), out: str | Path | None = None,
          workers: int | None = None, executor: str = "local", scheduler: str | None = None,
          overwrite: bool = False, plots: bool = True) -> pd.DataFrame:
    """Run a sweep (the scenario's ``[sweep]`` table and ``vary``, as ``KEY=V1,V2`` strings) into ``out``
    (default ``results/<name>/sweep-<id>/``, resumed when it holds this sweep); returns the sweep table."""
    from clustersim.executors import make_executor
    from clustersim.sweep_grid import plan_sweep
    from clustersim.sweep_run import run_sweep

    plan = plan_sweep(scenario, overrides, vary)
    target = Path(out) if out is not None else Path("results") / plan.name / f"sweep-{plan.fingerprint[:12]}"
    return run_sweep(plan, target, make_executor(executor, workers, scheduler), overwrite=overwrite,
                     plots=plots).table


def compare(*scenarios: str | Path, overrides: Sequence[str] = ()) -> pd.DataFrame:
    """Run the scenarios with common random numbers; the compare.csv table (paired differences to the first)."""
    from clustersim.comparison import compare_scenarios, comparison_frame
    from clustersim.errors import ClusterSimError
    from clustersim.scenario import load_scenario

    if len(scenarios) < 2:
        raise ClusterSimError("compare: give at least two scenarios (the first is the baseline)")
    loaded = [load_scenario(path, overrides) for path in scenarios]
    return comparison_frame(compare_scenarios(loaded, [Path(p).name for p in scenarios]))


@dataclass(frozen=True)
class ChaosResult:
    """A chaos experiment's result: ``info`` is chaos.json's contents; ``hypotheses`` one row per hypothesis
    (its verdict and shares held, treatment and control), ``paired`` chaos.csv's table, ``timeline``
    chaos_timeline.csv's."""

    outcome: ChaosOutcome
    info: dict

    @property
    def hypotheses(self) -> pd.DataFrame:
        columns = ["metric", "comparator", "threshold", "window_hours", "held_fraction", "held_ci95_low",
                   "held_ci95_high", "verdict", "control_held_fraction"]
        return pd.DataFrame([{key: h[key] for key in columns} for h in self.info["hypotheses"]], columns=columns)

    @property
    def paired(self) -> pd.DataFrame:
        from clustersim.comparison import comparison_frame

        return comparison_frame(self.outcome.comparison)

    @property
    def timeline(self) -> pd.DataFrame:
        from clustersim.report.chaos_plots import TIMELINE_COLUMNS, timeline_rows

        return pd.DataFrame(timeline_rows(self.outcome), columns=list(TIMELINE_COLUMNS))

    def _repr_html_(self) -> str:
        return str(self.hypotheses._repr_html_())


def chaos(experiment: str | Path, replications: int | None = None, seed: int | None = None,
          engine: str | None = None, overrides: Sequence[str] = ()) -> ChaosResult:
    """Run a chaos experiment file as ``python -m clustersim chaos`` would (the keywords are its flags)."""
    from clustersim.chaos_run import chaos_dict, run_experiment
    from clustersim.errors import ScenarioError
    from clustersim.experiment import load_experiment
    from clustersim.feasibility import run_problems

    settings = _flag_settings(replications, seed, engine)
    loaded = load_experiment(experiment, (*settings, *overrides))
    problems = run_problems(loaded.control)
    if problems:
        raise ScenarioError(loaded.source, problems)
    outcome = run_experiment(loaded)
    return ChaosResult(outcome, chaos_dict(outcome, {"file": str(experiment)}))
