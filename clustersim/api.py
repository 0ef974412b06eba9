"""The Python API: ``clustersim.load_scenario``, ``run``, ``sweep``, ``compare`` and ``chaos`` (re-exported by
the package root, lazily, so that ``import clustersim`` stays light and the import tree keeps its order). Their
numbers are the command line's: same scenario and seed, same figures."""
from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from clustersim.chaos_run import ChaosOutcome
    from clustersim.comparison import Comparison
    from clustersim.report.document import Report
    from clustersim.report.sample import SampleReplication
    from clustersim.runner import RunResult
    from clustersim.scenario.schema import Scenario
    from clustersim.sweep_run import SweepResult as SweepRun


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """A scenario file, its ``KEY=VALUE`` overrides applied, validated (ScenarioError names every problem)."""
    from clustersim.scenario import load_scenario as load

    return load(path, tuple(overrides))


@dataclass(frozen=True)
class Picture:
    """A figure as PNG bytes; a notebook shows it inline (``_repr_png_``), ``save`` writes it."""

    png: bytes

    def _repr_png_(self) -> bytes:
        return self.png

    def save(self, path: str | Path) -> Path:
        """Write the PNG to ``path``; returns the path."""
        target = Path(path)
        target.write_bytes(self.png)
        return target


def _write_report(out: str | Path, report: Report) -> Path:
    """``report`` into the directory ``out`` (made if absent); the path of its report.html."""
    from clustersim.report.document import REPORT_HTML, write_report

    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    write_report(target, report)
    return target / REPORT_HTML


def _picture(png: bytes | None) -> Picture | None:
    return None if png is None else Picture(png)


class RunPlots:
    """A run's figures (the report's): each returns a ``Picture``, or None when the run has nothing of its kind
    (no training job, no service, no storage)."""

    def __init__(self, result: Result) -> None:
        self._result = result

    def _windowed(self) -> Scenario:
        from clustersim.report.sample import report_windows

        return report_windows(self._result.scenario)

    def _series(self) -> list[dict[str, list[float | None]]]:
        return self._result.run.series or [self._result.sample().series]

    def availability(self) -> Picture | None:
        """Availability (nodes, capacity, each job's ETTR) per window, mean and 95 % band across replications."""
        from clustersim.report.figures.availability import availability_png

        return _picture(availability_png(self._windowed(), self._series()))

    def causes(self) -> Picture | None:
        """Failure causes and job interruptions by cause as Pareto charts."""
        from clustersim.report.figures.causes import causes_png

        return _picture(causes_png(self._result.run.estimates, len(self._result.run.rows)))

    def outages(self) -> Picture | None:
        """Replication 0's outages node by node, coloured by cause, with each job's state on top."""
        from clustersim.report.figures.outages import outage_timeline_png

        sample = self._result.sample()
        return _picture(outage_timeline_png(self._result.scenario, sample.log, sample.replication))

    def wall_time(self) -> Picture | None:
        """Where each training job's wall time went in replication 0."""
        from clustersim.job_phases import job_phases
        from clustersim.report.figures.walltime import walltime_png

        sample = self._result.sample()
        return _picture(walltime_png(job_phases(self._result.scenario, sample.log), sample.replication))

    def latency(self) -> Picture | None:
        """Each service's latency percentiles with their 95 % CIs."""
        from clustersim.report.figures.serving import latency_png

        return _picture(latency_png(self._result.run.estimates))

    def slo_windows(self) -> Picture | None:
        """Each service's share of requests within the SLO per window, against its target."""
        from clustersim.report.figures.serving import slo_windows_png

        return _picture(slo_windows_png(self._windowed(), self._series()))

    def storage(self) -> Picture | None:
        """The checkpoint store's exposure: under-replicated objects, availability, losses."""
        from clustersim.report.figures.storage import storage_png

        return _picture(storage_png(self._windowed(), self._result.run.estimates, self._series()))


