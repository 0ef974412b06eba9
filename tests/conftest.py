"""Shared test helpers: run a scenario dict in-process and check estimates against truths."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scipy import stats as scipy_stats

from clustersim.runner import run_scenario
from clustersim.scenario import scenario_from_dict
from clustersim.stats import Estimate

CHECKOUT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def subprocesses_import_this_checkout() -> Iterator[None]:
    """``python -m clustersim`` in a test subprocess runs this checkout, not whichever copy is installed."""
    paths = [str(CHECKOUT), *filter(None, [os.environ.get("PYTHONPATH")])]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(paths))
        yield

def clustersim_process(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m clustersim ARGS`` run in ``cwd`` (importing this checkout: see the fixture above)."""
    return subprocess.run([sys.executable, "-m", "clustersim", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def simulate(raw: dict[str, Any]) -> dict[str, Estimate]:
    """Validate ``raw`` and run all its replications; the estimates by metric name."""
    return run_scenario(scenario_from_dict(raw, source="test")).estimates


def widened_half_width(estimate: Estimate, confidence: float = 0.999) -> float:
    """The half-width of ``estimate``'s two-sided ``confidence`` Student-t interval.

    The 95 % interval the run reports is widened to ``confidence`` with the ratio of t
    quantiles — a tolerance derived from the replications' own spread, not tuned by hand.
    """
    assert estimate.n >= 2 and estimate.half_width is not None
    widen = scipy_stats.t.ppf(0.5 + confidence / 2, estimate.n - 1) / scipy_stats.t.ppf(0.975, estimate.n - 1)
    return estimate.half_width * widen


def within_ci(estimate: Estimate, truth: float, confidence: float = 0.999) -> bool:
    """Is ``truth`` inside the two-sided ``confidence`` Student-t interval of ``estimate``?"""
    return abs(estimate.mean - truth) <= widened_half_width(estimate, confidence)


def assert_within_ci(estimate: Estimate, truth: float, what: str) -> None:
    print(f"{what}: simulated {estimate.mean:.6g} ± {estimate.half_width:.3g} (95 %, n={estimate.n}), "
          f"truth {truth:.6g}")
    assert within_ci(estimate, truth), (
        f"{what}: simulated {estimate.mean:.6g} ± {estimate.half_width:.3g} (95 %), truth {truth:.6g}"
    )


def base_scenario(**sections: Any) -> dict[str, Any]:
    """A minimal valid scenario dict; keyword sections replace or add top-level tables."""
    raw: dict[str, Any] = {
        "name": "test",
        "simulation": {"horizon": "1000 h", "replications": 10, "seed": 7},
        "nodes": {"count": 4, "gpus_per_node": 8, "nodes_per_rack": 4, "failure_modes": []},
    }
    raw.update(sections)
    return raw
