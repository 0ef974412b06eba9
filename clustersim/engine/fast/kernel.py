"""The fast engine's numba kernel: one replication of the model as array state machines.

Every component of ``clustersim.model`` (and ``workloads/training.py``) is a row of an integer
(and float) state array, and every point where a SimPy process waits is an event type. Events
are taken in SimPy's order — by (time, priority, sequence number of scheduling) — from a binary
heap of future events and two FIFO rings of events for the current instant (urgent, normal),
and the handlers schedule them in exactly the order SimPy's processes do, so simultaneous
events resolve the same way in both engines (a deterministic scenario gives the same log, row
for row). Handlers per component kind (``etype >> 4``): nodes (node_life and the repair shop:
own failures, detection, diagnosis, repair stages and their crews, blame, retirement, warm-up
of standbys), working positions (slot_life), failure domains, the pool (a crew released, the
ranked dispatch at the end of an instant), training jobs (job_life), the fabric's switches and
links, the replicated store (servers, mark-outs, copies, its dispatch), and [[chaos]] injections.

Each state change is recorded as SimPy records it (``_row``, through one ``_rec_<kind>`` per
row kind): it counts one model event and feeds the streaming form of
``clustersim.stats.replication_metrics`` (time-weighted levels integrated over [warmup, horizon),
counts and intervals that start in the window), optionally also a trace of rows in the log schema
of ``model/records.py`` (tests compare it to SimPy's).

The kernel is split by role: queue.py (the event heap and rings), draws.py, recording.py (log
rows and the streaming metrics), clocks.py, score.py (node score and retirement), holds.py,
pool.py, repair.py (crews and the repair shop), slots.py, domains.py, jobs.py, network.py,
storage.py and chaos.py; the codes it
branches on and writes live in codes.py, its tables' column layouts and State in tables.py, and
how it is compiled in jit.py. This module holds the entry points: ``_new_state`` and ``_run`` are
closures over ``jit.FINGERPRINT``, a hash of every engine/fast module's source, which numba's
cache index keys on; so a change in any of those modules recompiles the kernel, where a constant
frozen from another module would otherwise be served stale from the cache.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from clustersim.engine.fast.chaos import _chaos_event, _chaos_start
from clustersim.engine.fast.clocks import _schedule_failure, _start_clocks
from clustersim.engine.fast.codes import (
    CKPT_CONTINUOUS, FILLED, K_LEMON, NO_CAUSE, RETIRE_ANY, RETIRE_THRESHOLD, ROLE_COLD, ROLE_WARM, R_OK, WAITING,
)
from clustersim.engine.fast.domains import _domain_event
from clustersim.engine.fast.draws import _draw, _uniform_index
from clustersim.engine.fast.jit import FINGERPRINT, REF_PLAN, REF_SLOTS, REF_STATE, address_of, loop
from clustersim.engine.fast.jobs import _job_close, _job_event, _job_start
from clustersim.engine.fast.network import _net_event, _net_start
from clustersim.engine.fast.pool import _list_append
from clustersim.engine.fast.queue import (
    EV_DOMAIN_FAIL, EV_JOB_FLUSH, INF_BITS, KIND_CHAOS, KIND_DOMAIN, KIND_JOB, KIND_NET, KIND_NODE, KIND_SLOT,
    KIND_STORE, NORMAL, STATUS_OK,
    _pop, _push,
)
from clustersim.engine.fast.recording import _level_to, _net_lost, _row, _wait_ended
from clustersim.engine.fast.repair import _node_event, _pool_event, _start_load
from clustersim.engine.fast.slots import _slot_event
from clustersim.engine.fast.storage import _sto_event, _sto_start
from clustersim.engine.fast.tables import (
    ACC_SIZE, A_CAPACITY, A_CUT, A_FIRST_EMPTY, A_FIRST_SHORT, A_POOL, A_POOL_AT_START, A_UP, A_WARM, CREW_ACC_COLS,
    CREW_I_COLS, CTR_COLS, CT_FINGERPRINT, CT_STATUS, CT_TIMER_JOB, JA_DONE_AT, JA_END, JA_STATE_LAST, JOB_ACC_COLS,
    JOB_F_COLS, JOB_I_COLS, J_G_COMPUTING, J_G_TOKEN, J_TIMER_BITS, LIST_COLS, LOAD_IDLE, LOAD_WORKING, N_GROUP_JOB,
    N_GROUP_KEPT, N_GROUP_SLOT, N_LOAD, N_RUNNING, L_BELOW, L_LAST, L_VALUE, NODE_F_COLS, NODE_I_COLS, N_BLAMED,
    N_FAIL_SEQ, N_HOLDS, N_LEMON, N_NET_SINCE, N_OPERATING, N_REPAIR, N_ROLE, N_SCORE_BASE, N_SLOT, N_WAS_LEMON,
    POOL_I_COLS, P_HEAD, P_TAIL, SLOT_I_COLS, S_ACTIVE, S_ATTACHED, S_NODE, S_PHASE, S_SPARE, S_SWAP_SEQ, State,
    TIER_COLD, TIER_HOT, TIER_WARM, NODE_TABLE_COLS, NT_RETIRED_AT, NT_UP, A_AT_RISK, A_UNDER, A_UNREADABLE,
    A_UNWRITABLE, COPY_COLS, CP_EVENT, CP_TRIED, OBJ_COLS, OB_HELD, OB_LIVE, SRV_COLS, STO_CTR_COLS,
    SV_OUT_SEQ,
)

if TYPE_CHECKING:
    from numba.core.dispatcher import Dispatcher

    from clustersim.engine.fast.compile import Plan


def _new_state_entry(fingerprint: int) -> Dispatcher:
    """The jitted ``_new_state``: a closure over ``fingerprint``, which numba's cache index keys on."""

    @njit(cache=True, nogil=True)
    def _new_state(plan, gen, heap_capacity, trace, placed, picks):
        """A replication's initial state: every table allocated, every component in its first state
        (``placed``: the servers of every object's replicas, (objects, replication); ``picks``: the target of
        every chaos injection)."""
        nodes, working, jobs = plan.nodes, plan.working, plan.job_size.shape[0]
        node_i = np.full((nodes, NODE_I_COLS), -1, dtype=np.int64)
        node_f = np.zeros((nodes, NODE_F_COLS))
        slot_i = np.zeros((working, SLOT_I_COLS), dtype=np.int64)
        pools = plan.crew_limit.shape[0]
        pool_i = np.zeros(POOL_I_COLS, dtype=np.int64)
        for tier in (TIER_WARM, TIER_HOT, TIER_COLD):
            pool_i[LIST_COLS * tier + P_HEAD] = -1
            pool_i[LIST_COLS * tier + P_TAIL] = -1
        bits = np.zeros(1)
        gm = plan.gmode_mode.shape[0]  # modes that age with computing
        table_rows = nodes if plan.node_table else 0
        ring = plan.retire_max_failures if plan.retirement == RETIRE_THRESHOLD or plan.retirement == RETIRE_ANY else 0
        st = State(
            node_i=node_i, node_f=node_f, remaining=np.zeros((nodes, plan.parts)),
            latent=np.zeros((nodes, plan.modes)), latent_stamp=np.full((nodes, plan.modes), -1, dtype=np.int64),
            blame_times=np.zeros((nodes, ring)),
            slot_i=slot_i, slot_f=np.full(max(working, 1), -1.0),
            crew_i=np.zeros((pools, CREW_I_COLS), dtype=np.int64), crew_queue=np.zeros((pools, nodes), dtype=np.int64),
            pool_i=pool_i, pool_wait=np.zeros((max(working, 1), 2), dtype=np.int64),
            scratch=np.zeros((max(working, 1), 2), dtype=np.int64), line_free=np.zeros(1),
            node_table=np.zeros((table_rows, NODE_TABLE_COLS)),
            job_i=np.zeros((jobs, JOB_I_COLS), dtype=np.int64), job_f=np.zeros((jobs, JOB_F_COLS)),
            heap=np.zeros((heap_capacity, 4), dtype=np.int64), bits_f=bits, bits_i=bits.view(np.int64),
            ring_key=np.zeros((2, heap_capacity), dtype=np.int64),
            ring_item=np.zeros((2, heap_capacity), dtype=np.int64),
            clock=np.zeros(1),
            ctr=np.zeros(CTR_COLS, dtype=np.int64), acc=np.zeros(ACC_SIZE), cause_count=np.zeros(plan.causes),
            crew_acc=np.zeros(pools * CREW_ACC_COLS), job_acc=np.zeros(jobs * JOB_ACC_COLS),
            job_cause=np.zeros((jobs, plan.job_causes)), trace=trace,
            g_pend=np.zeros((nodes, gm)), g_src=np.full((nodes, gm), -1, dtype=np.int64),
            g_idx=np.full((nodes, gm), -1, dtype=np.int64),
            g_thresh=np.full((max(working, 1), gm), math.inf), g_entered=np.zeros((max(working, 1), gm)),
            g_odo=np.zeros((jobs, gm)), g_rate=np.zeros((jobs, gm)),
            g_tval=np.full((gm, plan.tree_size), math.inf), g_tidx=np.zeros((gm, plan.tree_size), dtype=np.int64),
            refs=np.zeros(REF_SLOTS, dtype=np.int64),
            net_switch_up=np.ones(plan.net_top.shape[0], dtype=np.int64),
            net_reach=np.ones(plan.net_top.shape[0], dtype=np.int64),
            net_link_up=np.ones(plan.net_link_ttf.shape[0], dtype=np.int64),
            net_cut=np.zeros(nodes, dtype=np.int64), net_mark=np.zeros(nodes, dtype=np.int64),
            sto_srv=np.zeros((plan.sto_servers, SRV_COLS), dtype=np.int64),
            sto_obj=np.zeros((plan.sto_objects, OBJ_COLS), dtype=np.int64),
            sto_on=np.zeros((plan.sto_objects, plan.sto_servers), dtype=np.int8),
            sto_cp=np.zeros((plan.sto_objects * plan.sto_replication, COPY_COLS), dtype=np.int64),
            sto_lost_at=np.zeros(plan.sto_objects * plan.sto_replication),
            sto_ctr=np.zeros(STO_CTR_COLS, dtype=np.int64),
            net_switch_holds=np.zeros(plan.net_top.shape[0], dtype=np.int64),
            net_link_holds=np.zeros(plan.net_link_ttf.shape[0], dtype=np.int64),
            chaos_pick=picks, chaos_done=np.zeros(plan.chaos_action.shape[0], dtype=np.int64),
            cause_outage=np.zeros((plan.job_causes, 2)),
        )
        st.refs[REF_PLAN] = address_of(plan)  # (valid while this function runs: _run sets its own)
        st.refs[REF_STATE] = address_of(st)
        for job in range(jobs if gm > 0 else 0):  # each tree's entries: its leftmost position below it
            off, leaves = plan.job_tree_off[job], plan.job_tree_p[job]
            for g in range(gm):
                for k in range(leaves):
                    st.g_tidx[g, off + leaves + k] = plan.job_first[job] + k
                for i in range(leaves - 1, 0, -1):
                    st.g_tidx[g, off + i] = st.g_tidx[g, off + 2 * i]
        for node in range(nodes):
            node_i[node, N_HOLDS] = 0
            node_i[node, N_ROLE] = plan.node_role[node]
            node_i[node, N_SLOT] = node if node < working else -1
            node_i[node, N_REPAIR] = R_OK
            node_i[node, N_LEMON] = 0
            node_i[node, N_BLAMED] = 0
            node_i[node, N_FAIL_SEQ] = -1
            node_i[node, N_OPERATING] = 0
            node_i[node, N_LOAD] = LOAD_WORKING if node < working else LOAD_IDLE
            node_i[node, N_RUNNING] = 0
            node_i[node, N_GROUP_KEPT] = 0
            node_f[node, N_SCORE_BASE] = plan.score_initial
            node_f[node, N_NET_SINCE] = -1.0
            if plan.node_table:
                st.node_table[node, NT_UP] = 1.0
                st.node_table[node, NT_RETIRED_AT] = math.nan
        for slot in range(working):
            slot_i[slot, S_NODE] = slot
            slot_i[slot, S_ATTACHED] = 1
            slot_i[slot, S_PHASE] = FILLED
            slot_i[slot, S_SPARE] = -1
            slot_i[slot, S_SWAP_SEQ] = -1
            slot_i[slot, S_ACTIVE] = 1
        for node in range(working, nodes):  # SparePool(hot, cold): in node order, the first hot ones warm
            if plan.node_role[node] == ROLE_COLD:
                _list_append(st, TIER_COLD, node)
            elif node - working < plan.warm:
                node_i[node, N_ROLE] = ROLE_WARM
                _list_append(st, TIER_WARM, node)
            else:
                _list_append(st, TIER_HOT, node)
        acc = st.acc
        start = plan.warmup
        for block, value, below in ((A_UP, float(nodes), -1.0), (A_CAPACITY, float(working), float(working)),
                                    (A_POOL, float(plan.hot + plan.cold), 1.0), (A_WARM, float(plan.warm), -1.0)):
            acc[block + L_VALUE] = value
            acc[block + L_LAST] = start
            acc[block + L_BELOW] = below
        acc[A_CUT + L_LAST] = start
        acc[A_CUT + L_BELOW] = -1.0
        for block, value, below in ((A_UNREADABLE, 0.0, 1.0), (A_UNWRITABLE, 0.0, 1.0), (A_UNDER, 0.0, -1.0),
                                    (A_AT_RISK, float(plan.sto_objects), -1.0)):
            acc[block + L_VALUE] = value
            acc[block + L_LAST] = start
            acc[block + L_BELOW] = below
        _place(plan, st, placed)
        for pool in range(pools):
            st.crew_acc[pool * CREW_ACC_COLS + L_LAST] = start
            st.crew_acc[pool * CREW_ACC_COLS + L_BELOW] = -1.0
        for job in range(jobs):
            block = job * JOB_ACC_COLS
            st.job_acc[block + L_VALUE] = float(plan.job_size[job])
            st.job_acc[block + L_LAST] = start
            st.job_acc[block + L_BELOW] = -1.0
            st.job_acc[block + JA_END] = plan.horizon
            st.job_acc[block + JA_STATE_LAST] = start
            st.job_acc[block + JA_DONE_AT] = math.inf
        for job in range(jobs):
            st.job_i[job, J_TIMER_BITS] = INF_BITS
            st.job_i[job, J_G_COMPUTING] = 0
            st.job_i[job, J_G_TOKEN] = -1
            for g in range(gm):
                st.g_rate[job, g] = plan.gmode_idle_rate[g]
        st.ctr[CT_TIMER_JOB] = -1
        st.ctr[CT_FINGERPRINT] = fingerprint
        acc[A_POOL_AT_START] = plan.hot + plan.cold
        acc[A_FIRST_EMPTY] = -1.0
        acc[A_FIRST_SHORT] = plan.horizon
        _mark_lemons(plan, st, gen)
        return st

    return _new_state