@dataclass(frozen=True)
class Result:
    """A run's result: ``summary`` (one row per metric: mean, ci95_low, ci95_high, unit, n), ``replications`` (one
    row per replication, as replications.csv), ``series`` (series.csv) and ``plot`` (the report's figures)."""

    scenario: Scenario
    run: RunResult
    _sample: list[SampleReplication] = field(default_factory=list, repr=False, compare=False)

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
        """series.csv as a table: the scenario's ``simulation.series_window`` or the report's windows (None on an
        engine that measures no windows)."""
        import io

        from clustersim.report.results import series_csv
        from clustersim.report.sample import report_windows

        if not self.run.series:
            return None
        return pd.read_csv(io.StringIO(series_csv(replace(self.run, scenario=report_windows(self.scenario)))))

    @property
    def plot(self) -> RunPlots:
        """The report's figures: ``r.plot.availability()``, ``causes()``, ``outages()``, ``wall_time()``,
        ``latency()``, ``slo_windows()``, ``storage()``."""
        return RunPlots(self)

    def sample(self) -> SampleReplication:
        """Replication 0 with its whole log (simulated again on SimPy once, then kept)."""
        from clustersim.report.sample import sample_replication

        if not self._sample:
            self._sample.append(sample_replication(self.scenario))
        return self._sample[0]

    def write_report(self, out: str | Path, source: str | None = None) -> Path:
        """report.md, report.html and plots/ into the directory ``out`` (made if absent); returns report.html."""
        from clustersim.report.run_report import run_report

        return _write_report(out, run_report(self.run, self.sample(), source or self.scenario.name))

    def _repr_html_(self) -> str:
        return str(self.summary._repr_html_())  # a notebook shows the summary table


def run(scenario: str | Path | Scenario, replications: int | None = None, seed: int | None = None,
        engine: str | None = None, overrides: Sequence[str] = ()) -> Result:
    """Run a scenario (a file, or a loaded one) as ``python -m clustersim`` would; ``replications``, ``seed`` and
    ``engine`` are the flags of that name, ``overrides`` its ``--set KEY=VALUE``. Measured in the report's
    windows as the command is (measurement only: the same numbers)."""
    from clustersim.errors import ScenarioError
    from clustersim.feasibility import run_problems
    from clustersim.report.sample import windowed
    from clustersim.runner import run_scenario

    settings = _flag_settings(replications, seed, engine)
    loaded = _scenario(scenario, [*settings, *overrides])
    problems = run_problems(loaded)
    if problems:
        raise ScenarioError(loaded.name, problems)
    result = run_scenario(windowed(loaded), source=loaded.name)
    return Result(loaded, replace(result, scenario=loaded))


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


@dataclass(frozen=True)
class SweepResult:
    """A sweep's result: ``table`` (sweep.csv: one row per point), ``out`` (its directory, with the report) and
    ``plot.metric(name)`` (the metric across the sweep: a curve with its band, or a heat map)."""

    outcome: SweepRun

    @property
    def table(self) -> pd.DataFrame:
        return self.outcome.table

    @property
    def out(self) -> Path:
        return self.outcome.out

    @property
    def plot(self) -> SweepPlots:
        return SweepPlots(self)

    def _repr_html_(self) -> str:
        return str(self.table._repr_html_())


class SweepPlots:
    """A sweep's figures."""

    def __init__(self, result: SweepResult) -> None:
        self._result = result

    def metric(self, name: str) -> Picture | None:
        """``name`` across the sweep (None for a sweep of more than two axes, or a metric no point measured)."""
        from clustersim.report.sweep_plots import plot_file_name, sweep_plots

        wanted = plot_file_name(name)
        plan = self._result.outcome.plan
        return next((Picture(png) for file, png in sweep_plots(plan, self._result.table) if file == wanted), None)


