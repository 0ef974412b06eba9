"""Checkpoint-interval theory and the analysis of an interval sweep: pure functions, no runs, no I/O.

Young (1974) and Daly (2006) give the interval τ that minimises the expected wall time of a job
whose system fails as a Poisson process of mean M, checkpoints at blocking cost δ and restarts in
R. The simulator measures the same job under the scenario's real failure and repair laws; this
module turns those measurements into the job's effective M and into the simulated optimum with
its range, so both answers can be put side by side.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from clustersim.layout import layout_of
from clustersim.scenario.schema import Scenario, Storage, Training
from clustersim.stats import Estimate

# assumption: no training job checkpoints more often than once a minute; the default grid stops there
SHORTEST_INTERVAL_HOURS = 1 / 60
DEFAULT_GRID_POINTS = 13     # log-spaced: neighbours 16^(1/12) ≈ 1.26 apart over [τ/4, 4τ]
DEFAULT_GRID_SPAN = 4.0      # the default grid runs from τ/span to τ·span


def young_interval_hours(checkpoint_hours: float, mtbf_hours: float) -> float:
    """Young's (1974) first-order optimum τ = sqrt(2 δ M)."""
    return math.sqrt(2.0 * checkpoint_hours * mtbf_hours)


def daly_interval_hours(checkpoint_hours: float, mtbf_hours: float) -> float:
    """Daly's (2006, eq. 37) higher-order optimum: τ = sqrt(2δM)·[1 + (1/3)·sqrt(δ/(2M)) + (1/9)·(δ/(2M))] − δ
    for δ < 2M, else τ = M (Daly, "A higher order estimate of the optimum checkpoint interval for restart
    dumps", Future Generation Computer Systems 22, 2006)."""
    if checkpoint_hours >= 2.0 * mtbf_hours:
        return mtbf_hours
    ratio = checkpoint_hours / (2.0 * mtbf_hours)
    young = young_interval_hours(checkpoint_hours, mtbf_hours)
    return young * (1 + math.sqrt(ratio) / 3 + ratio / 9) - checkpoint_hours


def daly_ettr(mtbf_hours: float, interval_hours: float, checkpoint_hours: float, restart_hours: float) -> float:
    """T_s / T_w from Daly (2006): T_w = M e^(R/M) (e^((τ+δ)/M) − 1) T_s / τ — the share of wall time kept."""
    if math.isinf(mtbf_hours):
        return interval_hours / (interval_hours + checkpoint_hours)
    growth = math.expm1((interval_hours + checkpoint_hours) / mtbf_hours)
    return interval_hours / (mtbf_hours * math.exp(restart_hours / mtbf_hours) * growth)


def blocking_checkpoint_hours(job: Training, storage: Storage | None = None) -> float:
    """δ: the time a checkpoint stops the job — the checkpoint itself (sync; derived from ``storage`` when only
    its size is given) or its snapshot (async)."""
    if job.checkpoint_mode == "async":
        return job.snapshot_cost or 0.0
    return job.checkpoint_hours_on(storage)


@dataclass(frozen=True)
class EffectiveMtbf:
    """The job's mean wall time between interruptions: measured, and analytic when every law allows it."""

    measured_hours: float            # math.inf when the run saw no interruption
    analytic_hours: float | None     # None unless every failure law that can hit the job is exponential

    @property
    def for_formulas_hours(self) -> float:
        """The M that Young and Daly use: the measured one, or the analytic one if nothing was measured."""
        if math.isfinite(self.measured_hours) or self.analytic_hours is None:
            return self.measured_hours
        return self.analytic_hours


def effective_mtbf(scenario: Scenario, job_index: int, rows: Sequence[Mapping[str, float]]) -> EffectiveMtbf:
    """The job's MTBF measured from replication rows, with the analytic value beside it where it exists."""
    return EffectiveMtbf(measured_mtbf_hours(scenario, job_index, rows), analytic_mtbf_hours(scenario, job_index))


def job_window_hours(scenario: Scenario, job_index: int, row: Mapping[str, float]) -> float:
    """Hours of [warmup, horizon) one replication watched the job: until its work was done, if it was."""
    sim = scenario.simulation
    done = row.get(f"training.{scenario.training[job_index].name}.completion_hours", math.nan)
    stop = min(sim.horizon, done) if math.isfinite(done) else sim.horizon
    return max(0.0, stop - sim.warmup)


def measured_mtbf_hours(scenario: Scenario, job_index: int, rows: Sequence[Mapping[str, float]]) -> float:
    """Wall hours per interruption over every replication (a ratio of sums); math.inf without interruptions."""
    name = scenario.training[job_index].name
    window = sum(job_window_hours(scenario, job_index, row) for row in rows)
    interruptions = sum(row.get(f"training.{name}.interruptions", 0.0) for row in rows)
    return window / interruptions if interruptions > 0 else math.inf


