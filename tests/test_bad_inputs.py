"""Bad input of any kind: one clear line per problem on stderr, naming the file and key; exit 2.

Each case mutates a small valid scenario (or adds a --set / flag) and runs it through the
command line in-process; a few go through a real ``python -m clustersim`` subprocess.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from clustersim.cli import main
from conftest import clustersim_process

FILE = "bad_scenario.toml"

BASE = """\
name = "tiny"

[simulation]
horizon = "10 d"
replications = 2
seed = 1

[nodes]
count = 8
gpus_per_node = 2
nodes_per_rack = 4

[[nodes.failure_modes]]
name = "gpu"
scope = "gpu"
time_to_failure = {dist = "exponential", mean = "2000 h"}
recovery = "replace"
time_to_repair = {dist = "lognormal", mean = "8 h", cv = 0.5}

[[nodes.failure_modes]]
name = "host"
time_to_failure = {dist = "weibull", shape = 1.5, mean = "1000 h"}
recovery = "reboot"
time_to_repair = {dist = "uniform", low = "5 min", high = "15 min"}

[repair]
crews = 1
detection = "2 min"

[spares]
hot = 1
cold = 1

[[failure_domains]]
kind = "rack"
time_to_failure = {dist = "exponential", mean = "5000 h"}
time_to_repair = {dist = "exponential", mean = "6 h"}

[[chaos]]
action = "kill_node"
at = "1 d"
node = 3
duration = "2 h"
"""
SERVICE = ('\n[[inference]]\nname = "chat"\nreplicas = 2\nconcurrency = 2\ntimeout = "10 s"\n'
    'arrivals = {process = "poisson", rate = "1 /s"}\nservice_time = {dist = "exponential", mean = "0.5 s"}\n')

# the BASE's kill_node as a memory leak (an action the fast engine lacks)
LEAK = ('action = "kill_node"', 'action = "leak_memory"\ntime_to_crash = {dist = "deterministic", value = "1 h"}')
GPU_TTF = 'time_to_failure = {dist = "exponential", mean = "2000 h"}'


def mutate(*pairs: tuple[str, str], text: str = BASE) -> str:
    """BASE with each ``old`` replaced by ``new``; fails loudly if ``old`` is not there."""
    for old, new in pairs:
        assert text.count(old) >= 1, f"{old!r} not in the base scenario"
        text = text.replace(old, new, 1)
    return text


def gpu_ttf(table: str) -> str:
    """BASE with the gpu mode's time_to_failure replaced by ``table``."""
    return mutate((GPU_TTF, f"time_to_failure = {table}"))


@dataclass
class Case:
    """A bad input: scenario text, extra command-line args, the key path and reason expected."""

    toml: str
    key: str
    reason: str
    args: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    commands: tuple[str, ...] = ("validate", "run")  # a problem only a run can see is not checked by validate


TTF = "nodes.failure_modes[0].time_to_failure"

FIXED = "replications = 2"


def adaptive(*pairs: tuple[str, str], metrics: str = '["nodes.availability", "nodes.failures"]') -> str:
    """BASE in adaptive mode (precision instead of replications), then each ``old`` replaced by ``new``."""
    return mutate((FIXED, f"precision = 0.1\nprecision_metrics = {metrics}"), *pairs)


