"""Results complete or absent, --out never reused silently, every stop signal honoured (issue 11).

The kill trials run in one harness process (``python -c HARNESS``, importing this checkout) that
imports clustersim once and forks a child per trial running ``clustersim.cli.main``: each trial is a
real process killed at a seeded instant, without the ~2 s of imports a fresh interpreter would take.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from conftest import clustersim_process

from clustersim.cli import main

ROOT = Path(__file__).resolve().parents[1]

# Small, yet its writing (events.parquet of ~10,000 rows, four fsynced files) takes a good share of a run.
WRITING = """\
name = "writing"

[simulation]
horizon = "{horizon}"
replications = {replications}
seed = 5

[nodes]
count = 64
gpus_per_node = 8
nodes_per_rack = 8

[[nodes.failure_modes]]
name = "gpu"
scope = "gpu"
time_to_failure = {{dist = "exponential", afr = 4.0}}
recovery = "replace"
time_to_repair = {{dist = "lognormal", mean = "8 h", cv = 0.5}}

[repair]
crews = 2
"""

HARNESS = r'''
import json, os, random, signal, sys, time
import pyarrow.parquet  # noqa: F401  (imported once here, not in every child)
import pandas.io.parquet  # noqa: F401
from clustersim.cli import main

scenario, parent, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
# import everything a run imports lazily (without writing events.parquet here: pyarrow starts its threads
# in the children only)
assert main([scenario, "--out", os.path.join(parent, "warm-up"), "--quiet"]) == 0
rng = random.Random(spec["seed"])
sig = getattr(signal, spec["signal"])


def start(out, extra):
    """Fork a child running the CLI; it reports when main returned (CLOCK_MONOTONIC is system-wide)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        code = 99
        try:
            fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            code = main([scenario, "--out", os.path.join(parent, out), "--quiet", *extra])
            os.write(write, repr(time.monotonic()).encode())
        except KeyboardInterrupt:  # before main's own handling began: end as Python does, killed by SIGINT
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        finally:
            os._exit(code)
    os.close(write)
    return pid, read


def finish(pid, read):
    _, status = os.waitpid(pid, 0)
    returned = os.read(read, 100).decode()
    os.close(read)
    code = os.waitstatus_to_exitcode(status)
    return code, float(returned) if returned else None


def staged(out):
    """The files in ``out``'s staging directories (the run is writing them)."""
    return sorted(name for entry in os.listdir(parent) if entry.startswith(f".{out}.tmp-")
                  for name in os.listdir(os.path.join(parent, entry)))


durations, writes = [], []
for i in range(3):  # reference runs: how long one takes here, now, and when its first file is written
    began = time.monotonic()
    pid, read = start(f"reference-{i}", spec["args"])
    while not staged(f"reference-{i}") and not os.path.isdir(os.path.join(parent, f"reference-{i}")):
        time.sleep(0.0005)
    writes.append(time.monotonic() - began)
    code, _ = finish(pid, read)
    assert code == 0, code
    durations.append(time.monotonic() - began)
duration, write_start = sorted(durations)[1], sorted(writes)[1]
trials = []
for i in range(spec["trials"]):
    out = f"trial-{i}"
    extra = list(spec["args"])
    if spec.get("overwrite"):  # a complete previous result (seed 1) that the trial (seed 2) replaces
        assert finish(*start(out, [*extra, "--seed", "1"]))[0] == 0
        extra += ["--seed", "2", "--overwrite"]
    low = write_start - 0.2 * duration if spec["low"] == "writing" else spec["low"] * duration
    delay = rng.uniform(max(low, 0.0), spec["high"] * duration)
    pid, read = start(out, extra)
    time.sleep(delay)
    sent = time.monotonic()
    os.kill(pid, sig)
    code, returned = finish(pid, read)
    # what the kill left staged (before the next run cleans it up): files in hand means killed mid-write
    trials.append({"out": out, "delay": delay, "code": code, "staged": staged(out),
                   "returned_before_signal": returned is not None and returned < sent})
