"""A small scenario every command can report on in a second or two: 12 nodes, two failure modes, crews, hot
spares and one checkpointed training job."""

SMALL = """\
name = "small"
[simulation]
horizon = "2000 h"
replications = 3
seed = 5
[nodes]
count = 12
nodes_per_rack = 4
[[nodes.failure_modes]]
name = "gpu"
scope = "node"
time_to_failure = {dist = "exponential", mean = "400 h"}
recovery = "replace"
time_to_repair = {dist = "exponential", mean = "30 h"}
[[nodes.failure_modes]]
name = "software"
scope = "node"
time_to_failure = {dist = "exponential", mean = "900 h"}
recovery = "reboot"
time_to_repair = {dist = "deterministic", value = "1 h"}
[repair]
crews = 2
detection = "10 min"
[spares]
hot = 2
swap_time = "5 min"
[[training]]
name = "pretrain"
nodes = 8
checkpoint_interval = "1 h"
checkpoint_cost = "5 min"
restart_overhead = "10 min"
"""