CASES = {
    "unknown key, did you mean": Case(
        mutate(("crews = 1", "crew = 1")), "repair.crew", "unknown key, did you mean 'crews'?"),
    "unknown top-level section": Case(
        BASE + '\n[simulaton]\nseed = 3\n', "simulaton", "unknown key, did you mean 'simulation'?"),
    "unknown key inside a distribution": Case(
        gpu_ttf('{dist = "exponential", meen = "2000 h"}'), f"{TTF}.meen", "did you mean 'mean'?"),
    "negative duration": Case(
        mutate(('detection = "2 min"', 'detection = "-2 min"')), "repair.detection", "non-negative duration"),
    "zero MTTF": Case(
        gpu_ttf('{dist = "exponential", mean = "0 h"}'), f"{TTF}.mean", "must be a positive duration"),
    "zero deterministic time to failure": Case(
        gpu_ttf('{dist = "deterministic", value = "0 h"}'), TTF, "positive mean"),
    "bare number for a duration": Case(
        mutate(('detection = "2 min"', "detection = 2")), "repair.detection", "bare number is ambiguous"),
    "bare number in a distribution": Case(
        gpu_ttf('{dist = "exponential", mean = 2000}'), f"{TTF}.mean", "bare number is ambiguous"),
    "number string without a unit": Case(
        mutate(('detection = "2 min"', 'detection = "20"')), "repair.detection", "'20' has no unit"),
    "unknown unit": Case(
        mutate(('detection = "2 min"', 'detection = "2 mins"')), "repair.detection", "unknown unit 'mins'"),
    "duration that overflows": Case(
        gpu_ttf('{dist = "exponential", mean = "1e306 y"}'), f"{TTF}.mean", "finite"),
    "unknown distribution": Case(
        gpu_ttf('{dist = "expo", mean = "2000 h"}'), TTF, "unknown distribution 'expo'"),
    "missing dist": Case(
        gpu_ttf('{mean = "2000 h"}'), TTF, "needs 'dist'"),
    "distribution given as a string": Case(
        gpu_ttf('"2000 h"'), TTF, "must be a table"),
    "exponential with mean and afr": Case(
        gpu_ttf('{dist = "exponential", mean = "2000 h", afr = 0.1}'), TTF, "exactly one of 'mean' or 'afr'"),
    "exponential with neither": Case(
        gpu_ttf('{dist = "exponential"}'), TTF, "exactly one of 'mean' or 'afr'"),
    "negative afr": Case(
        gpu_ttf('{dist = "exponential", afr = -0.1}'), f"{TTF}.afr", "greater than 0"),
    "weibull without shape": Case(
        mutate(("shape = 1.5, ", "")), "nodes.failure_modes[1].time_to_failure.shape", "missing required key"),
    "weibull shape too small to compute": Case(
        mutate(("shape = 1.5", "shape = 1e-9")), "nodes.failure_modes[1].time_to_failure.shape", "too small"),
    "lognormal cv infinite": Case(
        mutate(("cv = 0.5", "cv = inf")), "nodes.failure_modes[0].time_to_repair.cv", "finite number"),
    "uniform high below low": Case(
        mutate(('low = "5 min", high = "15 min"', 'low = "15 min", high = "5 min"')),
        "nodes.failure_modes[1].time_to_repair.high", "high > low"),
    "empirical missing file": Case(
        gpu_ttf('{dist = "empirical", file = "nope.csv"}'), f"{TTF}.file", "No such file"),
    "empirical file with a bad line": Case(
        gpu_ttf('{dist = "empirical", file = "repairs.csv"}'), f"{TTF}.file", "repairs.csv line 3",
        files={"repairs.csv": "1.5\n2.0\nabc\n"}),
    "empirical file with a negative line": Case(
        gpu_ttf('{dist = "empirical", file = "repairs.csv"}'), f"{TTF}.file", "line 2: durations must be non-negative",
        files={"repairs.csv": "# hours\n-1\n"}),
    "empirical file without durations": Case(
        gpu_ttf('{dist = "empirical", file = "repairs.csv"}'), f"{TTF}.file", "holds no durations",
        files={"repairs.csv": "# nothing here\n"}),
    "empirical file of zeros": Case(
        gpu_ttf('{dist = "empirical", file = "repairs.csv"}'), f"{TTF}.file", "at least one positive duration",
        files={"repairs.csv": "0\n0.0\n"}),
    "empirical empty samples": Case(
        gpu_ttf('{dist = "empirical", samples = []}'), f"{TTF}.samples", "at least one positive duration"),
    "empirical without samples or file": Case(
        gpu_ttf('{dist = "empirical"}'), TTF, "'samples'"),
    "empirical sample typo": Case(
        gpu_ttf('{dist = "empirical", sample = ["1 h"]}'), f"{TTF}.sample", "did you mean 'samples'?"),
    "nodes.count = 0": Case(
        mutate(("count = 8", "count = 0")), "nodes.count", "greater than 0"),
    "nodes.count as a string": Case(
        mutate(("count = 8", 'count = "8"')), "nodes.count", "valid integer, got '8'"),
    "repair.crews as a boolean": Case(
        mutate(("crews = 1", "crews = true")), "repair.crews", "valid integer, got true"),
    "spares hot + cold >= count": Case(
        mutate(("hot = 1", "hot = 7")), "spares", "leaves no working node"),
    "warmup >= horizon": Case(
        mutate(("seed = 1", 'seed = 1\nwarmup = "10 d"')), "simulation.warmup", "shorter than horizon"),
    "duplicate failure-mode names": Case(
        mutate(('name = "host"', 'name = "gpu"')), "nodes.failure_modes[1].name", "'gpu' is already used"),
    "domain name clashes with a mode": Case(
        mutate(('kind = "rack"', 'kind = "rack"\nname = "host"')), "failure_domains[0].name", "already used"),
    "bad failure-mode name": Case(
        mutate(('name = "host"', 'name = "2host"')), "nodes.failure_modes[1].name", "must start with a letter"),
    "chaos node does not exist": Case(
        mutate(("node = 3", "node = 8")), "chaos[0].node", "node 8 does not exist"),
    "chaos rack does not exist": Case(
        mutate(('"kill_node"', '"kill_rack"'), ("node = 3", "rack = 2")), "chaos[0].rack", "rack 2 does not exist"),
    "chaos target does not match action": Case(  # (a rack only narrows a node action's random node)
        mutate(("node = 3", 'switch = "leaf/0"')), "chaos[0].switch", "kill_node takes 'node'"),
    "chaos after the horizon": Case(
        mutate(('at = "1 d"', 'at = "11 d"')), "chaos[0].at", "not before the horizon"),
    "serving chaos aimed at a missing service": Case(
        mutate(('"kill_node"', '"health_check_outage"'), ("node = 3", 'service = "chat"')), "chaos[0].service",
        "no [[inference]] service is named 'chat' (services: none)"),
    "serving chaos with another action's key": Case(
        mutate(('"kill_node"', '"traffic_surge"'), ("node = 3", 'service = "chat"\nfactor = 2.0\nerror_rate = 0.5'))
        + SERVICE, "chaos[0].error_rate", 'applies to action = "error_replicas" or "bad_release" only'),
    "power domain without power_racks": Case(
        mutate(('kind = "rack"', 'kind = "power"')), "failure_domains[0].power_racks", "needs power_racks"),
    "unknown scope": Case(
        mutate(('scope = "gpu"', 'scope = "gpus"')), "nodes.failure_modes[0].scope", "got 'gpus'"),
    "inference without arrivals": Case(
        BASE + '\n[[inference]]\nname = "chat"\nreplicas = 4\n', "inference[0].arrivals", "missing"),
    "unknown load-balancer policy": Case(
        BASE + SERVICE + 'load_balancer = {policy = "random"}\n', "inference[0].load_balancer.policy",
        "valid: round_robin, weighted, least_outstanding, power_of_two, latency_aware"),
    "replicas that do not fit": Case(
        BASE + SERVICE.replace("replicas = 2", "replicas = 7"), "inference", "need 7 working positions"),
    "negative arrival rate": Case(
        BASE + SERVICE.replace('"1 /s"', '"-1 /s"'), "inference[0].arrivals.poisson.rate", "positive rate"),
    "both service_time and tokens": Case(
        BASE + SERVICE + 'tokens = {prompt_tokens = {dist = "deterministic", mean = 10}, output_tokens = '
        '{dist = "deterministic", mean = 10}, prefill_per_token = "1 s", decode_per_token = "1 s"}\n',
        "inference[0].service_time", "exactly one of service_time and tokens"),
    "trace file that does not exist": Case(
        BASE + SERVICE.replace('{process = "poisson", rate = "1 /s"}', '{process = "trace", file = "no_such.csv"}'),
        "inference[0].arrivals.trace.file", "cannot read trace file 'no_such.csv'"),
    "hybrid serving of a replayed trace": Case(
        BASE.replace("[simulation]\n", '[simulation]\nserving = "hybrid"\n') + SERVICE.replace(
            '{process = "poisson", rate = "1 /s"}', '{process = "trace", times = [0.5, 1.0]}'),
        "simulation.serving", "needs stationary arrivals"),
    "replications as a float": Case(
        mutate(("replications = 2", "replications = 2.0")), "simulation.replications", "valid integer"),
    "--set with an unparsable value": Case(
        BASE, "--set repair.crews", "is not a TOML value", args=["--set", "repair.crews=lots"]),
    "--set into an index that does not exist": Case(
        BASE, "--set nodes.failure_modes[5].name", "nodes.failure_modes[5] does not exist",
        args=["--set", 'nodes.failure_modes[5].name="x"']),
    "--set with a negative index": Case(
        BASE, "--set nodes.failure_modes[-1].name", "is not a key", args=["--set", 'nodes.failure_modes[-1].name="x"']),
    "--set without =": Case(
        BASE, "--set 'repair.crews'", "expected KEY=VALUE", args=["--set", "repair.crews"]),
    "--set of an unknown key": Case(
        BASE, "repair.crew", "did you mean 'crews'?", args=["--set", "repair.crew=2"]),
    "--set of a bare duration": Case(
        BASE, "spares.swap_time", "bare number", args=["--set", "spares.swap_time=5"]),
    "--replications 0": Case(
        BASE, "simulation.replications", "greater than 0", args=["--replications", "0"]),
    "--seed negative": Case(
        BASE, "simulation.seed", "greater than or equal to 0", args=["--seed", "-1"]),
    "--engine fast with chaos it lacks": Case(
        mutate(LEAK), "simulation.engine", "the fast engine does not support: chaos[0] (leak_memory)",
        args=["--engine", "fast"]),
    "engine = fast in the file, with chaos it lacks": Case(
        mutate(LEAK, ("seed = 1", 'seed = 1\nengine = "fast"')), "simulation.engine",
        "does not support: chaos[0] (leak_memory)"),
    "precision 0": Case(
        adaptive(("precision = 0.1", "precision = 0.0")), "simulation.precision", "greater than 0"),
    "precision negative": Case(
        adaptive(("precision = 0.1", "precision = -0.02")), "simulation.precision", "greater than 0"),
    "precision 1": Case(
        adaptive(("precision = 0.1", "precision = 1")), "simulation.precision", "less than 1"),
    "precision as a percentage string": Case(
        adaptive(("precision = 0.1", 'precision = "2 %"')), "simulation.precision", "valid number, got '2 %'"),
    "precision without precision_metrics": Case(
        mutate((FIXED, "precision = 0.1")), "simulation.precision_metrics", "required with precision"),
    "empty precision_metrics": Case(
        adaptive(metrics="[]"), "simulation.precision_metrics", "at least one metric"),
    "precision_metrics listed twice": Case(
        adaptive(metrics='["nodes.failures", "nodes.failures"]'), "simulation.precision_metrics",
        "'nodes.failures' listed more than once"),
    "unknown precision metric": Case(
        adaptive(metrics='["nodes.availability", "nodes.availabilty"]'), "simulation.precision_metrics",
        "'nodes.availabilty' is not a metric of this scenario, did you mean 'nodes.availability'?",
        commands=("run",)),
    "precision metric of a cause the scenario lacks": Case(
        adaptive(metrics='["nodes.failures.psu"]'), "simulation.precision_metrics",
        "valid: nodes.availability, nodes.up_mean, nodes.failures, nodes.failures.gpu", commands=("run",)),
    "replications with precision": Case(
        mutate((FIXED, f"{FIXED}\nprecision = 0.1\nprecision_metrics = [\"nodes.failures\"]")),
        "simulation.replications", "use min_replications / max_replications with precision"),
    "--replications with precision": Case(
        adaptive(), "simulation.replications", "use min_replications / max_replications with precision",
        args=["--replications", "50"]),
    "min_replications > max_replications": Case(
        adaptive(("precision = 0.1", "precision = 0.1\nmin_replications = 30\nmax_replications = 20")),
        "simulation.max_replications", "20 is less than min_replications (30)"),
    "min_replications above the default maximum": Case(
        adaptive(("precision = 0.1", "precision = 0.1\nmin_replications = 2000")),
        "simulation.max_replications", "the default 1000 is less than min_replications (2000)"),
    "min_replications < 2": Case(
        adaptive(("precision = 0.1", "precision = 0.1\nmin_replications = 1")),
        "simulation.min_replications", "greater than or equal to 2"),
    "precision_metrics without precision": Case(
        mutate((FIXED, f'{FIXED}\nprecision_metrics = ["nodes.failures"]')), "simulation.precision_metrics",
        "only meaningful with precision"),
    "min_replications without precision": Case(
        mutate((FIXED, f"{FIXED}\nmin_replications = 5")), "simulation.min_replications",
        "only meaningful with precision"),
    "max_replications without precision": Case(
        BASE, "simulation.max_replications", "only meaningful with precision",
        args=["--set", "simulation.max_replications=50"]),
}


