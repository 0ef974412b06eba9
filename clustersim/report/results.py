"""The results contract: summary.json, replications.csv, scenario.resolved.toml, events.parquet."""
from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from clustersim import __version__
from clustersim.adaptive import PrecisionOutcome
from clustersim.model.records import COLUMNS, Kind, ReplicationRecords
from clustersim.layout import layout_of
from clustersim.report.files import write_atomic
from clustersim.scenario.load import dump_scenario_toml
from clustersim.scenario.schema import Scenario
from clustersim.run import RunResult
from clustersim.stats import Estimate

SUMMARY = "summary.json"
REPLICATIONS = "replications.csv"
RESOLVED = "scenario.resolved.toml"
EVENTS = "events.parquet"


def finite_or_none(x: float | None) -> float | None:
    """JSON has no inf or NaN: an undefined number is written as null."""
    return None if x is None or not math.isfinite(x) else x


def estimate_dict(e: Estimate) -> dict:
    """An estimate as summary.json writes it: mean, 95 % bounds (null when undefined), unit, n."""
    return {"mean": finite_or_none(e.mean), "ci95_low": finite_or_none(e.ci95_low),
            "ci95_high": finite_or_none(e.ci95_high), "unit": e.unit, "n": e.n}


def summary_dict(result: RunResult) -> dict:
    """summary.json as the contract fixes it (plus ``complete``, each metric's ``n`` and, adaptive, ``precision``).

    ``replications_requested`` is the fixed count asked for, null in an adaptive run (see ``precision``).
    """
    sim = result.scenario.simulation
    summary = {
        "scenario": result.scenario.name,
        "engine": sim.engine,
        "seed": sim.seed,
        "replications": len(result.rows),
        "replications_requested": sim.replications,
        "complete": result.complete,
        "horizon_hours": sim.horizon,
        "warmup_hours": sim.warmup,
        "clustersim_version": __version__,
        "timing": {"simulate_s": result.simulate_s, "events": result.events},
        "metrics": {name: estimate_dict(e) for name, e in result.estimates.items()},
    }
    if result.precision is not None:
        summary["precision"] = precision_dict(result.precision)
    return summary


def precision_dict(outcome: PrecisionOutcome) -> dict:
    """summary.json's ``precision`` block: target, achieved relative half-widths (null if undefined), bounds."""
    return {
        "target": outcome.target.precision,
        "metrics": {name: finite_or_none(width) for name, width in outcome.achieved.items()},
        "converged": outcome.converged,
        "min_replications": outcome.target.min_replications,
        "max_replications": outcome.target.max_replications,
    }


def replications_frame(result: RunResult) -> pd.DataFrame:
    frame = pd.DataFrame(result.rows, columns=list(result.estimates))
    frame.insert(0, "replication", range(len(result.rows)))
    return frame


def events_frame(scenario: Scenario, logs: list[ReplicationRecords]) -> pd.DataFrame:
    """The state-change log of every replication, with readable names for kinds and causes."""
    if logs:
        stacked = np.vstack([r.log for r in logs])
        reps = np.concatenate([np.full(r.events, r.replication) for r in logs])
    else:
        stacked, reps = np.empty((0, len(COLUMNS))), np.empty(0)
    kinds = [k.name.lower() for k in Kind]
    causes = scenario.label_names
    domains = [instance.name for instance in layout_of(scenario).domains]
    frame = pd.DataFrame({
        "replication": reps.astype(np.int32),
        "time_hours": stacked[:, 0],
        "kind": pd.Categorical.from_codes(stacked[:, 1].astype(np.int8), categories=kinds),
        "component": stacked[:, 2].astype(np.int32),
        # states are small integers, except levels that are amounts (work hours, speeds, counts)
        "from_state": stacked[:, 3],
        "to_state": stacked[:, 4],
        "cause": pd.Categorical.from_codes(stacked[:, 5].astype(np.int16), categories=causes),
    })
    if domains:
        frame.attrs["domains"] = ",".join(domains)
    return frame


def write_results(out_dir: Path, result: RunResult, with_events: bool) -> list[Path]:
    """Write every results file atomically into ``out_dir``; returns the paths written."""
    out_dir = Path(out_dir)
    written = []
    resolved = out_dir / RESOLVED
    write_atomic(resolved, dump_scenario_toml(result.scenario))
    written.append(resolved)
    csv = out_dir / REPLICATIONS
    write_atomic(csv, replications_frame(result).to_csv(index=False))
    written.append(csv)
    if with_events:
        buffer = io.BytesIO()
        events_frame(result.scenario, result.logs).to_parquet(buffer, index=False)
        events = out_dir / EVENTS
        write_atomic(events, buffer.getvalue())
        written.append(events)
    summary = out_dir / SUMMARY
    write_atomic(summary, json.dumps(summary_dict(result), indent=2) + "\n")
    written.append(summary)
    return written
