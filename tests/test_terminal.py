"""The terminal at any width >= 60: whole metric names, digits the interval supports, clamped bounds, an ETA."""
from __future__ import annotations

import io
import math

import pytest
from rich.console import Console
from rich.progress import Progress

from clustersim.report.terminal import (
    EtaColumn, decimals_for, default_decimals, format_interval, format_mean, format_number, format_plus_minus,
    outline, progress_columns, summary_table,
)
from clustersim.runner import run_scenario
from clustersim.scenario import scenario_from_dict
from clustersim.stats import Estimate
from conftest import base_scenario


# --- numbers, hand-worked ---------------------------------------------------------------------

@pytest.mark.parametrize("half_width, decimals", [
    (45.1, 0),       # 45  -> whole numbers
    (0.975, 2),      # 0.98
    (0.0996, 2),     # rounds up to 0.10, so two places, not three
    (149_377, -4),   # 150,000 -> tens of thousands
    (8e-6, 7),       # 0.0000080
    (1.0, 1),        # 1.0
    (13.3, 0),
])
def test_decimals_keep_two_significant_digits_of_the_half_width(half_width: float, decimals: int):
    assert decimals_for(half_width) == decimals


@pytest.mark.parametrize("x, decimals, text", [
    (5_185_852.0, -4, "5,190,000"),
    (14_960.3, 0, "14,960"),
    (724.2, 0, "724"),
    (0.5602, 2, "0.56"),
    (0.99999969, 8, "0.99999969"),
    (-0.001, 2, "0.00"),          # never "-0.00"
    (-12.5, 1, "-12.5"),
    (3e-15, 16, "3e-15"),         # not an ordinary magnitude
    (None, 2, "—"),
    (math.nan, 2, "—"),
    (math.inf, 2, "∞"),
])
def test_format_number(x: float | None, decimals: int, text: str):
    assert format_number(x, decimals) == text


@pytest.mark.parametrize("x, unit, decimals", [
    (3.0, "count", 0),            # a whole number stays whole
    (8734.3, "h", 0),             # 4 significant digits, no fewer than whole units
    (0.2718, "h", 4),
    (0.9956, "fraction", 4),
    (0.99999969, "fraction", 8),  # two digits of 1 - x: never shown as 1.000000
    (1.0, "fraction", 0),
])
def test_default_precision_without_an_interval(x: float, unit: str, decimals: int):
    assert default_decimals(x, unit) == decimals


def test_mean_and_interval_share_the_half_widths_decimal_place():
    e = Estimate(14_960.3, 14_947.0, 14_973.6, 5, "h")  # half-width 13.3: today 1.496e+04
    assert (format_mean(e), format_interval(e)) == ("14,960", "[14,947, 14,974]")
    e = Estimate(0.99887, 0.9987, 0.999042, 5, "fraction")  # half-width 0.000171: today [0.9987, 0.999042]
    assert (format_mean(e), format_interval(e, 0, 1)) == ("0.99887", "[0.99870, 0.99904]")
    e = Estimate(5_185_852.0, 5_036_475.0, 5_335_229.0, 5, "GPU-h")
    assert (format_mean(e), format_interval(e)) == ("5,190,000", "[5,040,000, 5,340,000]")


def test_a_clamped_bound_reads_as_the_limit():
    e = Estimate(0.5602, 0.0, 1.5352, 5, "h", half_width=0.975)  # Student-t [-0.41, 1.54], clamped at 0
    assert (format_mean(e), format_interval(e, 0.0, math.inf)) == ("0.56", "[0, 1.54]")
    e = Estimate(0.96, 0.9, 1.0, 5, "fraction", half_width=0.08)  # 0.080: three places
    assert (format_mean(e), format_interval(e, 0.0, 1.0)) == ("0.960", "[0.900, 1]")


def test_no_interval_and_zero_width():
    assert (format_mean(Estimate(0.99999969, None, None, 1, "fraction")), format_interval(
        Estimate(0.99999969, None, None, 1, "fraction"))) == ("0.99999969", "—")
    assert format_mean(Estimate(3.0, 3.0, 3.0, 5, "count")) == "3"
    assert format_mean(Estimate(math.nan, None, None, 0, "h")) == "—"