# --- the repair pipeline ----------------------------------------------------------------------
GPU_REPAIR = 'recovery = "replace"\ntime_to_repair = {dist = "lognormal", mean = "8 h", cv = 0.5}'
PIPELINE = 'recovery = "pipeline"'
AUTO_MANUAL = """
[[repair.stages]]
name = "auto"
time = {dist = "exponential", mean = "2 h"}
escalate = 0.8
false_success = 0.4

[[repair.stages]]
name = "manual"
time = {dist = "exponential", mean = "2 d"}
"""
RECURRENCE = 'detection = "2 min"\nrecurrence = {dist = "exponential", mean = "6 h"}'


def with_pipeline(*pairs: tuple[str, str], stages: str = AUTO_MANUAL) -> str:
    """BASE with the gpu mode repaired through ``stages`` (and a recurrence law), then ``pairs``."""
    text = mutate((GPU_REPAIR, PIPELINE), ('detection = "2 min"', RECURRENCE))
    text = text.replace("\n[spares]", stages + "\n[spares]")
    return mutate(*pairs, text=text) if pairs else text


CASES.update({
    "probability above 1": Case(
        mutate(("crews = 1", "crews = 1\ndiagnosis = {probability = 1.5}")),
        "repair.diagnosis.probability", "less than or equal to 1"),
    "negative wrong_node probability": Case(
        mutate(("crews = 1", "crews = 1\ndiagnosis = {wrong_node = -0.1}")),
        "repair.diagnosis.wrong_node", "greater than or equal to 0"),
    "escalate above 1": Case(
        with_pipeline(("escalate = 0.8", "escalate = 80")), "repair.stages[0].escalate", "less than or equal to 1"),
    "pipeline without stages (empty pipeline)": Case(
        mutate((GPU_REPAIR, PIPELINE)), "nodes.failure_modes[0].recovery", "needs at least one [[repair.stages]]"),
    "stages = [] with a pipeline mode": Case(
        mutate((GPU_REPAIR, PIPELINE), ("crews = 1", "crews = 1\nstages = []")),
        "nodes.failure_modes[0].recovery", "needs at least one [[repair.stages]]"),
    "stages that no mode uses": Case(
        BASE.replace("\n[spares]", AUTO_MANUAL + "\n[spares]"), "repair.stages",
        'no failure mode has recovery = "pipeline"'),
    "pipeline mode with its own time_to_repair": Case(
        with_pipeline((PIPELINE, PIPELINE + '\ntime_to_repair = {dist = "exponential", mean = "1 h"}')),
        "nodes.failure_modes[0].time_to_repair", "takes its repair times from [[repair.stages]]"),
    "replace without time_to_repair": Case(
        mutate(('time_to_repair = {dist = "lognormal", mean = "8 h", cv = 0.5}', "")),
        "nodes.failure_modes[0].time_to_repair", 'recovery = "replace" needs time_to_repair'),
    "unknown recovery": Case(
        mutate((GPU_REPAIR, 'recovery = "repave"')), "nodes.failure_modes[0].recovery",
        "'reboot', 'replace' or 'pipeline'"),
    "last stage escalates": Case(
        with_pipeline(stages=AUTO_MANUAL + "escalate = 0.1\n"), "repair.stages[1].escalate",
        "the last stage has no stage to escalate to"),
    "two stages with one name": Case(
        with_pipeline(('name = "manual"', 'name = "auto"')), "repair.stages[1].name",
        "already the name of an earlier stage"),
    "false successes without a recurrence law": Case(
        with_pipeline((RECURRENCE, 'detection = "2 min"')), "repair.recurrence",
        "required when a fault can stay in place"),
    "recurrence with faults that do not recur": Case(
        with_pipeline((RECURRENCE, RECURRENCE + '\nfault_left_in_place = "uncured"')), "repair.recurrence",
        'unused with fault_left_in_place = "uncured"'),
    "unknown retirement policy": Case(
        mutate(("crews = 1", "crews = 1\nretirement = {policy = \"thresold\"}")), "repair.retirement",
        "unknown policy 'thresold', use one of 'never', 'threshold', 'scored'"),
    "retirement without a policy": Case(
        mutate(("crews = 1", "crews = 1\nretirement = {max_failures = 3}")), "repair.retirement", "needs 'policy'"),
    "threshold retirement without a window": Case(
        mutate(("crews = 1", 'crews = 1\nretirement = {policy = "threshold", max_failures = 3}')),
        "repair.retirement.window", "missing required key"),
    "typo in a threshold key": Case(
        mutate(("crews = 1", 'crews = 1\nretirement = {policy = "threshold", max_failure = 3, window = "7 d"}')),
        "repair.retirement.max_failure", "did you mean 'max_failures'?"),
    "unknown selection policy": Case(
        mutate(("hot = 1", 'hot = 1\nselection = "best"')), "spares.selection", "'fifo', 'random'"),
    "more warm standbys than hot spares": Case(
        mutate(("hot = 1", "hot = 1\nwarm = 2")), "spares.warm", "2 warm standbys need as many hot spares"),
    "lemon fraction above 1": Case(
        mutate(("nodes_per_rack = 4", "nodes_per_rack = 4\nlemon_fraction = 1.5\nlemon_rate_multiplier = 5.0")),
        "nodes.lemon_fraction", "less than or equal to 1"),
    "lemons without a multiplier": Case(
        mutate(("nodes_per_rack = 4", "nodes_per_rack = 4\nlemon_fraction = 0.25")),
        "nodes.lemon_rate_multiplier", "need a multiplier other than 1"),
    "node score that nothing reads": Case(
        mutate(("nodes_per_rack = 4", "nodes_per_rack = 4\nscore = {initial = 50.0}")),
        "nodes.score", "neither is set"),
    "--set a probability above 1": Case(
        BASE, "repair.diagnosis.wrong_node", "less than or equal to 1",
        args=["--set", "repair.diagnosis.wrong_node=2"]),
})


