"""Outputs of optimize-checkpoint: the tidy table, the optima as JSON, the plot, and the written verdict."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from clustersim import __version__
from clustersim.checkpointing import (
    OPTIMUM_RANGE_DEFINITION, OUTCOME_METRICS, CheckpointAdvice, IntervalOutcome, OptimumRange,
)
from clustersim.report.files import write_synced
from clustersim.report.plots import goodput_vs_interval_png
from clustersim.report.results import estimate_dict, finite_or_none
from clustersim.stats import Estimate
from clustersim.units import readable_hours

if TYPE_CHECKING:
    import pandas as pd

TABLE = "optimize_checkpoint.csv"
OPTIMA = "optimize_checkpoint.json"
PLOT = "goodput_vs_interval.png"


def advice_frame(advice: CheckpointAdvice) -> pd.DataFrame:
    """One row per interval: mean and 95 % bounds of each metric, Daly's ETTR, current / in-range flags."""
    import pandas as pd  # only when the sweep's table is written: the terminal imports this module too

    rows = []
    for outcome in advice.outcomes:
        row: dict[str, float | bool | int | None] = {
            "interval_hours": outcome.interval_hours,
            "current": outcome.interval_hours == advice.current_interval_hours,
            "in_optimum_range": advice.optimum.contains(outcome.interval_hours),
            "replications": outcome.goodput.n,
        }
        for metric in OUTCOME_METRICS:
            estimate: Estimate = getattr(outcome, metric)
            row[f"{metric}_mean"] = estimate.mean
            row[f"{metric}_ci95_low"] = estimate.ci95_low
            row[f"{metric}_ci95_high"] = estimate.ci95_high
        row["ettr_daly"] = advice.daly_ettr_at(outcome.interval_hours)
        rows.append(row)
    return pd.DataFrame(rows)


def advice_dict(advice: CheckpointAdvice) -> dict:
    """optimize_checkpoint.json: the optima, M, δ, R, the optimum's range (with its definition) and the verdict."""
    sim = advice.scenario.simulation
    optimum, mtbf = advice.optimum, advice.mtbf
    return {
        "scenario": advice.scenario.name,
        "job": advice.job_name,
        "engine": sim.engine,
        "seed": sim.seed,
        "horizon_hours": sim.horizon,
        "warmup_hours": sim.warmup,
        "clustersim_version": __version__,
        "current_interval_hours": advice.current_interval_hours,
        "checkpoint_hours": advice.checkpoint_hours,
        "restart_hours": advice.restart_hours,
        "restart_overhead_hours": advice.scenario.training[advice.job_index].restart_hours,
        "mtbf_hours": {"measured": finite_or_none(mtbf.measured_hours), "analytic": finite_or_none(mtbf.analytic_hours),
                       "used": finite_or_none(mtbf.for_formulas_hours)},
        "young_interval_hours": finite_or_none(advice.young_hours),
        "daly_interval_hours": finite_or_none(advice.daly_hours),
        "simulated_optimum": _outcome_dict(optimum.best),
        "optimum_range_hours": {"low": optimum.low_hours, "high": optimum.high_hours,
                                "definition": OPTIMUM_RANGE_DEFINITION},
        "young_in_range": optimum.contains(advice.young_hours),
        "daly_in_range": optimum.contains(advice.daly_hours),
        "current": _outcome_dict(advice.current),
        "current_in_range": optimum.contains(advice.current_interval_hours),
        "intervals_hours": [o.interval_hours for o in advice.outcomes],
        "verdict": checkpoint_verdict(advice),
    }


def _outcome_dict(outcome: IntervalOutcome) -> dict:
    """An interval with its goodput and ETTR estimates."""
    return {"interval_hours": outcome.interval_hours, "goodput": estimate_dict(outcome.goodput),
            "ettr": estimate_dict(outcome.ettr)}


def plus_minus(estimate: Estimate, separator: str = " ± ") -> str:
    """``0.8612 ± 0.0021`` (the 95 % half-width), or the mean alone without an interval."""
    if estimate.half_width is None:
        return f"{estimate.mean:.4f}"
    return f"{estimate.mean:.4f}{separator}{estimate.half_width:.4f}"


def checkpoint_verdict(advice: CheckpointAdvice) -> list[str]:
    """A few plain sentences: the simulated optimum and its range, Young and Daly, the current interval."""
    optimum, mtbf = advice.optimum, advice.mtbf
    best, current = optimum.best, advice.current
    analytic = "" if mtbf.analytic_hours is None else f" ({readable_hours(mtbf.analytic_hours)} analytic)"
    lines = [
        f"Simulated optimum: {readable_hours(best.interval_hours)} (goodput {plus_minus(best.goodput)}, "
        f"ETTR {plus_minus(best.ettr)}); optimum range {readable_hours(optimum.low_hours)} to "
        f"{readable_hours(optimum.high_hours)}: {OPTIMUM_RANGE_DEFINITION}.",
        f"Young: {readable_hours(advice.young_hours)} ({_side(optimum, advice.young_hours)} the range); "
        f"Daly: {readable_hours(advice.daly_hours)} ({_side(optimum, advice.daly_hours)} the range); "
        f"from M = {readable_hours(mtbf.for_formulas_hours)} measured{analytic}, "
        f"δ = {readable_hours(advice.checkpoint_hours)}, R = {readable_hours(advice.restart_hours)}.",
    ]
    if current is best:
        lines.append(f"The current interval, {readable_hours(current.interval_hours)}, is the simulated optimum.")
    else:
        loss = (best.goodput.mean - current.goodput.mean) / best.goodput.mean
        lines.append(f"Current interval {readable_hours(current.interval_hours)}: "
                     f"goodput {plus_minus(current.goodput)}, "
                     f"{loss * 100:.2f} % below the optimum's ({_side(optimum, current.interval_hours)} the range).")
    return lines


def _side(optimum: OptimumRange, hours: float) -> str:
    """Whether an interval falls inside or outside the optimum's range, as a word for the verdict."""
    return "inside" if optimum.contains(hours) else "outside"


def write_checkpoint_advice(out_dir: Path, advice: CheckpointAdvice) -> list[Path]:
    """Write the table, the optima and the plot, fsynced, into ``out_dir`` (a staging directory: see
    ``report.files``); returns the paths written."""
    out_dir = Path(out_dir)
    files = {
        TABLE: advice_frame(advice).to_csv(index=False),
        PLOT: goodput_vs_interval_png(advice),
        OPTIMA: json.dumps(advice_dict(advice), indent=2, allow_nan=False) + "\n",
    }
    for name, data in files.items():
        write_synced(out_dir / name, data)
    return [out_dir / name for name in files]
