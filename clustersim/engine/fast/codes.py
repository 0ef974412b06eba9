"""Every code the fast kernel branches on or writes, as numpy int64 (numba freezes them into the kernel).

Plan codes (laws, roles, recovery, policies, checkpoint modes) are shared by compile.py, which
writes them into a Plan, and the kernel, which reads them. Log codes are the record schema of
``clustersim.model.records`` (row kinds and states, event codes): the kernel writes them into its
trace and metrics without importing that module; tests/test_fast_codes.py holds them equal to its
enums value for value. Because the kernel's cached entry points carry a fingerprint of every
engine/fast module (jit.py), changing any value here recompiles the kernel.

Constants are numpy int64 so that numba types them as int64, never as literals (see jit.py).
"""
from __future__ import annotations

import numpy as np


def _i64(*values: int) -> tuple[np.int64, ...]:
    """Constants as numpy int64: numba types them as plain int64, where Python ints would be typed
    as literals and make it compile a copy of every helper for each constant passed to it."""
    return tuple(np.int64(v) for v in values)


# --- Plan codes ----------------------------------------------------------------------------------

# Law codes of Plan.law_code; the kernel's sampler switches on them.
LAW_EXPONENTIAL, LAW_WEIBULL, LAW_LOGNORMAL, LAW_GAMMA, LAW_DETERMINISTIC, LAW_UNIFORM, LAW_EMPIRICAL = _i64(
    *range(7))

# Node roles (the kernel's node state), as model/nodes.py names them.
ROLE_WORK, ROLE_HOT, ROLE_COLD, ROLE_LOOSE, ROLE_WARM, ROLE_RETIRED = _i64(*range(6))

# Recovery of a failure mode.
RECOVERY_REBOOT, RECOVERY_REPAIR = _i64(*range(2))

# Retirement policies and spare selection policies (model/policies.py registries).
RETIRE_NEVER, RETIRE_THRESHOLD, RETIRE_SCORED, RETIRE_ANY = _i64(*range(4))
SELECT_FIFO, SELECT_RANDOM, SELECT_FEWEST_FAILURES, SELECT_HIGHEST_SCORE = _i64(*range(4))

# Checkpoint modes of a training job.
CKPT_SYNC, CKPT_ASYNC, CKPT_CONTINUOUS = _i64(*range(3))

# The [[chaos]] actions the kernel runs (Plan.chaos_action; support.FAST_CHAOS_ACTIONS names them in this order).
CHAOS_KILL_NODE, CHAOS_KILL_RACK, CHAOS_KILL_SWITCH, CHAOS_KILL_LINK, CHAOS_KILL_SERVER, CHAOS_STORE_OUTAGE = _i64(
    *range(6))

(UNLIMITED,) = _i64(-1)  # crew_limit of a pool with no limit
(NO_LAW,) = _i64(-1)     # a law index that is absent

# --- log codes: the record schema (clustersim.model.records) ------------------------------------

# Row kinds (records.Kind).
K_NODE, K_REPAIR, K_DOMAIN, K_SLOT, K_POOL, K_CREWS, K_FAILURE, K_EVENT, K_WARM, K_LEMON = _i64(*range(10))
K_SPEED, K_JOB, K_WORK, K_LOST, K_JOB_SPEED = _i64(*range(10, 15))
K_SWITCH, K_LINK, K_CUT, K_SERVER, K_REPLICAS, K_DATA_LOSS, K_COPIED = _i64(*range(15, 22))
K_REPLICA, K_HEALTH = _i64(22, 23)  # inference replicas (the kernel refuses [[inference]] so far)
# records.NodeState, RepairState, SlotState, JobState and EventCode.
UP, DOWN = _i64(0, 1)
R_OK, R_FAILED, R_WAITING, R_REPAIRING, R_REBOOTING, R_RETIRED = _i64(*range(6))
FILLED, EMPTY, WAITING, SWAPPING = _i64(*range(4))
J_WAITING, J_RESTARTING, J_COMPUTING, J_CHECKPOINTING, J_DONE = _i64(*range(5))
E_STAGE_ENTERED, E_ESCALATED, E_FALSE_SUCCESS, E_UNDIAGNOSED, E_MISDIAGNOSED, E_RECURRED, E_ABORTED = \
    _i64(*range(1, 8))
NOT_STRUCK, STRUCK = _i64(0, 1)  # a FAILURE row's states
(THE_POOL,) = _i64(0)            # a POOL or WARM row's component
(NO_CAUSE,) = _i64(-1)
# The columns of a trace row (records.COLUMNS).
TRACE_COLUMNS = ("time_hours", "kind", "component", "from_state", "to_state", "cause")