# --- training jobs ----------------------------------------------------------------------------
# BASE has 8 nodes, 1 hot and 1 cold spare: 6 working positions.
TRAINING = """
[[training]]
name = "pretrain"
nodes = 4
checkpoint_interval = "1 h"
checkpoint_cost = "2 min"
restart_overhead = "10 min"
"""
SLOW_MODE = """
[[nodes.failure_modes]]
name = "throttle"
effect = "slow"
speed = 0.5
time_to_failure = {dist = "exponential", mean = "5000 h"}
recovery = "reboot"
time_to_repair = {dist = "deterministic", value = "1 h"}
"""


def with_training(*pairs: tuple[str, str], extra: str = "") -> str:
    """BASE with one 4-node training job (then ``extra`` appended), then each ``old`` replaced by ``new``."""
    return mutate(*pairs, text=BASE + TRAINING + extra) if pairs else BASE + TRAINING + extra


JOB = "training[0]"

CASES.update({
    "job larger than the working positions": Case(
        with_training(("nodes = 4", "nodes = 7")), f"{JOB}.nodes",
        "needs 7 working positions, the cluster has 6 (nodes.count 8 − spares.hot 1 − spares.cold 1)"),
    "two jobs larger together than the working positions": Case(
        with_training(extra=TRAINING.replace('"pretrain"', '"finetune"')), "training[1].nodes",
        "the jobs up to this one need 8 working positions, the cluster has 6"),
    "missing checkpoint cost": Case(
        with_training(('checkpoint_cost = "2 min"\n', "")), f"{JOB}.checkpoint_cost",
        "missing (or give checkpoint_size and checkpoint_bandwidth)"),
    "checkpoint_cost with checkpoint_size and bandwidth": Case(
        with_training(('checkpoint_cost = "2 min"', 'checkpoint_cost = "2 min"\ncheckpoint_size = "2 TB"\n'
                                                    'checkpoint_bandwidth = "10 GB/s"')),
        f"{JOB}.checkpoint_cost", "give it, or checkpoint_size with checkpoint_bandwidth, not both"),
    "restart_overhead with reschedule_time": Case(
        with_training(('restart_overhead = "10 min"', 'restart_overhead = "10 min"\nreschedule_time = "3 min"')),
        f"{JOB}.restart_overhead", "give it, or its parts (reschedule_time), not both"),
    "shrink without min_nodes": Case(
        with_training(("nodes = 4", 'nodes = 4\non_failure = "shrink"')), f"{JOB}.min_nodes",
        'missing (on_failure = "shrink" needs the fewest nodes to run on)'),
    "min_nodes above nodes": Case(
        with_training(("nodes = 4", 'nodes = 4\non_failure = "shrink"\nmin_nodes = 5')), f"{JOB}.min_nodes",
        "5 is more than the job's nodes (4)"),
    "min_nodes without shrink": Case(
        with_training(("nodes = 4", "nodes = 4\nmin_nodes = 2")), f"{JOB}.min_nodes",
        'applies to on_failure = "shrink" only'),
    "two jobs with one name": Case(
        with_training(extra=TRAINING.replace("nodes = 4", "nodes = 2")), "training[1].name",
        "'pretrain' is already the name of an earlier job"),
    "continuous with checkpoint_interval": Case(
        with_training(('checkpoint_cost = "2 min"\n', 'checkpoint_mode = "continuous"\n')),
        f"{JOB}.checkpoint_interval", "continuous checkpointing has no checkpoints; remove it"),
    "snapshot_cost without async": Case(
        with_training(("restart_overhead", 'snapshot_cost = "10 s"\nrestart_overhead')), f"{JOB}.snapshot_cost",
        'applies to checkpoint_mode = "async" only'),
    "unknown on_failure": Case(
        with_training(("nodes = 4", 'nodes = 4\non_failure = "retry"')), f"{JOB}.on_failure",
        "'spare', 'wait' or 'shrink', got 'retry'"),
    "slow failure mode without straggler_detection": Case(
        BASE.replace("\n[repair]", SLOW_MODE + "\n[repair]"), "repair.straggler_detection",
        "required to notice slow nodes (nodes.failure_modes[2])"),
    "slow failure mode without speed": Case(
        BASE.replace("\n[repair]", SLOW_MODE.replace("speed = 0.5\n", "") + "\n[repair]"),
        "nodes.failure_modes[2].speed", 'missing required key (effect = "slow" needs the fraction of full speed'),
    "slow_node chaos without speed": Case(
        mutate(('"kill_node"', '"slow_node"'),
               ('detection = "2 min"', 'detection = "2 min"\nstraggler_detection = "1 h"')),
        "chaos[0].speed", 'missing required key (action = "slow_node" needs the fraction of full speed'),
    "speed on a kill_node chaos": Case(
        mutate(("duration = \"2 h\"", "duration = \"2 h\"\nspeed = 0.5")),
        "chaos[0].speed", 'applies to action = "slow_node" only'),
})


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_reported(err: str, key: str, reason: str) -> None:
    """Every stderr line names the file; one of them is ``FILE: key: ...reason...``."""
    lines = err.splitlines()
    assert lines, "nothing on stderr"
    assert "Traceback" not in err
    assert all(line.startswith(f"{FILE}: ") for line in lines), err
    matching = [line for line in lines if line.startswith(f"{FILE}: {key}: ")]
    assert matching, f"no line for key {key!r} in:\n{err}"
    assert any(reason in line for line in matching), f"{reason!r} not in:\n{err}"