@njit(cache=False)
def _place(plan, st, placed):
    """Every object starts with its replicas live on the ``placed`` servers."""
    st.sto_srv[:, SV_OUT_SEQ] = -1
    st.sto_cp[:, CP_EVENT] = -1
    st.sto_cp[:, CP_TRIED] = -1
    for obj in range(plan.sto_objects):
        for k in range(plan.sto_replication):
            st.sto_on[obj, placed[obj, k]] = 1
        st.sto_obj[obj, OB_LIVE] = plan.sto_replication
        st.sto_obj[obj, OB_HELD] = plan.sto_replication


@njit(cache=False)
def _mark_lemons(plan, st, gen):
    """A uniform subset of lemon_count nodes (partial Fisher-Yates), logged at time 0 in node order."""
    if plan.lemon_count == 0:
        return
    order = np.arange(plan.nodes)
    for i in range(plan.lemon_count):
        j = i + _uniform_index(gen, plan.nodes - i)
        order[i], order[j] = order[j], order[i]
        st.node_i[order[i], N_LEMON] = 1
        st.node_i[order[i], N_WAS_LEMON] = 1
    for node in range(plan.nodes):
        if st.node_i[node, N_LEMON] == 1:
            _row(st, 0.0, K_LEMON, node, 0, 1, NO_CAUSE)


