"""The report: the written comparison's verdicts (significant exactly when the paired interval excludes 0), the
document's two renderings (Markdown linking plots/, self-contained HTML), every command writing report.md,
report.html and plots/ unless --no-report, the report's windows changing no number, and the API's result
objects and plot accessors."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clustersim.comparison import Difference
from clustersim.report.document import Figure, Report, Section, render_html, render_markdown, table
from clustersim.report.review import (
    NOT_SIGNIFICANT,
    SIGNIFICANT,
    difference_sentence,
    headline_metrics,
    parameter_differences,
    spare_nodes_sentence,
)
from clustersim.stats import Estimate
from conftest import clustersim_process
from report_cases import SMALL

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9a"
                       "wAAAABJRU5ErkJggg==")



def small_scenario(tmp_path: Path, name: str = "small.toml", text: str = SMALL) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- the written comparison -------------------------------------------------------------------

bounds = st.floats(min_value=-5, max_value=5, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(mean=bounds, a=bounds, b=bounds, metric=st.sampled_from(
    ["nodes.availability", "nodes.outage_mean_hours", "nodes.failures", "training.job.ettr"]))
def test_the_sentence_says_significant_exactly_when_the_paired_interval_excludes_zero(mean, a, b, metric):
    low, high = min(a, b, mean), max(a, b, mean)
    d = Difference(metric, "B", Estimate(mean, low, high, 10, "x"))
    sentence = difference_sentence(d, "A", baseline_mean=1.0)
    excludes_zero = low > 0 or high < 0
    assert (SIGNIFICANT in sentence) == excludes_zero
    assert (NOT_SIGNIFICANT in sentence) == (not excludes_zero)


def test_a_difference_reads_in_points_for_a_fraction_and_in_its_unit_otherwise():
    ettr = Difference("training.pretrain.ettr", "B", Estimate(0.031, 0.027, 0.035, 20, "fraction"))
    assert difference_sentence(ettr, "A").startswith("B raises training.pretrain.ettr by 3.10 ± 0.40 points against A")
    outage = Difference("nodes.outage_mean_hours", "B", Estimate(-2.5, -2.8, -2.2, 20, "h"))
    assert difference_sentence(outage, "A", 25.0).startswith(
        "B lowers nodes.outage_mean_hours by 2.50 ± 0.30 h (-10.0% of A's mean) against A")
    assert difference_sentence(Difference("nodes.failures", "B", Estimate(0.0, 0.0, 0.0, 20, "count")), "A") \
        .endswith(f"{NOT_SIGNIFICANT}.")


def test_spares_and_settings_that_differ_are_named():
    assert spare_nodes_sentence("B", "A", 48, 16) == "B holds 32 more spare nodes than A (16 → 48)."
    assert spare_nodes_sentence("B", "A", 16, 16) is None
    base = {"name": "a", "spares": {"hot": 8}, "training": [{"nodes": 4}]}
    other = {"name": "b", "spares": {"hot": 16}, "training": [{"nodes": 4}]}
    assert parameter_differences(base, other) == [("spares.hot", "8", "16")]


def test_headline_metrics_come_cluster_first_then_each_job_then_each_service():
    names = ["inference.chat.success_ratio", "training.j.ettr", "nodes.failures", "nodes.availability",
             "nodes.up_mean", "training.j.goodput"]
    assert headline_metrics(names) == ["nodes.availability", "nodes.failures", "training.j.ettr",
                                       "training.j.goodput", "inference.chat.success_ratio"]


# --- the document -----------------------------------------------------------------------------

def _document() -> Report:
    return Report("t <&> title", "sub", [
        Section("One", paragraphs=["a | b"], tables=[table(["x", "y"], [["1", "<b>"]], numeric={0})],
                figures=[Figure("fig_a", "caption a", PNG)]),
        Section("Two", bullets=["point"], figures=[Figure("fig_b", "caption b", PNG)], folded=True)])


def test_markdown_links_every_figure_from_plots_and_escapes_table_pipes():
    text = render_markdown(_document())
    assert "![caption a](plots/fig_a.png)" in text and "![caption b](plots/fig_b.png)" in text
    assert "| ---: | :--- |" in text and "# t <&> title" in text


def test_html_is_self_contained_and_escaped():
    page = render_html(_document())
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 2 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert base64.b64decode(sources[0].split(",", 1)[1]) == PNG
    assert "<script" not in page and "http://" not in page and "https://" not in page and "<link" not in page
    assert "t &lt;&amp;&gt; title" in page and "&lt;b&gt;" in page and "<details>" in page


# --- every command ----------------------------------------------------------------------------

def _report_files(out: Path) -> tuple[str, str, list[str]]:
    html = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    plots = sorted(p.name for p in (out / "plots").glob("*.png"))
    for name in plots:
        assert (out / "plots" / name).read_bytes().startswith(b"\x89PNG")
        assert f"plots/{name}" in md
    assert html.count("data:image/png;base64,") == len(plots)
    return html, md, plots


def test_a_run_writes_its_report_and_the_report_s_windows_change_no_number(tmp_path: Path):
    scenario = small_scenario(tmp_path)
    proc = clustersim_process([str(scenario), "--out", str(tmp_path / "r"), "--quiet"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    html, md, plots = _report_files(tmp_path / "r")
    assert {"availability_over_time.png", "failure_causes.png", "outage_timeline.png",
            "training_wall_time.png"} <= set(plots)
    assert "Nodes were in service" in md and "Job pretrain (8 nodes) turned" in md
    assert not (tmp_path / "r" / "series.csv").exists()  # the report's windows are not the scenario's
    proc = clustersim_process([str(scenario), "--out", str(tmp_path / "bare"), "--quiet", "--no-report"],
                              cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not any((tmp_path / "bare" / name).exists() for name in ("report.html", "report.md", "plots"))
    with_report = json.loads((tmp_path / "r" / "summary.json").read_text())["metrics"]
    without = json.loads((tmp_path / "bare" / "summary.json").read_text())["metrics"]
    assert with_report == without
    assert (tmp_path / "r" / "replications.csv").read_text() == (tmp_path / "bare" / "replications.csv").read_text()


def test_the_sample_replication_is_the_run_s_replication_zero(tmp_path: Path):
    import clustersim

    result = clustersim.run(small_scenario(tmp_path))
    sample = result.sample()
    assert sample.metrics == result.run.rows[0] and not sample.resimulated_on_simpy


def test_compare_s_report_says_significant_where_compare_csv_does(tmp_path: Path):
    a = small_scenario(tmp_path, "a.toml")
    b = small_scenario(tmp_path, "b.toml", SMALL.replace('name = "small"', 'name = "fast-repair"')
                       .replace('mean = "30 h"', 'mean = "3 h"').replace("hot = 2", "hot = 4"))
    out = tmp_path / "c"
    proc = clustersim_process(["compare", str(a), str(b), "--out", str(out), "--quiet"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    html, md, plots = _report_files(out)
    assert plots == ["differences.png"]
    assert "fast-repair holds 2 more spare nodes than small (2 → 4)." in md
    frame = pd.read_csv(out / "compare.csv")
    for _, row in frame[frame["scenario"] == "fast-repair"].iterrows():
        sentence = next((line for line in md.splitlines() if line.startswith(f"fast-repair raises {row['metric']} ")
                         or line.startswith(f"fast-repair lowers {row['metric']} ")), None)
        if sentence is not None:
            assert (SIGNIFICANT in sentence) == bool(row["significant"]), sentence
    assert "fast-repair raises nodes.availability" in md


def test_a_sweep_and_a_chaos_experiment_write_their_reports(tmp_path: Path):
    scenario = small_scenario(tmp_path)
    out = tmp_path / "s"
    proc = clustersim_process(["sweep", str(scenario), "--vary", "repair.crews=1,2,4", "--out", str(out), "--quiet"],
                              cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    html, md, plots = _report_files(out)
    assert "sweep_nodes_availability.png" in plots and "nodes.availability is best at point" in md
    out = tmp_path / "x"
    proc = clustersim_process(["chaos", str(Path.cwd() / "scenarios/chaos/windows_and_abort.toml"), "--out",
                               str(out), "--replications", "2", "--quiet"], cwd=Path.cwd())
    assert proc.returncode == 0, proc.stderr
    html, md, plots = _report_files(out)
    assert "chaos_timeline.png" in plots and "held in" in md


def test_no_report_on_compare_and_chaos(tmp_path: Path):
    a = small_scenario(tmp_path, "a.toml")
    proc = clustersim_process(["compare", str(a), str(a), "--out", str(tmp_path / "c"), "--quiet", "--no-report"],
                              cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "c" / "compare.csv").exists() and not (tmp_path / "c" / "report.html").exists()


# --- the API ----------------------------------------------------------------------------------

def test_the_api_s_plots_draw_and_the_report_can_be_written(tmp_path: Path):
    import clustersim

    result = clustersim.run(small_scenario(tmp_path), replications=2)
    for draw in (result.plot.availability, result.plot.causes, result.plot.outages, result.plot.wall_time):
        picture = draw()
        assert picture is not None and picture._repr_png_().startswith(b"\x89PNG")
    assert result.plot.latency() is None and result.plot.storage() is None  # no service, no store
    assert result.series is not None and set(result.series["replication"]) == {0, 1}
    page = result.write_report(tmp_path / "api")
    assert page.exists() and (tmp_path / "api" / "plots" / "outage_timeline.png").exists()


def test_the_api_s_sweep_and_compare_return_result_objects(tmp_path: Path):
    import clustersim

    scenario = small_scenario(tmp_path)
    swept = clustersim.sweep(scenario, vary=["repair.crews=1,2"], out=tmp_path / "s")
    assert list(swept.table["repair.crews"]) == [1, 2]
    on_disk = pd.read_csv(tmp_path / "s" / "sweep.csv")
    assert on_disk["nodes.availability_mean"].tolist() == swept.table["nodes.availability_mean"].tolist()
    picture = swept.plot.metric("nodes.availability")
    assert picture is not None and picture.png.startswith(b"\x89PNG")
    same = clustersim.compare(scenario, scenario)
    assert same.significant.empty  # common random numbers: a scenario against itself moves nothing
    faster = small_scenario(tmp_path, "b.toml", SMALL.replace('name = "small"', 'name = "b"')
                            .replace('mean = "30 h"', 'mean = "3 h"'))
    compared = clustersim.compare(scenario, faster)
    assert "nodes.availability" in set(compared.significant["metric"])
    assert any(line.startswith("b raises nodes.availability") for line in compared.written)
    picture = compared.plot.differences()
    assert picture is not None and picture.png.startswith(b"\x89PNG")


@pytest.mark.parametrize("flag_command", [["run"], ["compare"], ["chaos"], ["sweep"], ["optimize-checkpoint"],
                                          ["search"]])
def test_every_results_command_takes_no_report(flag_command):
    from clustersim.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    command = sub.choices[flag_command[0]]  # type: ignore[attr-defined]
    assert any("--no-report" in action.option_strings for action in command._actions)


def test_overwrite_replaces_a_directory_with_a_report_and_a_node_table(tmp_path: Path):
    scenario, out = small_scenario(tmp_path), tmp_path / "r"
    proc = clustersim_process([str(scenario), "--out", str(out), "--quiet", "--nodes"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (out / "nodes.parquet").exists() and (out / "plots").is_dir()
    proc = clustersim_process([str(scenario), "--out", str(out), "--quiet", "--overwrite", "--no-report"],
                              cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr  # every file there is clustersim's: the report, nodes.parquet
    assert sorted(p.name for p in out.iterdir()) == ["replications.csv", "scenario.resolved.toml", "summary.json"]


def test_a_run_stopped_before_any_replication_still_has_its_report(tmp_path: Path):
    from clustersim.report.document import render_markdown
    from clustersim.report.run_report import run_report
    from clustersim.runner import RunResult
    from clustersim.scenario import load_scenario

    scenario = load_scenario(small_scenario(tmp_path))
    text = render_markdown(run_report(RunResult(scenario, [], {}, 0.0, 0, complete=False), None, "small.toml"))
    assert "stopped before any replication finished" in text and "interrupted" in text


def test_a_fast_run_s_report_draws_its_windows_and_outages_from_replication_0_on_simpy(tmp_path: Path):
    """The fast engine measures no windows and keeps no log: the report re-simulates replication 0 on SimPy
    and says so (the run itself is stood in for by a SimPy run relabelled fast: no kernel compile here)."""
    import dataclasses

    from clustersim.report.document import render_markdown
    from clustersim.report.run_report import run_report
    from clustersim.report.sample import sample_replication
    from clustersim.runner import run_scenario
    from clustersim.scenario import load_scenario

    scenario = load_scenario(small_scenario(tmp_path))
    fast = scenario.model_copy(update={"simulation": scenario.simulation.model_copy(update={"engine": "fast"})})
    result = dataclasses.replace(run_scenario(scenario), scenario=fast, series=[])
    sample = sample_replication(fast)
    assert sample.resimulated_on_simpy and sample.metrics == result.rows[0]  # the same path: same engine here
    report = run_report(result, sample, "small.toml")
    text = render_markdown(report)
    assert "re-simulated on the SimPy engine" in text
    assert {f.name for f in report.figures()} >= {"availability_over_time", "outage_timeline", "training_wall_time"}