@pytest.mark.parametrize("case, command", [
    pytest.param(case, command, id=f"{name}-{command}") for name, case in CASES.items() for command in case.commands
])
def test_bad_input_exits_2_naming_file_and_key(case: Case, command: str, tmp_path, capsys):
    path = tmp_path / FILE
    path.write_text(case.toml)
    for name, text in case.files.items():
        (tmp_path / name).write_text(text)
    argv = [command, str(path), *case.args] + (["--out", str(tmp_path / "out"), "--quiet"] if command == "run" else [])
    code, out, err = run_cli(argv, capsys)
    assert code == 2, err
    assert_reported(err, case.key, case.reason)
    assert out == ""
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_pipeline_scenario_is_valid(tmp_path, capsys):
    path = tmp_path / FILE
    path.write_text(with_pipeline())
    code, out, err = run_cli(["validate", str(path)], capsys)
    assert (code, err) == (0, "")


def test_the_base_scenario_is_valid(tmp_path, capsys):
    path = tmp_path / FILE
    path.write_text(BASE)
    code, out, err = run_cli(["validate", str(path)], capsys)
    assert (code, err) == (0, "")
    assert 'name = "tiny"' in out


def test_every_problem_in_a_file_is_reported_once(tmp_path, capsys):
    text = mutate(
        ("crews = 1", "crew = 1"),
        ("seed = 1", "seed = -1"),
        ('detection = "2 min"', 'detection = "2 mins"'),
        ("hot = 1", "hot = 9"),
        ("node = 3", "node = 30"),
        ('name = "host"', 'name = "gpu"'),
    )
    path = tmp_path / FILE
    path.write_text(text)
    code, _, err = run_cli(["validate", str(path)], capsys)
    assert code == 2
    expected = {
        "repair.crew": "did you mean 'crews'?",
        "simulation.seed": "greater than or equal to 0",
        "repair.detection": "unknown unit",
        "spares": "leaves no working node",
        "chaos[0].node": "does not exist",
        "nodes.failure_modes[1].name": "already used",
    }
    for key, reason in expected.items():
        assert_reported(err, key, reason)
    assert len(err.splitlines()) == len(expected), err


