"""The record schema both engines emit: one state-change log per replication.

Each row is ``(time_hours, kind, component, from_state, to_state, cause)``. Every metric is
computed from these rows alone (see ``clustersim.stats``), so the statistics never care which
engine produced them. ``timing.events`` in summary.json is the number of rows: failures,
detections, repair starts and ends, swaps and every other state change are one row each.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

NO_CAUSE = -1


class Kind(IntEnum):
    """What a row's ``component`` indexes, and how its states read."""

    NODE = 0      # node in service: NodeState; component = node index
    REPAIR = 1    # a node's own repair pipeline: RepairState; component = node index
    DOMAIN = 2    # a failure-domain instance: RepairState; component = domain instance index
    SLOT = 3      # a working position that a spare can refill: SlotState; component = slot index
    POOL = 4      # usable spares (hot + cold, healthy): states are counts; component 0
    CREWS = 5     # busy repair crews: states are counts; component 0
    FAILURE = 6   # a failure strikes a node (instantaneous): 0 -> 1; component = node index
    EVENT = 7     # an instantaneous repair outcome: to_state is an EventCode; component = node index
    WARM = 8      # warm standbys ready in the spare pool: states are counts; component 0
    LEMON = 9     # a node's lemon status: 0 -> 1 when drawn a lemon (at time 0), 1 -> 0 when cured
    SPEED = 10    # a node's speed (fraction of full, gray failures): from -> to; component = node index
    JOB = 11      # a training job's state: JobState; component = job index; cause = why it stopped
    WORK = 12     # a job's checkpointed work (hours of full-size compute): cumulative from -> to
    LOST = 13     # a job's interruption: to_state = the work lost (hours), cause = the interruption's cause
    JOB_SPEED = 14  # a job's speed factor (slowest member x share of members for shrink): from -> to
    SWITCH = 15   # a network switch: NodeState; component = switch index (topology.Fabric)
    LINK = 16     # a network link (switch-switch, then node-switch): NodeState; component = link index
    CUT = 17      # a node cut off by the network: 0 -> 1 cut off, 1 -> 0 joined again; component = node index
    SERVER = 18   # a storage server reachable: NodeState; component = server index; cause = why it went down
    REPLICAS = 19  # an object's live replicas: counts from -> to; component = object index
    DATA_LOSS = 20  # an object lost its last replica (instantaneous): 0 -> 1; component = object index
    COPIED = 21   # a re-replication copy completed: to_state = hours since the replica it restores was lost
    REPLICA = 22  # an inference replica serving: NodeState; component = replica number; cause = why it stopped
    HEALTH = 23   # the load balancer's view of a replica: 0 healthy, 1 unhealthy or ejected; component = replica


class NodeState(IntEnum):
    UP = 0
    DOWN = 1


class RepairState(IntEnum):
    OK = 0
    FAILED = 1       # failed, not yet detected
    WAITING = 2      # detected, queued for a repair crew
    REPAIRING = 3    # a crew (or the facility, for domains) is repairing
    REBOOTING = 4    # transient fault or undiagnosed failure: rebooting, no crew needed
    RETIRED = 5      # taken out of the cluster for good by the retirement policy


class JobState(IntEnum):
    WAITING = 0        # stopped: waiting for its members (spares, repairs, or detection)
    RESTARTING = 1     # all members ready: re-scheduling, initialising, loading the checkpoint
    COMPUTING = 2
    CHECKPOINTING = 3  # blocking checkpoint (sync), snapshot or waiting for the last persist (async)
    DONE = 4           # its work is done


class EventCode(IntEnum):
    """What an instantaneous EVENT row records; its cause is a failure mode or a repair stage code."""

    STAGE_ENTERED = 1   # a repair enters a pipeline stage (cause: stage code)
    ESCALATED = 2       # a stage hands the node on to the next stage (cause: stage code)
    FALSE_SUCCESS = 3   # a stage reports success but leaves the fault in place (cause: stage code)
    UNDIAGNOSED = 4     # a detected failure is not diagnosed: rebooted with its fault (cause: mode)
    MISDIAGNOSED = 5    # an innocent node is blamed for another node's failure (component: the innocent)
    RECURRED = 6        # a fault left in place strikes again (cause: mode)
    ABORTED = 7         # an [[abort]] condition stopped the chaos injections


class SlotState(IntEnum):
    FILLED = 0
    EMPTY = 1        # occupant down, not yet detected
    WAITING = 2      # detected, waiting for a usable spare
    SWAPPING = 3     # a spare is being swapped in (hot) or provisioned (cold)


COLUMNS = ("time_hours", "kind", "component", "from_state", "to_state", "cause")


@dataclass(frozen=True)
class ReplicationRecords:
    """Everything one replication produced: the log plus how long it took and counts."""

    replication: int
    log: np.ndarray        # float64, shape (rows, 6), columns COLUMNS, in time order
    simulate_s: float

    @property
    def events(self) -> int:
        return int(self.log.shape[0])

    def column(self, name: str) -> np.ndarray:
        return self.log[:, COLUMNS.index(name)]

