"""Every command's report.html, as a reader's browser shows it: headless Chromium opens the report a real (small)
run wrote, and every image must load, nothing be logged as an error and nothing be fetched beyond the file.
A full-page screenshot of each goes to results/browser-check/<command>.png for people to look at.

Each run is a few seconds: the main job with 2 replications, a compare and a sweep of the crews-and-spares
example, a chaos experiment of a 16-node scenario. Skipped only when chromium is absent (the reason says how to
install it).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from browser import check_page, chromium_available
from conftest import CHECKOUT, clustersim_process
from report_cases import SMALL

REASON = chromium_available()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

SCENARIOS = CHECKOUT / "scenarios"
CREWS_AND_SPARES = SCENARIOS / "example_crews_and_spares.toml"
SCREENSHOTS = CHECKOUT / "results" / "browser-check"  # results/ is git-ignored


def run_args(tmp_path: Path) -> list[str]:
    """The main job, two replications."""
    return [str(SCENARIOS / "gpt_cluster.toml"), "--replications", "2"]


def compare_args(tmp_path: Path) -> list[str]:
    """The crews-and-spares example against itself with two crews (`validate --set` writes the variant)."""
    variant = clustersim_process(["validate", str(CREWS_AND_SPARES), "--set", "repair.crews=2",
                                  "--set", 'name="two_crews"'], cwd=tmp_path)
    assert variant.returncode == 0, variant.stderr
    (tmp_path / "two_crews.toml").write_text(variant.stdout, encoding="utf-8")
    return ["compare", str(CREWS_AND_SPARES), str(tmp_path / "two_crews.toml"), "--replications", "2"]


def sweep_args(tmp_path: Path) -> list[str]:
    """Two crew counts on the crews-and-spares example over 30 days, in this process's one worker."""
    return ["sweep", str(CREWS_AND_SPARES), "--vary", "repair.crews=2,4", "--set", 'simulation.horizon="30 d"',
            "--replications", "2", "--workers", "1"]


def chaos_args(tmp_path: Path) -> list[str]:
    """The windowed hypotheses and abort experiment (16 nodes, 7 days), two replications."""
    return ["chaos", str(SCENARIOS / "chaos" / "windows_and_abort.toml"), "--replications", "2"]


def optimize_checkpoint_args(tmp_path: Path) -> list[str]:
    """Three checkpoint intervals of the small scenario's job, two replications each."""
    (tmp_path / "small.toml").write_text(SMALL, encoding="utf-8")
    return ["optimize-checkpoint", str(tmp_path / "small.toml"), "--job", "pretrain", "--intervals",
            "30 min,1 h,2 h", "--replications", "2"]


def search_args(tmp_path: Path) -> list[str]:
    """The fewest crews that keep the small scenario's nodes 90 % available."""
    (tmp_path / "small.toml").write_text(SMALL, encoding="utf-8")
    return ["search", str(tmp_path / "small.toml"), "--vary", "repair.crews", "--min", "1", "--max", "4",
            "--target", "nodes.availability >= 0.9", "--replications", "2", "--max-replications", "4"]


COMMANDS: dict[str, Callable[[Path], list[str]]] = {
    "run": run_args, "compare": compare_args, "sweep": sweep_args, "chaos": chaos_args,
    "optimize-checkpoint": optimize_checkpoint_args, "search": search_args}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_report_shows_every_image_without_an_error_or_a_request(command: str, tmp_path: Path):
    out = tmp_path / "out"
    proc = clustersim_process([*COMMANDS[command](tmp_path), "--out", str(out), "--quiet"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = out / "report.html"
    assert report.is_file(), f"{command} wrote no report.html in {out}: {sorted(p.name for p in out.iterdir())}"

    screenshot = SCREENSHOTS / f"{command}.png"
    check = check_page(report, screenshot)
    print(f"{command}: {check.title!r}, {check.image_count} images, screenshot {screenshot} "
          f"({check.screenshot_size[0]}x{check.screenshot_size[1]} px)")
    assert check.ok, f"{command}'s report.html (screenshot {screenshot}):\n{check.problems()}"
    assert check.image_count >= 1, f"{command}'s report.html shows no image (screenshot {screenshot})"
    assert check.title, f"{command}'s report.html has no title"