def _run_entry(fingerprint: int) -> Dispatcher:
    """The jitted ``_run``: a closure over ``fingerprint``, which numba's cache index keys on."""

    @loop
    def _run(plan, st, gen):
        """Start every component in SimPy's order, then process events until the horizon; close the levels."""
        st.ctr[CT_FINGERPRINT] = fingerprint  # (the closure cell that keys this entry's cache)
        st.refs[REF_PLAN] = address_of(plan)  # for the called helpers (jit.called), valid until the return
        st.refs[REF_STATE] = address_of(st)
        # continuous-checkpointing jobs credit their work at the warm-up (timeouts made at build time)
        for job in range(plan.job_size.shape[0]):
            if plan.warmup > 0.0 and plan.job_mode[job] == CKPT_CONTINUOUS:
                _push(st, plan.warmup, NORMAL, EV_JOB_FLUSH, job)
        # SimPy starts domains before nodes, then jobs; their first events tie in that order.
        for domain in range(plan.domain_cause.shape[0]):
            _push(st, _draw(plan, gen, plan.domain_ttf[domain]), NORMAL, EV_DOMAIN_FAIL, domain)
        _chaos_start(plan, st)  # (then the chaos injections: model/cluster.py _start_chaos)
        if plan.gmode_mode.shape[0] > 0:  # every job's members join its group (TrainingJob's constructor)
            for job in range(plan.job_size.shape[0]):
                for slot in range(plan.job_first[job], plan.job_first[job] + plan.job_size[job]):
                    st.node_i[slot, N_GROUP_JOB] = job
                    st.node_i[slot, N_GROUP_SLOT] = slot
                    st.node_i[slot, N_GROUP_KEPT] = 1
        if plan.modes > 0:
            for node in range(plan.nodes):
                if plan.node_role[node] != ROLE_COLD:  # cold spares age only once provisioned
                    _start_clocks(plan, st, gen, node)
                    _start_load(plan, st, gen, node, 0.0)
                    _schedule_failure(plan, st, gen, node, 0.0)
        _net_start(plan, st, gen)  # (SimPy starts the network after the nodes and positions, before the jobs)
        _sto_start(plan, st, gen)  # (then the storage servers)
        for job in range(plan.job_size.shape[0]):
            _job_start(plan, st, gen, job, 0.0)
        horizon = plan.horizon
        while st.ctr[CT_STATUS] == STATUS_OK:
            found, t, key, item = _pop(st, horizon)
            if not found:
                break
            etype = item >> 32
            target = item & 0xFFFFFFFF
            kind = etype >> 4
            if kind == KIND_NODE:
                _node_event(plan, st, gen, etype, target, key, t)
            elif kind == KIND_SLOT:
                _slot_event(plan, st, gen, etype, target, key, t)
            elif kind == KIND_DOMAIN:
                _domain_event(plan, st, gen, etype, target, t)
            elif kind == KIND_JOB:
                _job_event(plan, st, gen, etype, target, key, t)
            elif kind == KIND_NET:
                _net_event(plan, st, gen, etype, target, t)
            elif kind == KIND_STORE:
                _sto_event(plan, st, gen, etype, target, key, t)
            elif kind == KIND_CHAOS:
                _chaos_event(plan, st, gen, etype, target, t)
            else:
                _pool_event(plan, st, gen, etype, target, t)
        for job in range(plan.job_size.shape[0]):
            _job_close(plan, st, job, horizon)
        acc = st.acc
        for block in (A_UP, A_CAPACITY, A_POOL, A_WARM, A_CUT, A_UNREADABLE, A_UNWRITABLE, A_UNDER, A_AT_RISK):
            _level_to(acc, block, horizon, acc[block + L_VALUE], plan.warmup, horizon)
        for node in range(plan.nodes):
            if st.node_f[node, N_NET_SINCE] >= 0.0:
                _net_lost(plan, st, node, horizon)
        for pool in range(plan.crew_limit.shape[0]):
            block = pool * CREW_ACC_COLS
            _level_to(st.crew_acc, block, horizon, st.crew_acc[block + L_VALUE], plan.warmup, horizon)
        for slot in range(plan.working):
            if st.slot_i[slot, S_PHASE] == WAITING:
                _wait_ended(acc, st.slot_f[slot], horizon, plan.warmup)

    return _run


_new_state = _new_state_entry(FINGERPRINT)
_run = _run_entry(FINGERPRINT)


def simulate(plan: Plan, gen: np.random.Generator, heap_capacity: int, trace: np.ndarray,
             placed: np.ndarray, picks: np.ndarray) -> tuple[np.ndarray, ...]:
    """Replication of ``plan`` drawing from ``gen``: the state's accumulators and counters.

    ``trace`` (rows, 6) receives the state-change log when it has rows; ``ctr[CT_STATUS]`` is
    STATUS_HEAP_FULL or STATUS_TRACE_FULL when the heap or trace was too small (rerun bigger);
    ``placed`` (objects, replication): the servers of every object's replicas at time 0; ``picks``: the
    target of every chaos injection (engine.chaos_targets).
    """
    st = _new_state(plan, gen, heap_capacity, trace, placed, picks)
    _run(plan, st, gen)
    return (st.acc, st.cause_count, st.ctr, st.crew_acc, st.job_acc, st.job_cause, st.node_i, st.node_table,
            st.cause_outage)