def test_problems_in_several_distributions_are_all_reported(tmp_path, capsys):
    text = mutate(
        (GPU_TTF, 'time_to_failure = {dist = "exponential", mean = 5}'),
        ("cv = 0.5", "cv = -1"),
        ('mean = "5000 h"', 'mean = "5000 hours"'),
    )
    path = tmp_path / FILE
    path.write_text(text)
    code, _, err = run_cli(["validate", str(path)], capsys)
    assert code == 2
    assert_reported(err, f"{TTF}.mean", "bare number")
    assert_reported(err, "nodes.failure_modes[0].time_to_repair.cv", "greater than 0")
    assert_reported(err, "failure_domains[0].time_to_failure.mean", "unknown unit 'hours'")
    assert len(err.splitlines()) == 3, err


def test_bad_sets_are_all_reported(tmp_path, capsys):
    path = tmp_path / FILE
    path.write_text(BASE)
    code, _, err = run_cli(["validate", str(path), "--set", "repair.crews=lots", "--set", "x[3]=1"], capsys)
    assert code == 2
    assert_reported(err, "--set repair.crews", "not a TOML value")
    assert_reported(err, "--set x[3]", "does not exist")
    assert len(err.splitlines()) == 2


def test_invalid_toml_syntax(tmp_path, capsys):
    path = tmp_path / FILE
    path.write_text(mutate(("crews = 1", "crews = = 1")))
    code, _, err = run_cli(["validate", str(path)], capsys)
    assert code == 2 and "Traceback" not in err
    line = BASE.splitlines().index("crews = 1") + 1
    assert err.startswith(f"{FILE}: not valid TOML") and f"line {line}," in err
    assert len(err.splitlines()) == 1


