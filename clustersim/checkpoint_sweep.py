"""Checkpoint-interval advice for one training job: run the scenario over a grid of intervals.

A baseline run at the scenario's own interval measures the job's effective MTBF M and its
downtime per interruption R; Young's and Daly's optima follow from M and the blocking checkpoint
cost δ. The scenario then runs at every grid interval (by default log-spaced around Daly's
optimum) through ``run_scenario``, so whichever engine the scenario names does the work.

Every point runs with the scenario's seed, so replication k of every point draws the same failure
times (each node, domain and injection has its own stream): common random numbers. The points
then differ by the interval and little else, which makes the curve smooth and its argmax a much
sharper comparison than independent runs would give. The optimum's range is still read from each
point's own confidence interval (``clustersim.checkpointing.optimum_range``), a conservative
reading that ignores the pairing.
"""
from __future__ import annotations

import math
from collections.abc import Callable

from clustersim.checkpointing import (
    OUTCOME_METRICS, CheckpointAdvice, EffectiveMtbf, IntervalOutcome, blocking_checkpoint_hours, daly_interval_hours,
    default_intervals_hours, effective_mtbf, job_window_hours, optimum_range,
)
from clustersim.errors import ScenarioError
from clustersim.executors import Executor, LocalExecutor, run_all
from clustersim.layout import layout_of
from clustersim.runner import RunResult
from clustersim.runner import run_scenario
from clustersim.scenario.schema import Scenario
from clustersim.stats import summarize

Progress = Callable[[int, int], None]   # (points done, points in all)


def checkpointed_job(scenario: Scenario, name: str, source: str) -> int:
    """The index of the job named ``name``, refusing one that has no checkpoint interval."""
    names = [job.name for job in scenario.training]
    if name not in names:
        jobs = f"its jobs: {', '.join(names)}" if names else "it has no [[training]] job"
        raise ScenarioError(source, [f"--job: no training job named {name!r} ({jobs})"])
    index = names.index(name)
    if scenario.training[index].checkpoint_mode == "continuous":
        raise ScenarioError(source, [f'--job: {name!r} checkpoints continuously (training[{index}].checkpoint_mode = '
                                     '"continuous"): it has no checkpoint interval to optimize'])
    return index


def with_checkpoint_interval(scenario: Scenario, job_index: int, interval_hours: float) -> Scenario:
    """The scenario with one job's checkpoint interval replaced (a positive number of hours)."""
    if not interval_hours > 0:
        raise ValueError(f"a checkpoint interval must be positive, got {interval_hours!r} h")
    jobs = list(scenario.training)
    jobs[job_index] = jobs[job_index].model_copy(update={"checkpoint_interval": interval_hours})
    return scenario.model_copy(update={"training": jobs})


def interval_outcome(result: RunResult, job_name: str, interval_hours: float) -> IntervalOutcome:
    """The job's goodput, ETTR, interruptions and lost work from one run."""
    pick = {metric: result.estimates[f"training.{job_name}.{metric}"] for metric in OUTCOME_METRICS}
    return IntervalOutcome(interval_hours, **pick)


def optimize_checkpoint(scenario: Scenario, job_index: int, intervals_hours: list[float] | None = None,
                        progress: Progress | None = None, source: str = "<scenario>",
                        executor: Executor | None = None) -> CheckpointAdvice:
    """Run the baseline and every grid interval; the outcomes with the simulated and analytic optima.

    ``intervals_hours`` None: ``DEFAULT_GRID_POINTS`` log-spaced points around Daly's optimum for
    the measured M. The scenario's own interval is always one of the points (it is the baseline). The
    other points run on ``executor`` (default: one, in this process); the numbers do not depend on it.
    """
    job = scenario.training[job_index]
    current = job.checkpoint_interval
    assert current is not None  # a sync or async job has one (checkpointed_job refuses the others)
    delta = blocking_checkpoint_hours(job, scenario.storage)
    if intervals_hours is None and delta == 0:
        cost = "snapshot_cost" if job.checkpoint_mode == "async" else "checkpoint_cost"
        raise ScenarioError(source, [f"training[{job_index}].{cost}: a checkpoint that blocks for no time puts "
                                     "Young's and Daly's optimum at 0, with nothing to centre the grid on; "
                                     "give --intervals"])
    baseline = _run(scenario, job_index, current, source)
    mtbf = effective_mtbf(scenario, job_index, baseline.rows)
    if intervals_hours is None:
        intervals_hours = _default_grid(scenario, job_index, mtbf, baseline, source)
    others = sorted({h for h in intervals_hours if h != current})
    outcomes = [interval_outcome(baseline, job.name, current)]
    if progress:
        progress(1, 1 + len(others))
    # The grid's points run as a sweep's do: chunks on the executor (in this process by default).
    points = [with_checkpoint_interval(scenario, job_index, hours) for hours in others]
    finished = run_all(points, executor or LocalExecutor(1),
                       progress=lambda done: progress(1 + done, 1 + len(others)) if progress else None)
    for hours, point, outcome in zip(others, points, finished):
        result = RunResult(point, outcome.rows, summarize(outcome.rows, layout_of(point).metrics),
                           outcome.simulate_s, outcome.events)
        outcomes.append(interval_outcome(result, job.name, hours))
    outcomes.sort(key=lambda o: o.interval_hours)
    downtime = baseline.estimates.get(f"training.{job.name}.downtime_per_interruption_hours")
    restart = downtime.mean if downtime is not None and math.isfinite(downtime.mean) else job.restart_hours
    return CheckpointAdvice(scenario, job_index, current, delta, restart, mtbf, outcomes, optimum_range(outcomes))


def _run(scenario: Scenario, job_index: int, interval_hours: float, source: str) -> RunResult:
    """One point of the sweep; a Ctrl-C that cut it short stops the whole sweep."""
    result = run_scenario(with_checkpoint_interval(scenario, job_index, interval_hours), source=source)
    if not result.complete:
        raise KeyboardInterrupt
    return result


def _default_grid(scenario: Scenario, job_index: int, mtbf: EffectiveMtbf, baseline: RunResult,
                  source: str) -> list[float]:
    """Log-spaced intervals around Daly's optimum, up to the job's window (or its work, if shorter)."""
    job = scenario.training[job_index]
    if not math.isfinite(mtbf.for_formulas_hours):
        raise ScenarioError(source, [f"--job: {job.name!r} was never interrupted in the baseline run and not every "
                                     "failure law that can hit it is exponential: no MTBF to centre the grid on; "
                                     "give --intervals"])
    window = max(job_window_hours(scenario, job_index, row) for row in baseline.rows)
    longest = min(window, job.work) if job.work is not None else window
    delta = blocking_checkpoint_hours(job, scenario.storage)
    return default_intervals_hours(daly_interval_hours(delta, mtbf.for_formulas_hours), longest)
