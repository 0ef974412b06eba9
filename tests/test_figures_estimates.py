"""The report's figures drawn from a run's estimates and series, a comparison's forest plot and the
optimize-checkpoint plot: the numbers each draws (hand-worked), a PNG on a tiny real run, None with nothing to draw."""
from __future__ import annotations

import math
import tomllib

import pytest

from clustersim.checkpoint_sweep import optimize_checkpoint
from clustersim.comparison import Comparison, compare_runs, compare_scenarios
from clustersim.report.figures.causes import ALL_JOBS, ParetoBar, causes_png, interruptions_over_jobs, pareto
from clustersim.report.figures.differences import ForestRow, compared_metrics, differences_png, forest
from clustersim.report.figures.bands import WindowBand, time_axis, window_bands
from clustersim.report.figures.serving import below_target, latency_png, slo_windows_png
from clustersim.report.figures.storage import exposure_lines, storage_png
from clustersim.report.plots import Mark, goodput_vs_interval_png, merged_marks
from clustersim.runner import RunResult, run_scenario
from clustersim.scenario import load_scenario, scenario_from_dict
from clustersim.stats import Estimate, summarize
from clustersim.t_quantiles import t_quantile
from test_optimize_checkpoint import SCENARIO as CHECKPOINT_SCENARIO

PNG = b"\x89PNG\r\n\x1a\n"
INFERENCE = ("simulation.replications=2", 'simulation.horizon="30 min"', 'chaos[0].at="15 min"',
             'simulation.series_window="2 min"')
STORE = ("simulation.replications=3", 'simulation.horizon="60 d"', 'simulation.series_window="5 d"')


@pytest.fixture(scope="module")
def inference_run() -> RunResult:
    """example_inference over 30 min (warmup 10 min) with its replica killed at 15 min, 2 replications."""
    return run_scenario(load_scenario("scenarios/example_inference.toml", overrides=INFERENCE))


@pytest.fixture(scope="module")
def store_run() -> RunResult:
    """example_fabric_store (GPU and rack failures, a store, a training job) over 60 days, 3 replications."""
    return run_scenario(load_scenario("scenarios/example_fabric_store.toml", overrides=STORE))


def e(mean: float, low: float | None = None, high: float | None = None, n: int = 3) -> Estimate:
    return Estimate(mean, low, high, n, "count")


# --- failure causes ---------------------------------------------------------------------------

def test_pareto_orders_causes_and_accumulates_their_share():
    estimates = {"nodes.failures": e(6.0, 5.0, 7.0), "nodes.failures.psu": e(1.0),
                 "nodes.failures.gpu": e(3.0, 2.0, 4.0), "nodes.failures.rack": e(2.0, 1.0, 3.0),
                 "nodes.failures.never": e(0.0, 0.0, 0.0), "nodes.outage_mean_hours.gpu": e(9.0)}
    assert pareto(estimates, "nodes.failures.") == [ParetoBar("gpu", 3.0, 2.0, 4.0, 0.5),
                                                    ParetoBar("rack", 2.0, 1.0, 3.0, 5 / 6),
                                                    ParetoBar("psu", 1.0, 1.0, 1.0, 1.0)]
    assert pareto({"nodes.failures.gpu": e(0.0)}, "nodes.failures.") == []


def test_interruptions_over_jobs_add_means_and_bounds():
    estimates = {"training.a.interruptions": e(5.0), "training.a.interruptions.gpu": e(3.0, 1.0, 5.0),
                 "training.a.interruptions.network": e(2.0, 2.0, 2.0),
                 "training.b.interruptions.gpu": e(1.5, 0.5, 2.5, n=2), "training.b.goodput": e(0.9)}
    summed = interruptions_over_jobs(estimates)
    assert summed == {ALL_JOBS + "gpu": Estimate(4.5, 1.5, 7.5, 2, "count"),
                      ALL_JOBS + "network": Estimate(2.0, 2.0, 2.0, 3, "count")}
    assert [b.cause for b in pareto(summed, ALL_JOBS)] == ["gpu", "network"]