def test_missing_scenario_file(tmp_path, capsys):
    code, _, err = run_cli([str(tmp_path / "missing.toml"), "--quiet"], capsys)
    assert code == 2 and "Traceback" not in err
    assert "missing.toml: no such scenario file" in err


def test_scenario_that_is_a_directory(tmp_path, capsys):
    code, _, err = run_cli(["validate", str(tmp_path)], capsys)
    assert code == 2 and "Traceback" not in err
    assert "cannot read" in err


def test_scenario_that_is_not_utf8(tmp_path, capsys):
    path = tmp_path / FILE
    path.write_bytes(b'name = "\xff\xfe"\n')
    code, _, err = run_cli(["validate", str(path)], capsys)
    assert code == 2 and "Traceback" not in err
    assert FILE in err and "cannot read" in err


@pytest.mark.parametrize("argv", [
    ["--replications", "many"],
    ["--engine", "turbo"],
    ["--seed", "1.5"],
])
def test_bad_flag_values_are_usage_errors(argv, tmp_path, capsys):
    path = tmp_path / FILE
    path.write_text(BASE)
    with pytest.raises(SystemExit) as exit_info:
        main([str(path), *argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "Traceback" not in err and argv[0] in err


def test_out_that_is_a_file(tmp_path, capsys):
    path = tmp_path / FILE
    path.write_text(BASE)
    (tmp_path / "taken").write_text("")
    code, out, err = run_cli([str(path), "--quiet", "--out", str(tmp_path / "taken")], capsys)
    assert code == 2 and out == ""
    assert "Traceback" not in err and "taken" in err and len(err.splitlines()) == 1


def test_flags_may_come_before_the_scenario(tmp_path, capsys):
    path = tmp_path / FILE
    path.write_text(mutate(LEAK))
    code, _, err = run_cli(["--engine", "fast", str(path)], capsys)
    assert code == 2
    assert_reported(err, "simulation.engine", "does not support: chaos[0] (leak_memory)")


SUBPROCESS_CASES = ["unknown key, did you mean", "bare number for a duration", "empirical file with a bad line",
                    "--set into an index that does not exist", "--engine fast with chaos it lacks",
                    "--replications with precision"]


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_bad_input_through_a_real_process(name: str, tmp_path):
    case = CASES[name]
    (tmp_path / FILE).write_text(case.toml)
    for file_name, text in case.files.items():
        (tmp_path / file_name).write_text(text)
    proc = clustersim_process([FILE, "--quiet", "--out", "out", *case.args], tmp_path, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert_reported(proc.stderr, case.key, case.reason)
    assert not (tmp_path / "out").exists()


def test_missing_file_through_a_real_process(tmp_path):
    proc = clustersim_process(["nope.toml"], tmp_path, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "nope.toml: no such scenario file"
