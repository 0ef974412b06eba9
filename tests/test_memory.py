"""Memory flat in replications and horizon: a process's own peak (VmHWM) after 100 replications within 10 %
of after 10, and after a replication of twice the horizon within 10 % of one of the horizon.

What it guards: a replication's model surviving it (the garbage-collection leak: ~1-3 MB of model a
replication here, so 90 more replications would add ~100 MB or more) and a whole state-change log held or
copied for the statistics (48 bytes a row before copies: 90 more replications of ~2,700 rows hold ~12 MB;
twice the horizon, ~110,000 more rows, 5 MB held, ~15 MB with the copies the analysis made before it
streamed: +17 %). The process itself (Python, numpy, scipy.special, SimPy, the model) is ~70 MB, so 10 % (~7 MB)
is well above the noise of allocation (~1 MB measured) and below either fault.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# A few hundred nodes failing often: ~2,700 rows a replication over 5 days (~0.015 s), ~110,000 over 200 days.
CHILD = r"""
import json, sys
from clustersim.runner import run_scenario
from clustersim.scenario import scenario_from_dict
replications, horizon = int(sys.argv[1]), sys.argv[2]
mode = lambda name, mean, recovery: {"name": name, "time_to_failure": {"dist": "exponential", "mean": mean},
                                     "recovery": recovery, "time_to_repair": {"dist": "exponential", "mean": "4 h"}}
scenario = scenario_from_dict({
    "name": "memory", "simulation": {"horizon": horizon, "replications": replications, "seed": 3},
    "nodes": {"count": 320, "nodes_per_rack": 16, "failure_modes": [mode("host", "300 h", "reboot"),
                                                                    mode("gpu", "900 h", "replace")]},
    "repair": {"crews": 4, "detection": "2 min"},
    "spares": {"hot": 8, "cold": 8, "swap_time": "5 min", "provisioning": "2 h"},
    "training": [{"name": "job", "nodes": 300, "checkpoint_interval": "1 h", "checkpoint_cost": "2 min",
                  "restart_overhead": "10 min"}],
}, source="memory")
result = run_scenario(scenario)
assert len(result.rows) == replications
# VmHWM: this process's own peak resident set (ru_maxrss would carry the parent's over fork and exec)
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"peak_kb": peak_kb, "events": result.events}))
"""


def peaks(runs: list[tuple[int, str]]) -> list[dict]:
    """Each child's own peak resident memory (kB) and its events after running the scenario (``replications``,
    ``horizon``); the children run at once (each measures only itself)."""
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(replications), horizon], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for replications, horizon in runs]
    outputs = [child.communicate(timeout=300) for child in children]
    for child, (_, err) in zip(children, outputs):
        assert child.returncode == 0, err
    return [json.loads(out) for out, _ in outputs]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc (Linux)")
def test_memory_is_flat_in_replications_and_horizon():
    ten, hundred, one, twice = peaks([(10, "5 d"), (100, "5 d"), (1, "200 d"), (1, "400 d")])
    assert hundred["events"] > 9 * ten["events"] > 9 * 20_000  # the runs are what the tolerance assumes
    assert hundred["peak_kb"] <= 1.10 * ten["peak_kb"], (ten, hundred)
    assert twice["events"] > 1.8 * one["events"] > 1.8 * 100_000
    assert twice["peak_kb"] <= 1.10 * one["peak_kb"], (one, twice)