def sweep(scenario: str | Path, vary: Sequence[str] = (), overrides: Sequence[str] = (), out: str | Path | None = None,
          workers: int | None = None, executor: str = "local", scheduler: str | None = None,
          overwrite: bool = False, plots: bool = True) -> SweepResult:
    """Run a sweep (the scenario's ``[sweep]`` table and ``vary``, as ``KEY=V1,V2`` strings) into ``out``
    (default ``results/<name>/sweep-<id>/``, resumed when it holds this sweep; ``plots``: its report too)."""
    from clustersim.executors import make_executor
    from clustersim.sweep_grid import plan_sweep
    from clustersim.sweep_run import run_sweep

    plan = plan_sweep(scenario, overrides, vary)
    target = Path(out) if out is not None else Path("results") / plan.name / f"sweep-{plan.fingerprint[:12]}"
    return SweepResult(run_sweep(plan, target, make_executor(executor, workers, scheduler), overwrite=overwrite,
                                 plots=plots))


@dataclass(frozen=True)
class CompareResult:
    """A comparison's result: ``table`` (compare.csv), ``significant`` (its rows whose paired interval excludes
    0), ``written`` (the report's sentences) and ``plot.differences()`` (the forest plot)."""

    comparison: Comparison

    @property
    def table(self) -> pd.DataFrame:
        from clustersim.comparison import comparison_frame

        return comparison_frame(self.comparison)

    @property
    def significant(self) -> pd.DataFrame:
        frame = self.table
        return frame[frame["significant"] == True].reset_index(drop=True)  # noqa: E712 (a column of objects)

    @property
    def written(self) -> list[str]:
        from clustersim.report.paired_report import written_comparison

        return written_comparison(self.comparison)

    @property
    def plot(self) -> ComparePlots:
        return ComparePlots(self.comparison)

    def write_report(self, out: str | Path) -> Path:
        """report.md, report.html and plots/ into ``out`` (made if absent); returns report.html."""
        from clustersim.report.paired_report import compare_report

        return _write_report(out, compare_report(self.comparison, self.comparison.names))

    def _repr_html_(self) -> str:
        return str(self.table._repr_html_())


class ComparePlots:
    """The figures of paired runs (a comparison, a chaos experiment)."""

    def __init__(self, comparison: Comparison) -> None:
        self._comparison = comparison

    def differences(self, metrics: Sequence[str] | None = None) -> Picture | None:
        """The paired differences to the baseline as a forest plot (default: the headline metrics)."""
        from clustersim.report.figures.differences import differences_png

        return _picture(differences_png(self._comparison, list(metrics) if metrics is not None else None))


def compare(*scenarios: str | Path, overrides: Sequence[str] = ()) -> CompareResult:
    """Run the scenarios with common random numbers: paired differences to the first."""
    from clustersim.comparison import compare_scenarios
    from clustersim.errors import ClusterSimError
    from clustersim.scenario import load_scenario

    if len(scenarios) < 2:
        raise ClusterSimError("compare: give at least two scenarios (the first is the baseline)")
    loaded = [load_scenario(path, overrides) for path in scenarios]
    return CompareResult(compare_scenarios(loaded, [Path(p).name for p in scenarios]))


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

    @property
    def plot(self) -> ChaosPlots:
        """``timeline()`` (each hypothesis metric around the injections) and ``differences()``."""
        return ChaosPlots(self.outcome)

    def _repr_html_(self) -> str:
        return str(self.hypotheses._repr_html_())


class ChaosPlots(ComparePlots):
    """A chaos experiment's figures: the paired differences and the timeline."""

    def __init__(self, outcome: ChaosOutcome) -> None:
        super().__init__(outcome.comparison)
        self._outcome = outcome

    def timeline(self) -> Picture | None:
        """Each hypothesis metric per window around the injections, treatment against control."""
        from clustersim.report.chaos_plots import timeline_png

        return _picture(timeline_png(self._outcome))


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