def test_plus_minus():
    assert format_plus_minus(Estimate(0.8594, 0.8483, 0.8705, 3, "fraction")) == "0.859 ± 0.011"
    assert format_plus_minus(Estimate(0.8542, 0.8444, 0.8640, 3, "fraction")) == "0.8542 ± 0.0098"
    assert format_plus_minus(Estimate(0.85, None, None, 1, "fraction")) == "0.85"


# --- names -------------------------------------------------------------------------------------

def test_outline_groups_names_under_their_prefix():
    names = ["nodes.availability", "nodes.failures", "nodes.failures.gpu", "repair.stage.reboot.count",
             "repair.stage.reboot.crew_utilization", "training.pretrain.ettr", "training.pretrain.interruptions",
             "training.pretrain.interruptions.gpu", "training.pretrain.lost_work_hours"]
    assert outline(names) == [
        ("nodes.availability", "nodes.availability"),
        ("nodes.failures", "nodes.failures"),
        ("  gpu", "nodes.failures.gpu"),
        ("repair.stage.reboot", None),
        ("  count", "repair.stage.reboot.count"),
        ("  crew_utilization", "repair.stage.reboot.crew_utilization"),
        ("training.pretrain", None),
        ("  ettr", "training.pretrain.ettr"),
        ("  interruptions", "training.pretrain.interruptions"),
        ("    gpu", "training.pretrain.interruptions.gpu"),
        ("  lost_work_hours", "training.pretrain.lost_work_hours"),
    ]


@pytest.fixture(scope="module")
def job_result():
    """A small run with a training job, per-cause rows and a long cause name."""
    mode = {"time_to_failure": {"dist": "exponential", "mean": "300 h"},
            "time_to_repair": {"dist": "lognormal", "mean": "8 h", "cv": 0.5}}
    raw = base_scenario(
        nodes={"count": 8, "gpus_per_node": 8, "nodes_per_rack": 4, "failure_modes": [
            {"name": "gpu", **mode}, {"name": "host_maintenance_window", **mode}]},
        spares={"hot": 1},
        training=[{"name": "pretrain_with_a_long_name", "nodes": 6, "checkpoint_interval": "1 h",
                   "checkpoint_cost": "5 min", "restart_overhead": "10 min"}],
    )
    raw["simulation"]["replications"] = 4
    return run_scenario(scenario_from_dict(raw, source="test"))


@pytest.mark.parametrize("width", [60, 64, 72, 80, 100, 120, 160])
def test_every_name_is_whole_at_any_width(job_result, width: int):
    console = Console(width=width, file=io.StringIO(), force_terminal=False, color_system=None)
    console.print(summary_table(job_result, width))
    text = console.file.getvalue()
    lines = text.splitlines()
    assert "…" not in text
    assert all(len(line) <= width for line in lines)
    labels = [label.strip() for label, _ in outline(list(job_result.estimates))]
    assert len(labels) > len(job_result.estimates)  # section lines
    for label in labels:
        assert any(line.lstrip().startswith(label + " ") or line.strip() == label for line in lines), label


def test_the_unit_column_goes_only_when_the_interval_cannot_fit(job_result):
    head = ["metric", "mean", "95", "%", "CI", "unit"]
    assert _rendered(job_result, 80).splitlines()[1].split() == head
    assert _rendered(job_result, 120).splitlines()[1].split() == head
    assert _rendered(job_result, 60).splitlines()[1].split() == head[:-1]


def _rendered(result, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), force_terminal=False, color_system=None)
    console.print(summary_table(result, width))
    return console.file.getvalue()


# --- progress ----------------------------------------------------------------------------------

def test_the_progress_bar_has_an_eta_once_the_total_is_known():
    columns = progress_columns("run", "replications")
    assert any(isinstance(c, EtaColumn) for c in columns)
    eta = next(c for c in columns if isinstance(c, EtaColumn))
    with Progress(*columns, console=Console(file=io.StringIO()), auto_refresh=False) as bar:
        unknown = bar.add_task("sweep", total=None)
        known = bar.add_task("run", total=10)
        bar.update(known, completed=3)
        assert eta.render(bar.tasks[unknown]).plain == ""
        assert eta.render(bar.tasks[known]).plain.startswith("ETA ")