def test_causes_figure_on_a_real_run(store_run, inference_run):
    assert causes_png(store_run.estimates, 3)[:8] == PNG
    # the inference example: only its planned kill fails a node (its own failures have mean 0)
    assert [b.cause for b in pareto(inference_run.estimates, "nodes.failures.")] == ["kill_replica0"]
    assert causes_png(inference_run.estimates, 2)[:8] == PNG
    assert causes_png({"nodes.failures": e(0.0), "nodes.failures.gpu": e(0.0)}, 3) is None


# --- serving ----------------------------------------------------------------------------------

def test_window_bands_are_student_t_across_replications_clamped_to_the_metric():
    series = [{"storage.objects_under_replicated_mean": [1.0, None, None]},
              {"storage.objects_under_replicated_mean": [3.0, None, None]},
              {"storage.objects_under_replicated_mean": [2.0, 0.5, None]}]
    windows = [(0.0, 1.0), (1.0, 2.0), (2.0, 2.5)]
    first, second, third = window_bands(series, "storage.objects_under_replicated_mean", windows)
    half = t_quantile(2, 0.975) * 1.0 / math.sqrt(3)   # sd of 1, 2, 3 is 1
    assert first == WindowBand(0.0, 1.0, 2.0, 0.0, pytest.approx(2.0 + half))   # low clamped at 0 objects
    assert 2.0 - half < 0
    assert second == WindowBand(1.0, 2.0, 0.5, 0.5, 0.5)   # one replication measured it
    assert third == WindowBand(2.0, 2.5, None, None, None)
    assert window_bands(series, "storage.read_availability", windows) == []


def test_below_target_and_time_axis():
    bands = [WindowBand(0, 1, 0.999, 0.99, 1.0), WindowBand(1, 2, 0.9985, 0.99, 1.0), WindowBand(2, 3, None, None,
                                                                                                 None)]
    assert below_target(bands, 0.999) == [bands[1]]
    assert time_axis(24 * 365) == (24.0, "d") and time_axis(3.0) == (1.0, "h") and time_axis(0.5) == (1 / 60, "min")


def test_serving_figures_on_a_real_run(inference_run, store_run):
    scenario = inference_run.scenario
    assert latency_png(inference_run.estimates)[:8] == PNG
    assert slo_windows_png(scenario, inference_run.series)[:8] == PNG
    bands = window_bands(inference_run.series, "inference.chat.success_ratio", scenario.simulation.series_windows())
    assert len(bands) == 10 and bands[0].start_hours == pytest.approx(1 / 6)   # [10 min, 30 min) in 2 min windows
    # the killed replica (15 min) costs the window it falls in its SLO, target 0.99
    assert [round(b.start_hours * 60) for b in below_target(bands, scenario.inference[0].slo.target)] == [14]
    assert latency_png(store_run.estimates) is None
    assert slo_windows_png(store_run.scenario, store_run.series) is None   # no service
    assert slo_windows_png(scenario, []) is None                            # no series


# --- storage ----------------------------------------------------------------------------------

def test_exposure_lines_say_each_number_or_why_it_is_missing():
    estimates = {"storage.data_loss_events": e(0.5, 0.0, 1.5), "storage.rereplication_hours": Estimate(
        0.5, 0.25, 0.75, 3, "h"), "storage.mttdl_hours": Estimate(math.nan, None, None, 0, "h")}
    assert exposure_lines(estimates) == ["data-loss events per replication:\n  0.5\n  (95 % CI 0 – 1.5)",
                                         "re-replication time (mean):\n  30 min\n  (95 % CI 15 min – 45 min)",
                                         "MTTDL (object-hours per loss):\n  — (no data lost)"]


def test_storage_figure_on_a_real_run(store_run, inference_run):
    assert storage_png(store_run.scenario, store_run.estimates, store_run.series)[:8] == PNG
    assert storage_png(store_run.scenario, store_run.estimates, [])[:8] == PNG   # no series: whole-run bars
    assert storage_png(inference_run.scenario, inference_run.estimates, inference_run.series) is None


# --- comparison -------------------------------------------------------------------------------