def analytic_mtbf_hours(scenario: Scenario, job_index: int) -> float | None:
    """1 / (job nodes × every mode's per-node rate + every domain group the job's initial positions touch
    / its MTTF), when every law that can interrupt the job is exponential; None otherwise.

    Per-GPU modes run ``gpus_per_node`` clocks per node. Chaos, lemons, faults left in place and
    preemption by a higher-priority job interrupt it by other laws, so they leave no analytic value.
    """
    job = scenario.training[job_index]
    modes, domains = scenario.nodes.failure_modes, scenario.failure_domains
    exponential = all(m.time_to_failure.is_exponential for m in modes)
    exponential = exponential and all(d.time_to_failure.is_exponential for d in domains)
    preempted = any(other.preempt and other.priority > job.priority for other in scenario.training)
    if (not exponential or scenario.chaos or scenario.nodes.has_lemons or scenario.repair.leaves_faults
            or preempted):
        return None
    layout = layout_of(scenario)
    rate = job.nodes * layout.clocks.mean_rate_per_node
    job_nodes = layout.job_positions[job_index]  # the nodes that start in the job's positions
    for d, domain in enumerate(domains):
        groups = sum(1 for instance in layout.domains
                     if instance.declaration == d and _ranges_meet(instance.members, job_nodes))
        rate += groups / domain.time_to_failure.mean_hours
    return 1.0 / rate if rate > 0 else math.inf


def _ranges_meet(a: range, b: range) -> bool:
    return max(a.start, b.start) < min(a.stop, b.stop)


def default_intervals_hours(center_hours: float, longest_hours: float,
                            points: int = DEFAULT_GRID_POINTS) -> list[float]:
    """``points`` log-spaced intervals from center/4 to 4·center, clipped to [1 min, longest], 3 significant figures."""
    low = max(center_hours / DEFAULT_GRID_SPAN, SHORTEST_INTERVAL_HOURS)
    high = min(center_hours * DEFAULT_GRID_SPAN, longest_hours)
    if high <= low:
        return [_three_figures(high)]
    return sorted({_three_figures(float(h)) for h in np.geomspace(low, high, points)})


def _three_figures(x: float) -> float:
    """``x`` rounded to three significant figures: grid points a person can type back with --intervals."""
    return float(f"{x:.3g}")


OUTCOME_METRICS = ("goodput", "ettr", "interruptions", "lost_work_hours")   # training.<job>.<metric>


@dataclass(frozen=True)
class IntervalOutcome:
    """One checkpoint interval's simulated results for the job (the fields named in OUTCOME_METRICS)."""

    interval_hours: float
    goodput: Estimate
    ettr: Estimate
    interruptions: Estimate
    lost_work_hours: Estimate


@dataclass(frozen=True)
class OptimumRange:
    """The simulated optimum (highest mean goodput) and the span of grid points whose goodput 95 % CI
    overlaps the best point's: the intervals the run cannot tell apart from the best."""

    best: IntervalOutcome
    low_hours: float
    high_hours: float

    def contains(self, interval_hours: float) -> bool:
        """Does ``interval_hours`` lie within the range (ends included)?"""
        return self.low_hours <= interval_hours <= self.high_hours


OPTIMUM_RANGE_DEFINITION = ("the span of grid intervals whose goodput 95 % confidence interval overlaps "
                            "that of the interval with the highest mean goodput")


def optimum_range(outcomes: list[IntervalOutcome]) -> OptimumRange:
    """The best interval by mean goodput and the range of intervals whose goodput CI overlaps its CI."""
    defined = [o for o in outcomes if math.isfinite(o.goodput.mean)]
    if not defined:
        raise ValueError("no interval has a defined goodput")
    best = max(defined, key=lambda o: o.goodput.mean)
    close = [o.interval_hours for o in defined if o is best or _overlap(o.goodput, best.goodput)]
    return OptimumRange(best, min(close), max(close))


def _overlap(a: Estimate, b: Estimate) -> bool:
    """Do two 95 % intervals overlap? An estimate without an interval (n < 2) overlaps nothing."""
    if a.ci95_low is None or a.ci95_high is None or b.ci95_low is None or b.ci95_high is None:
        return False
    return a.ci95_low <= b.ci95_high and b.ci95_low <= a.ci95_high


@dataclass(frozen=True)
class CheckpointAdvice:
    """What the sweep found for one job: the grid's outcomes, the simulated optimum and the formulas' optima."""

    scenario: Scenario
    job_index: int
    current_interval_hours: float
    checkpoint_hours: float          # δ, blocking
    restart_hours: float             # R: measured downtime per interruption (waiting for members + restart)
    mtbf: EffectiveMtbf
    outcomes: list[IntervalOutcome]  # by interval, the current one included
    optimum: OptimumRange

    @property
    def job_name(self) -> str:
        """The job's name, as metric names use it."""
        return self.scenario.training[self.job_index].name

    @property
    def young_hours(self) -> float:
        """Young's optimum for δ and the effective M."""
        return young_interval_hours(self.checkpoint_hours, self.mtbf.for_formulas_hours)

    @property
    def daly_hours(self) -> float:
        """Daly's optimum for δ and the effective M."""
        return daly_interval_hours(self.checkpoint_hours, self.mtbf.for_formulas_hours)

    @property
    def current(self) -> IntervalOutcome:
        """The outcome at the scenario's own interval (the baseline run)."""
        return next(o for o in self.outcomes if o.interval_hours == self.current_interval_hours)

    def daly_ettr_at(self, interval_hours: float) -> float:
        """Daly's expected ETTR at ``interval_hours`` for the measured M, δ and R."""
        return daly_ettr(self.mtbf.for_formulas_hours, interval_hours, self.checkpoint_hours, self.restart_hours)
