"""The Python API of the many-run commands: ``clustersim.sweep`` and ``clustersim.compare`` (re-exported by the
package root, lazily, so that ``import clustersim`` stays light and the import tree keeps its order)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd


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