final = finish(*start("final", spec["args"]))[0]  # the next run into the parent: it cleans up
print(json.dumps({"duration": duration, "write_start": write_start, "trials": trials, "final": final}))
'''


def harness(tmp_path: Path, args: list[str], trials: int, sig: str, low: float | str, high: float, seed: int,
            replications: int = 2, horizon: str = "120 d", overwrite: bool = False) -> dict:
    (tmp_path / "w.toml").write_text(WRITING.format(replications=replications, horizon=horizon))
    parent = tmp_path / "results"
    parent.mkdir()
    spec = {"args": args, "trials": trials, "signal": sig, "low": low, "high": high, "seed": seed,
            "overwrite": overwrite}
    proc = subprocess.run([sys.executable, "-c", HARNESS, str(tmp_path / "w.toml"), str(parent), json.dumps(spec)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["final"] == 0
    return report


def complete_result(out: Path, replications: int, events: bool) -> dict:
    """Every file of a result is there and readable; returns summary.json."""
    names = {"summary.json", "replications.csv", "scenario.resolved.toml", "report.html", "report.md"} | (
        {"events.parquet"} if events else set())
    if json.loads((out / "summary.json").read_text())["replications"]:
        names.add("plots")  # a run stopped before its first replication has a report without figures
    assert {p.name for p in out.iterdir()} == names, out
    summary = json.loads((out / "summary.json").read_text())
    frame = pd.read_csv(out / "replications.csv")
    assert len(frame) == summary["replications"]
    assert tomllib.loads((out / "scenario.resolved.toml").read_text())["name"] == "writing"
    if events:
        log = pd.read_parquet(out / "events.parquet")
        assert set(log["replication"]) <= set(range(replications)) and len(log) > 0
    return summary


def no_leftovers(parent: Path) -> None:
    hidden = sorted(p.name for p in parent.iterdir() if p.name.startswith("."))
    assert not hidden, f"left beside the results: {hidden}"


def test_sigkill_in_the_write_phase_leaves_nothing_or_everything(tmp_path):
    """30 children with --events, each killed with SIGKILL at a seeded instant from shortly before its first
    file is written (as timed on reference runs) to past its end."""
    report = harness(tmp_path, ["--events"], trials=30, sig="SIGKILL", low="writing", high=1.1, seed=11)
    parent = tmp_path / "results"
    outcomes = {"absent": 0, "complete": 0, "killed mid-write": 0}
    for trial in report["trials"]:
        out = parent / trial["out"]
        if out.exists():
            summary = complete_result(out, 2, events=True)
            assert summary["complete"] and summary["replications"] == 2
            outcomes["complete"] += 1
        else:
            outcomes["absent"] += 1
        outcomes["killed mid-write"] += bool(trial["staged"])
    no_leftovers(parent)
    print(f"SIGKILL: {len(report['trials'])} trials; a run takes {report['duration']:.3f} s, writing from "
          f"{report['write_start']:.3f} s: {outcomes}")


def test_sigkill_during_an_overwrite_leaves_the_old_or_the_new_result(tmp_path):
    """12 --overwrite children killed at seeded instants: the old result (seed 1) or the new (seed 2), whole."""
    report = harness(tmp_path, ["--events"], trials=12, sig="SIGKILL", low="writing", high=1.1, seed=12,
                     overwrite=True)
    parent = tmp_path / "results"
    seeds = []
    for trial in report["trials"]:
        summary = complete_result(parent / trial["out"], 2, events=True)
        assert summary["complete"]
        seeds.append(summary["seed"])
    no_leftovers(parent)
    print(f"SIGKILL during --overwrite: {len(seeds)} trials; old kept {seeds.count(1)}, new {seeds.count(2)}")
    assert set(seeds) <= {1, 2}


def test_sigint_at_any_point_is_never_lost(tmp_path):
    """20 children of 40 replications, each sent SIGINT at a seeded instant over its run (0 to 95 %)."""
    report = harness(tmp_path, [], trials=20, sig="SIGINT", low=0.0, high=0.95, seed=13, replications=40,
                     horizon="30 d")
    parent = tmp_path / "results"
    kinds = {"incomplete": 0, "complete": 0, "nothing written": 0, "finished first": 0}
    for trial in report["trials"]:
        out = parent / trial["out"]
        if trial["returned_before_signal"]:
            kinds["finished first"] += 1  # the run was over before the signal: nothing to honour
            continue
        assert trial["code"] in (130, -signal.SIGINT), trial  # never 0 with the signal lost
        if not out.exists():
            kinds["nothing written"] += 1  # the signal came while the scenario was still being read
            continue
        summary = complete_result(out, 40, events=False)
        kinds["complete" if summary["complete"] else "incomplete"] += 1
        if summary["complete"]:
            assert summary["replications"] == 40  # landed after the last replication
        else:
            assert summary["replications"] < 40
    no_leftovers(parent)
    print(f"SIGINT: {len(report['trials'])} trials over a {report['duration']:.3f} s run: {kinds}")
    assert kinds["incomplete"] >= 1  # most instants fall among the replications


def test_sigterm_writes_the_finished_replications(tmp_path):
    """A real ``python -m clustersim`` process of 200 replications, sent SIGTERM once it is replicating."""
    (tmp_path / "w.toml").write_text(WRITING.format(replications=200, horizon="365 d"))
    proc = subprocess.Popen([sys.executable, "-m", "clustersim", "w.toml", "--out", "out", "--quiet"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".out.tmp-") for p in tmp_path.iterdir()):  # the run has begun
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.02)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    summary = complete_result(tmp_path / "out", 200, events=False)
    assert summary["complete"] is False and 0 < summary["replications"] < 200
    print(f"SIGTERM after 1 s: {summary['replications']} of 200 replications written, exit 143")
    no_leftovers(tmp_path)


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def test_out_is_never_reused_silently_and_overwrite_replaces_it_whole(tmp_path, capsys):
    (tmp_path / "w.toml").write_text(WRITING.format(replications=2, horizon="30 d"))
    scenario, out = str(tmp_path / "w.toml"), tmp_path / "out"
    assert run_cli([scenario, "--out", str(out), "--events", "--quiet"], capsys) == (0, "")
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert "events.parquet" in before
    # refused at once, in one line, before anything is simulated: nothing changes
    started = time.perf_counter()
    code, err = run_cli([scenario, "--out", str(out), "--quiet", "--replications", "5000"], capsys)
    assert code == 2 and time.perf_counter() - started < 5
    assert err == (f"--out {out}: already holds results (summary.json events.parquet plots ...); "
                   "pass --overwrite to replace them, or choose another directory\n")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    # --overwrite replaces it whole: no stale events.parquet
    assert run_cli([scenario, "--out", str(out), "--quiet", "--overwrite", "--seed", "9"], capsys) == (0, "")
    assert sorted(p.name for p in out.iterdir()) == ["plots", "replications.csv", "report.html", "report.md",
                                                     "scenario.resolved.toml", "summary.json"]
    assert json.loads((out / "summary.json").read_text())["seed"] == 9
    no_leftovers(tmp_path)
    # an empty directory is no reuse; a directory of other files is never replaced, even with --overwrite
    (tmp_path / "empty").mkdir()
    assert run_cli([scenario, "--out", str(tmp_path / "empty"), "--quiet"], capsys) == (0, "")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    code, err = run_cli([scenario, "--out", str(tmp_path / "mine"), "--quiet", "--overwrite"], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "notes.txt" in err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    no_leftovers(tmp_path)


def test_optimize_checkpoint_refuses_a_used_out(tmp_path, capsys):
    from test_optimize_checkpoint import SCENARIO

    (tmp_path / "ckpt.toml").write_text(SCENARIO)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "optimize_checkpoint.json").write_text("{}")
    code, err = run_cli(["optimize-checkpoint", str(tmp_path / "ckpt.toml"), "--job", "pretrain", "--quiet",
                         "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and err.startswith(f"--out {tmp_path / 'out'}: already holds results (optimize_checkpoint.json)")
    no_leftovers(tmp_path)


def test_a_second_run_into_a_locked_directory_is_refused(tmp_path):
    (tmp_path / "w.toml").write_text(WRITING.format(replications=2, horizon="30 d"))
    with open(tmp_path / ".out.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        proc = clustersim_process(["w.toml", "--out", "out", "--quiet"], tmp_path, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == f"--out out: another clustersim run is writing there (pid {os.getpid()})\n"
    assert not (tmp_path / "out").exists()


def test_leftovers_of_a_dead_run_are_cleaned_up_and_an_interrupted_overwrite_rolled_back(tmp_path, capsys):
    """What a SIGKILL can leave: a staging directory, a lock file, old results moved aside."""
    (tmp_path / "w.toml").write_text(WRITING.format(replications=2, horizon="30 d"))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    pid = int(dead.stdout)  # a process that is gone
    (tmp_path / f".a.tmp-{pid}-x1y2z3").mkdir()
    (tmp_path / f".a.tmp-{pid}-x1y2z3" / "summary.json").write_text("{")
    (tmp_path / ".a.lock").write_text(f"{pid}\n")
    (tmp_path / f".b.old-{pid}-abc123").mkdir()  # killed between the two renames of an overwrite
    (tmp_path / f".b.old-{pid}-abc123" / "summary.json").write_text('{"old": true}')
    (tmp_path / f".c.tmp-{os.getppid()}-live01").mkdir()  # a live process's: left alone
    assert run_cli([str(tmp_path / "w.toml"), "--out", str(tmp_path / "new"), "--quiet"], capsys) == (0, "")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".c.tmp-{os.getppid()}-live01", "b", "new", "w.toml"]
    assert json.loads((tmp_path / "b" / "summary.json").read_text()) == {"old": True}


def test_stop_signals_are_deferred_outside_the_replications():
    """Outside ``interruptible()`` a signal is remembered, not raised; entering it later raises at once."""
    from clustersim.runner import Interrupted, StopSignals

    previous = signal.getsignal(signal.SIGTERM)
    with StopSignals() as stops:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
        assert stops.first == signal.SIGTERM and stops.exit_status == 143
        with pytest.raises(Interrupted) as raised, stops.interruptible():
            pass
        assert raised.value.signum == signal.SIGTERM and isinstance(raised.value, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGTERM) is previous


def test_a_signal_inside_a_deferred_stretch_is_raised_when_it_ends():
    """Taking one replication (its row, log and counts) is never cut in two: the signal waits for its end."""
    from clustersim.runner import Interrupted, StopSignals

    done = []
    with StopSignals() as stops, pytest.raises(Interrupted) as raised, stops.interruptible():
        with stops.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)
            done.append("row")
            done.append("log")
        done.append("next replication")  # never reached
    assert done == ["row", "log"] and raised.value.signum == signal.SIGTERM


@pytest.mark.parametrize("module", ["clustersim/stats.py", "clustersim/measures.py", "clustersim/report/results.py"])
def test_no_numpy_comparison_with_an_enum_member(module: str):
    """numpy swallows a KeyboardInterrupt raised while it compares an array with an IntEnum member."""
    enums = "Kind|NodeState|RepairState|SlotState|JobState|EventCode"
    text = (ROOT / module).read_text()
    assert not re.findall(rf"[=!<>]=\s*(?:{enums})\.\w+", text)
    assert not re.findall(rf"np\.(?:isin|where|concatenate)\([^)]*(?:{enums})\.", text)