def _comparison(scenario, baseline: list[dict[str, float]], other: list[dict[str, float]]) -> Comparison:
    runs = [RunResult(scenario, rows, summarize(rows), 0.0, 0) for rows in (baseline, other)]
    return compare_runs(["base", "other"], runs)


def test_forest_rows_are_percent_of_the_baseline_mean(store_run):
    baseline = [{"nodes.availability": a, "capacity.availability": 0.5, "nodes.failures": 0.0,
                 "storage.data_loss_events": 1.0} for a in (0.5, 0.25, 0.75)]
    other = [{"nodes.availability": a + 0.125, "capacity.availability": c, "nodes.failures": 1.0,
              "storage.data_loss_events": 1.0} for a, c in zip((0.5, 0.25, 0.75), (0.5, 0.6, 0.4))]
    comparison = _comparison(store_run.scenario, baseline, other)
    assert compared_metrics(comparison) == ["nodes.availability", "capacity.availability", "nodes.failures",
                                            "storage.data_loss_events"]
    rows, zero = forest(comparison, ["nodes.availability", "capacity.availability", "nodes.failures"])
    half = t_quantile(2, 0.975) * 0.1 / math.sqrt(3) / 0.5 * 100   # paired diffs 0, 0.1, -0.1 over a mean of 0.5
    assert rows == [ForestRow("nodes.availability", "other", 25.0, 25.0, 25.0, True),
                    ForestRow("capacity.availability", "other", pytest.approx(0.0, abs=1e-12),
                              pytest.approx(-half), pytest.approx(half), False)]
    assert zero == ["nodes.failures"]   # a baseline mean of 0 has no percentage
    assert forest(comparison, ["storage.data_loss_events"]).rows == [
        ForestRow("storage.data_loss_events", "other", 0.0, 0.0, 0.0, False)]
    assert differences_png(comparison)[:8] == PNG


def test_headline_metrics_expand_jobs_and_services(store_run, inference_run):
    store = compared_metrics(_comparison(store_run.scenario, store_run.rows, store_run.rows))
    assert store[:4] == ["nodes.availability", "capacity.availability", "nodes.failures", "nodes.outage_mean_hours"]
    assert store.index("storage.read_availability") < store.index("training.pretrain.ettr") \
        < store.index("training.pretrain.goodput")
    served = compared_metrics(_comparison(inference_run.scenario, inference_run.rows, inference_run.rows))
    assert served.index("inference.chat.success_ratio") < served.index("inference.chat.latency_p99_s")
    assert served[-1].startswith("inference.chat.")


def test_differences_figure_on_a_real_comparison():
    base = load_scenario("scenarios/example_fabric_store.toml", overrides=STORE)
    three = load_scenario("scenarios/example_fabric_store.toml", overrides=STORE + ("storage.replication=3",))
    comparison = compare_scenarios([base, three], ["two.toml", "three.toml"])
    assert differences_png(comparison)[:8] == PNG
    alone = Comparison(comparison.names[:1], comparison.results[:1], [])
    assert differences_png(alone) is None


# --- optimize-checkpoint's plot ---------------------------------------------------------------

def test_marks_at_one_displayed_interval_merge_into_one_labelled_line():
    marks = [Mark("simulated optimum", 2.0, "g", "-"), Mark("Young", 86.2 / 60, "b", "--"),
             Mark("Daly", 86.4 / 60, "r", ":"), Mark("current", 2.0, "k", "-."), Mark("never", math.inf, "y", "-")]
    assert merged_marks(marks) == [Mark("simulated optimum = current: 2 h", 2.0, "g", "-"),
                                   Mark("Young = Daly: 1.44 h", 86.2 / 60, "b", "--")]
    assert merged_marks([Mark("Young", 0.5, "b", "--"), Mark("Daly", 0.51, "r", ":")]) == [
        Mark("Young: 30 min", 0.5, "b", "--"), Mark("Daly: 30.6 min", 0.51, "r", ":")]


def test_goodput_plot_on_a_real_sweep():
    scenario = scenario_from_dict(tomllib.loads(CHECKPOINT_SCENARIO))
    advice = optimize_checkpoint(scenario, 0, [1 / 3, 2 / 3, 2.0])
    assert goodput_vs_interval_png(advice)[:8] == PNG
