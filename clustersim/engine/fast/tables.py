"""Column layouts of the kernel's state tables, each derived from one list of names.

``columns("node_i", "N", "holds role slot")`` numbers the names in order and returns their int64
column indices and the table's width, so no column is numbered by hand: adding, removing or
reordering a name renumbers the rest, and unpacking the result into fewer or more constants fails
at import. Every layout is registered in ``LAYOUTS`` (table -> constant prefix, index of each
name), and tests/test_fast_codes.py holds each constant ``<prefix>_<NAME>`` to its registered
index. A name written ``name:width`` takes ``width`` consecutive columns (a level block, a group of
lists); its constant is the first. Also here: the values some columns take, and ``State``, the
namedtuple of every table (built by keyword in kernel._new_state).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from clustersim.engine.fast.codes import _i64

LAYOUTS: dict[str, tuple[str, dict[str, int]]] = {}


def columns(table: str, prefix: str, names: str,
            start: int | np.integer = 0) -> tuple[tuple[np.int64, ...], np.int64]:
    """(the int64 index of each name, in order; the width: ``start`` + their columns) of ``table``."""
    indices: list[np.int64] = []
    layout: dict[str, int] = {}
    at = int(start)
    for token in names.split():
        name, _, width = token.partition(":")
        layout[name] = at
        indices.append(np.int64(at))
        at += int(width or 1)
    if table in LAYOUTS:
        raise ValueError(f"layout {table!r} defined twice")
    LAYOUTS[table] = (prefix, layout)
    return tuple(indices), np.int64(at)


# Columns of State.node_i (one row per node). N_WARMING: the token of its warm-up, -1 if none;
# N_BLAME_MODE: the mode of a blame pending, -1 if none; N_OPERATING: 1 once its clocks run (a
# cold spare only once provisioned).
((N_HOLDS, N_ROLE, N_SLOT, N_MODE, N_NEXT, N_PREV, N_LIST, N_REPAIR, N_STAGE, N_REAL_FAULT, N_FAIL_SEQ,
  N_PENDING_SOURCE, N_PENDING_INDEX, N_LEMON, N_WAS_LEMON, N_BLAMED, N_WARMING, N_BLAME_MODE, N_OPERATING,
  N_LOAD, N_RUNNING, N_GROUP_JOB, N_GROUP_SLOT, N_GROUP_KEPT, N_DOWN_CAUSE),
 NODE_I_COLS) = columns("node_i", "N", "holds role slot mode next prev list repair stage real_fault fail_seq "
                        "pending_source pending_index lemon was_lemon blamed warming blame_mode operating "
                        "load running group_job group_slot group_kept down_cause")
# (load-dependent ageing, model/load.py) N_LOAD: the own timer's load (LOAD_IDLE, LOAD_WORKING,
# LOAD_GROUPED); N_RUNNING: 1 while its life waits on the own timer; N_GROUP_JOB, N_GROUP_SLOT: the
# job whose group keeps its computing-aged clocks and the position it fills (-1: none);
# N_GROUP_KEPT: 1 while the group's thresholds hold its clocks. N_DOWN_CAUSE: the cause of its outage (the NODE
# row's that took it down; per-cause outage means).
LOAD_IDLE, LOAD_WORKING, LOAD_GROUPED = _i64(0, 1, 2)
# Columns of State.node_f.
# N_NET_SINCE: when an outage the network began started (-1: none open).
((N_DOWN_SINCE, N_WAIT_SINCE, N_OPERATING_SINCE, N_PENDING_HOURS, N_SCORE_BASE, N_UP_SINCE, N_NET_SINCE),
 NODE_F_COLS) = columns("node_f", "N", "down_since wait_since operating_since pending_hours score_base up_since "
                        "net_since")
# Sources of a node's proposed next failure (model/clocks.py).
SOURCE_NONE, SOURCE_EXP, SOURCE_PART, SOURCE_LATENT = _i64(0, 1, 2, 3)
# Columns of State.slot_i (one row per working position).
((S_NODE, S_ATTACHED, S_PHASE, S_CAUSE, S_SPARE, S_TIER, S_SWAP_SEQ, S_NOTICED, S_NODE_BACK, S_STARVED, S_ACTIVE),
 SLOT_I_COLS) = columns("slot_i", "S", "node attached phase cause spare tier swap_seq noticed node_back starved "
                        "active")
NODE_BACK_NONE, NODE_BACK_WAITING, NODE_BACK_DUE = _i64(0, 1, 2)
# Columns of State.crew_i (one row per crew pool); its FIFO queue is a ring in State.crew_queue.
(C_GRANTED, C_BUSY, C_QHEAD, C_QSIZE), CREW_I_COLS = columns("crew_i", "C", "granted busy qhead qsize")
# State.pool_i: a FIFO list of usable spares per tier (LIST_COLS entries each, from P_LISTS = 0),
# linked through the nodes, and the heap of positions waiting for a spare (State.pool_wait rows:
# key = rank << 40 | arrival, slot).
TIER_WARM, TIER_HOT, TIER_COLD = _i64(0, 1, 2)
(P_HEAD, P_TAIL, P_SIZE), LIST_COLS = columns("tier_list", "P", "head tail size")
((P_LISTS, P_WARMING, P_WAIT_N, P_ARRIVALS, P_DISPATCH_PENDING),
 POOL_I_COLS) = columns("pool_i", "P", f"lists:{3 * LIST_COLS} warming wait_n arrivals dispatch_pending")
RANK_SHIFT = _i64(40)[0]
# State.ctr: counters. CT_RING_HEAD, CT_RING_SIZE + 2 * priority: the rings of events for the
# current instant (urgent, then normal); CT_TIMER_JOB: the job whose timer is due first, or -1;
# CT_FINGERPRINT: the FINGERPRINT of the kernel that ran.
((CT_SEQ, CT_HEAP_N, CT_EVENTS, CT_STATUS, CT_TRACE_N, CT_RING_HEAD, CT_RING_SIZE, CT_RING_NORMAL, CT_LATENT_STAMP,
  CT_TIMER_JOB, CT_FINGERPRINT),
 CTR_COLS) = columns("ctr", "CT", "seq heap_n events status trace_n ring_head ring_size ring_normal:2 latent_stamp "
                     "timer_job fingerprint")

# Accumulators. A level block integrates a piecewise-constant level over the window and the
# hours it spends below a threshold.
(L_VALUE, L_LAST, L_AREA, L_LOW_HOURS, L_BELOW), LEVEL_COLS = columns("level", "L", "value last area low_hours below")
# State.acc: four level blocks, then counts and sums.
((A_UP, A_CAPACITY, A_POOL, A_WARM, A_FAILURES, A_OUTAGE_SUM, A_OUTAGE_N, A_WAIT_SUM, A_WAIT_N, A_POOL_AT_START,
  A_FIRST_EMPTY, A_FIRST_SHORT, A_ESCALATIONS, A_FALSE_SUCCESSES, A_UNDIAGNOSED, A_MISDIAGNOSES, A_RECURRENCES,
  A_RETIRED, A_RETIRED_HEALTHY, A_LEMONS_RETIRED, A_CUT, A_SWITCH_FAILURES, A_LINK_FAILURES, A_NET_LOST,
  A_UNREADABLE, A_UNWRITABLE, A_UNDER, A_AT_RISK, A_DATA_LOSSES, A_COPIES, A_COPY_HOURS),
 ACC_SIZE) = columns("acc", "A", f"up:{LEVEL_COLS} capacity:{LEVEL_COLS} pool:{LEVEL_COLS} warm:{LEVEL_COLS} "
                     "failures outage_sum outage_n wait_sum wait_n pool_at_start first_empty first_short "
                     "escalations false_successes undiagnosed misdiagnoses recurrences retired retired_healthy "
                     f"lemons_retired cut:{LEVEL_COLS} switch_failures link_failures net_lost "
                     f"unreadable:{LEVEL_COLS} unwritable:{LEVEL_COLS} under:{LEVEL_COLS} at_risk:{LEVEL_COLS} "
                     "data_losses copies copy_hours")
# (storage, from its REPLICAS, DATA_LOSS and COPIED rows as measures._Storage reads them: objects with no
# live replica, short of write_quorum, short of replication, not lost; losses and copies in the window.)
# State.crew_acc, per crew pool: its busy level, then repairs that entered it (stages).
(CA_ENTERED,), CREW_ACC_COLS = columns("crew_acc", "CA", "entered", start=LEVEL_COLS)
# State.job_acc, per job: its filled positions as a level (integrated until it is done), then its
# times, sums and counts.
((JA_END, JA_DONE_AT, JA_USEFUL, JA_STOPS, JA_LOST, JA_STATE_LAST, JA_DOWN_HOURS, JA_CHECKPOINT_HOURS),
 JOB_ACC_COLS) = columns("job_acc", "JA", "end done_at useful stops lost state_last down_hours checkpoint_hours",
                         start=LEVEL_COLS)

# Columns of State.job_i and State.job_f (one row per training job; see jobs.py).
((J_STATE, J_PHASE, J_FILLED, J_STARVED, J_ACTIVE, J_PENDING, J_PENDING_CAUSE, J_TOKEN, J_READY, J_PERSIST_TOKEN,
  J_RESTARTED, J_TIMER_BITS, J_TIMER_KEY, J_G_COMPUTING, J_G_TOKEN, J_G_MODE, J_PENDING_KIND, J_STORE_WAIT,
  J_STORE_SINCE, J_STORE_EVENT, J_LOSSES_AT),
 JOB_I_COLS) = columns("job_i", "J", "state phase filled starved active pending pending_cause token ready "
                       "persist_token restarted timer_bits timer_key g_computing g_token g_mode pending_kind "
                       "store_wait store_since store_event losses_at")
((JF_SPEED, JF_CREDITED, JF_COMPUTED, JF_PERSISTING, JF_PERSIST_DONE_AT, JF_RUN_STARTED, JF_STARTED, JF_TARGET,
  JF_SEGMENT, JF_PERSIST_HOURS, JF_G_LAST, JF_LAST_SEGMENT),
 JOB_F_COLS) = columns("job_f", "JF", "speed credited computed persisting persist_done_at run_started started "
                       "target segment persist_hours g_last last_segment")
# (with [storage]: J_PENDING_KIND, what the pending interrupt is for (PENDING_LOST, PENDING_STORE);
# J_STORE_WAIT, what the job waits for of the store (STORE_NONE, STORE_WRITABLE, STORE_READABLE),
# since when (J_STORE_SINCE, the store's wait counter) and its wake-up's sequence number
# (J_STORE_EVENT, -1: none); J_LOSSES_AT, the store's data losses when its last checkpoint was
# written, and JF_LAST_SEGMENT, the work that checkpoint credited: lost with it.)
PENDING_LOST, PENDING_STORE = _i64(0, 1)
STORE_NONE, STORE_WRITABLE, STORE_READABLE = _i64(0, 1, 2)
# (J_G_*, JF_G_LAST: the job's LoadGroup — computing or not, its timer's sequence number and mode
# index, when its odometers State.g_odo were last advanced.)

# The replicated store (storage.py). State.sto_srv, per server: holds on it, marked out (its replicas
# missing), the sequence number of its pending mark-out (-1: none), copies it takes part in, cut off
# by the network. State.sto_obj, per object: live replicas, lost, replicas held (on any server).
((SV_HOLDS, SV_OUT, SV_OUT_SEQ, SV_BUSY, SV_CUT), SRV_COLS) = columns("sto_srv", "SV", "holds out out_seq busy cut")
((OB_LIVE, OB_LOST, OB_HELD), OBJ_COLS) = columns("sto_obj", "OB", "live lost held")
# State.sto_cp, per copy slot (object k's slots k * replication ..): its state (CP_FREE, CP_DUE,
# CP_WAITING, CP_COPYING), source and target servers, when it was made (StorageCluster's list order),
# when it was last queued (the queue's tie-break), the sequence number of its pending due or completion
# event, the dispatch pass that last tried it; State.sto_lost_at: the loss it restores.
((CP_STATE, CP_SOURCE, CP_TARGET, CP_MADE, CP_QUEUED, CP_EVENT, CP_TRIED),
 COPY_COLS) = columns("sto_cp", "CP", "state source target made queued event tried")
CP_FREE, CP_DUE, CP_WAITING, CP_COPYING = _i64(0, 1, 2, 3)
# State.sto_ctr: objects not lost with no live replica, with fewer than quorum (the store's readable and
# writable state for jobs), data losses so far, a dispatch pending, copies made, queued, dispatch passes,
# jobs' waits for the store begun.
((SC_UNREACHABLE, SC_SHORT, SC_LOSSES, SC_DISPATCH_DUE, SC_MADE, SC_QUEUED, SC_PASS, SC_WAITS),
 STO_CTR_COLS) = columns("sto_ctr", "SC", "unreachable short losses dispatch_due made queued pass waits")

# Columns of State.node_table (one row per node when the run asks for nodes.parquet, none otherwise):
# what node_table.NodeTable derives from the same rows.
((NT_FAILURES, NT_BLAMED, NT_UP, NT_UP_SINCE, NT_UP_HOURS, NT_CREDITS, NT_RETIRED_AT),
 NODE_TABLE_COLS) = columns("node_table", "NT", "failures blamed up up_since up_hours credits retired_at")

State = namedtuple("State", [
    "node_i", "node_f", "remaining",       # per node: ints, floats, remaining lifetime of each clocked part
    "latent", "latent_stamp",              # per node and mode: operating hours until a fault left in place recurs
    "blame_times",                         # per node: a ring of the last blame times (threshold retirement)
    "slot_i", "slot_f",                    # per working position: ints; when it began waiting for a spare
    "crew_i", "crew_queue",                # per crew pool
    "pool_i", "pool_wait", "scratch",      # the spare pool, its waiting positions, room for a dispatch
    "line_free",                           # when the serial cold-provisioning line is done with what it took
    "node_table",                          # per node, with plan.node_table: nodes.parquet's accumulators
    "job_i", "job_f",                      # per training job
    "heap", "bits_f", "bits_i",            # the event heap (rows: time bits, key, item, -); a float <-> bits cast
    "ring_key", "ring_item", "clock",      # per priority, a FIFO ring of events at the current time; the time
    "ctr", "acc", "cause_count", "crew_acc", "job_acc", "job_cause", "trace",
    # load-dependent ageing (model/load.py), per computing-aged mode g: per node the operating hours
    # drawn on entering a group, their source and index; per position the odometer value at its
    # member's failure and on its entering; per job each odometer and its current rate
    "g_pend", "g_src", "g_idx", "g_thresh", "g_entered", "g_odo", "g_rate",
    # per computing-aged mode, each job's min-tree of g_thresh over its positions (value, position)
    "g_tval", "g_tidx",
    "refs",                                # the addresses of the replication's Plan and State (jit.called)
    # the fabric: per switch up and reaching the top; per link up; per node cut off, marked for a check
    "net_switch_up", "net_reach", "net_link_up", "net_cut", "net_mark",
    # per switch and per link: holds on it (its own failure, chaos injections; down while any is held)
    "net_switch_holds", "net_link_holds",
    # the replicated store: per server, per object, per object and server its replica held (0/1), per copy
    # slot ints and its loss time, counters
    "sto_srv", "sto_obj", "sto_on", "sto_cp", "sto_lost_at", "sto_ctr",
    # [[chaos]]: each injection's target (the replication's input: engine.chaos_targets), injections made per
    # entry; per cause, the total hours and number of the outages it began (NODE rows down of that cause)
    "chaos_pick", "chaos_done", "cause_outage",
])
