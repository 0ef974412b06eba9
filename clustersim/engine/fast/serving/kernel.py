"""The compiled request-level loop of one inference service, event for event the model of
``workloads/inference/client.py`` and ``service.py``: arrivals, the balancer's routing policy and FIFO queue,
client timeouts and retries with backoff and a budget, the rate limit, admission and shedding, active health
checks, and attempts lost (``fail_fast``) or hanging (``hang``) on a dead replica. When each replica stops and
starts serving is computed beforehand, by the Python replica itself (``plan.replica_transitions``): a replica
never reacts to requests, so its transitions are the same whoever serves the requests.

The state lives in preallocated arrays (``plan.new_state``); a run that outgrows them returns
``STATUS_FULL`` and is run again, from the same generators' seeds, with twice the room.
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from clustersim.engine.fast import jit as jit_module
from clustersim.engine.fast.jit import helper, loop
from clustersim.workloads.inference import measure as measure_module
from clustersim.workloads.inference.measure import BINS_PER_DECADE, DECADES, LOWEST_S

# --- parameters: plan.py writes them, by these indices -------------------------------------------------------
(F_HORIZON, F_START, F_END, F_SLO_LATENCY, F_SLO_WINDOW, F_DECIDED_BY, F_TIMEOUT, F_QUEUE_TIMEOUT,
 F_CHECK_INTERVAL, F_CHECK_TIMEOUT, F_ERROR_RATE, F_MEAN_SERVICE, F_GAP, F_TROUGH, F_PEAK, F_SWING, F_OMEGA,
 F_PEAK_AT, F_ON_GAP, F_OFF_GAP, F_ON_HOURS, F_OFF_HOURS, F_TRACE_PERIOD, F_BACKOFF_BASE, F_BACKOFF_MAX,
 F_BUDGET_RATIO, F_BUDGET_BURST, F_LIMIT_RATE, F_LIMIT_BURST, F_LAW_A, F_LAW_B, F_PREFILL_PER_TOKEN,
 F_DECODE_PER_TOKEN, F_PROMPT_A, F_PROMPT_B, F_OUTPUT_A, F_OUTPUT_B, F_COUNT_FROM) = range(38)
FLOATS = 38
(I_REPLICAS, I_CONCURRENCY, I_FAIL_FAST, I_FAIL_OPEN, I_HEALTHY_THRESHOLD, I_UNHEALTHY_THRESHOLD, I_POLICY,
 I_ARRIVALS, I_TRACE_REPEAT, I_RETRIES, I_MAX_ATTEMPTS, I_JITTER, I_ON_TIMEOUT, I_BUDGET, I_LIMIT, I_ADMISSION,
 I_MAX_QUEUE, I_SHEDDING, I_WINDOWS, I_TOKENS, I_LAW, I_PROMPT_LAW, I_OUTPUT_LAW, I_NEEDED) = range(24)
INTS = 24

POLICY_ROUND_ROBIN, POLICY_LEAST_OUTSTANDING, POLICY_POWER_OF_TWO = 0, 1, 2
ARRIVALS_POISSON, ARRIVALS_DIURNAL, ARRIVALS_BURSTY, ARRIVALS_TRACE = 0, 1, 2, 3
JITTER_FULL, JITTER_EQUAL, JITTER_NONE = 0, 1, 2
TOKENS_DETERMINISTIC, TOKENS_UNIFORM, TOKENS_EXPONENTIAL, TOKENS_LOGNORMAL = 0, 1, 2, 3
# replica transitions (plan.replica_transitions)
DIES, SERVES, SPEED = 0, 1, 2

# --- counters (ctr) and accumulators (acc) -----------------------------------------------------------------
(C_STATUS, C_HEAP, C_SEQ, C_EVENTS, C_QUEUE_HEAD, C_QUEUE_SIZE, C_QUEUED, C_ATTEMPTS_FREE, C_REQUESTS_FREE,
 C_CURSOR, C_SERVING, C_ON, C_TRACE_I, C_TRACE_K, C_REQUESTS, C_GOOD, C_ANSWERED, C_ATTEMPTS, C_SHED,
 C_RATE_LIMITED, C_TIMEOUTS, C_FAILED, C_WAITS, C_OVERDUE, C_ATTEMPTS_HIGH, C_FINGERPRINT, C_STARTED,
 C_ARRIVALS_EPOCH, C_CHECKS_EPOCH, C_RESUME_ARRIVALS, C_RESUME_CHECKS) = range(31)
COUNTERS = 31
(A_WAIT_SUM, A_LEVEL_AT, A_AREA, A_ENOUGH, A_POSITIVE, A_TOKENS, A_TOKENS_AT, A_BUDGET, A_ARRIVAL_T,
 A_PHASE_END, A_RESUME_AT) = range(11)
ACCUMULATORS = 11
STATUS_OK, STATUS_FULL = 0, 1

# event kinds
(E_ARRIVE, E_SEND, E_FINISH, E_DEADLINE, E_LEFT_QUEUE, E_CHECK, E_CHECK_FAILED, E_TRANSITION,
 E_REFUSED) = range(9)
# outcomes and attempt states, as service.py's
OK, ERROR, TIMEOUT, UNAVAILABLE, SHED = range(5)
NEW, QUEUED, SERVING, HANGING, ENDED, REFUSING = range(6)
ROUTED = 5  # route(): taken by a replica or the queue

HISTOGRAM_BINS = BINS_PER_DECADE * DECADES
PER_LOWEST = 1.0 / LOWEST_S
SECONDS_PER_HOUR = 3600.0
INF = math.inf

# the cluster kernel's compilation (jit.py): helpers inlined by LLVM, no reference counting, numpy's error model


class State(NamedTuple):
    """Every array the loop reads and writes (``new_state`` sizes them)."""

    ctr: np.ndarray            # int64 counters, by C_*
    heap_t: np.ndarray         # the event heap: time, sequence number, kind, two arguments
    heap_seq: np.ndarray
    heap_kind: np.ndarray
    heap_a: np.ndarray
    heap_b: np.ndarray
    att_replica: np.ndarray    # per attempt slot: its replica, that replica's epoch, its state, its generation
    att_epoch: np.ndarray
    att_state: np.ndarray
    att_gen: np.ndarray
    att_sent: np.ndarray       # when it was sent, its deadline (hours)
    att_deadline: np.ndarray
    att_free: np.ndarray       # free attempt slots (a stack)
    req_sent: np.ndarray       # per request slot: sent, attempts so far, counted in the window
    req_attempts: np.ndarray
    req_counted: np.ndarray
    req_free: np.ndarray       # free request slots (a stack)
    acc: np.ndarray            # float accumulators and process state, by A_*
    window_sent: np.ndarray    # per SLO window: requests resolved, good, overdue
    window_good: np.ndarray
    window_overdue: np.ndarray
    latency: np.ndarray        # histogram counts (measure.Histogram's bins)
    serving: np.ndarray        # per replica: really serving, healthy in the balancer's view, attempts routed
    healthy: np.ndarray
    outstanding: np.ndarray
    queue: np.ndarray          # the pool's FIFO queue, a ring of attempt slots and their generations
    queue_gen: np.ndarray
    epoch: np.ndarray          # per replica: deaths so far, its speed
    speed: np.ndarray
    cand: np.ndarray           # scratch: the replicas an attempt may go to
    att_started: np.ndarray    # per attempt slot: service start, its request, prefill and time per token,
    att_request: np.ndarray    # whether it answers with an error, whether its deadline cuts its service
    att_prefill: np.ndarray
    att_tpot: np.ndarray
    att_error: np.ndarray
    att_cut: np.ndarray
    failed_checks: np.ndarray  # per replica: health checks failed and passed in a row
    ttft: np.ndarray           # histograms of time to first token and time per output token
    tpot: np.ndarray
    passed_checks: np.ndarray
    found: np.ndarray          # scratch: a replica's attempts in one state, by sent time
    check_phase: np.ndarray    # per replica: its health checks run at check_phase + n x interval


def new_state(replicas: int, attempts: int, windows: int) -> State:
    """Zeroed state for ``replicas`` replicas, room for ``attempts`` live attempts (as many live requests,
    a queue and a heap in proportion) and ``windows`` SLO windows."""
    heap = 4 * attempts + 4 * replicas + 16
    ints, floats = np.int64, np.float64

    def z(n: int, dtype: type = ints) -> np.ndarray:
        return np.zeros(n, dtype)

    bins = HISTOGRAM_BINS + 1
    ctr = z(COUNTERS)
    ctr[C_ATTEMPTS_FREE] = ctr[C_REQUESTS_FREE] = attempts
    return State(
        ctr, z(heap, floats), z(heap), z(heap), z(heap), z(heap),
        z(attempts), z(attempts), z(attempts), z(attempts), z(attempts, floats), z(attempts, floats),
        np.arange(attempts, dtype=ints)[::-1].copy(),
        z(attempts, floats), z(attempts), z(attempts), np.arange(attempts, dtype=ints)[::-1].copy(),
        z(ACCUMULATORS, floats), z(windows), z(windows), z(windows), z(bins),
        np.ones(replicas, ints), np.ones(replicas, ints), z(replicas), z(attempts), z(attempts), z(replicas),
        np.ones(replicas, floats), z(replicas),
        z(attempts, floats), z(attempts), z(attempts, floats), z(attempts, floats), z(attempts), z(attempts),
        z(replicas), z(bins), z(bins), z(replicas), z(attempts), z(replicas, floats))


# --- the event heap: (time, seq) ordered; kind and two integer arguments -------------------------------------

@helper
def _push(st, t, kind, a, b):
    """Schedule an event; False (and STATUS_FULL) when the heap is full."""
    ctr, ht, hs, hk, ha, hb = st.ctr, st.heap_t, st.heap_seq, st.heap_kind, st.heap_a, st.heap_b
    n = ctr[C_HEAP]
    if n >= ht.shape[0]:
        ctr[C_STATUS] = STATUS_FULL
        return False
    seq = ctr[C_SEQ]
    ctr[C_SEQ] = seq + 1
    i = n
    while i > 0:
        parent = (i - 1) >> 1
        if ht[parent] < t or (ht[parent] == t and hs[parent] < seq):
            break
        ht[i], hs[i], hk[i], ha[i], hb[i] = ht[parent], hs[parent], hk[parent], ha[parent], hb[parent]
        i = parent
    ht[i], hs[i], hk[i], ha[i], hb[i] = t, seq, kind, a, b
    ctr[C_HEAP] = n + 1
    return True


@helper
def _pop(st):
    """Remove the earliest event; returns (time, kind, a, b)."""
    ctr, ht, hs, hk, ha, hb = st.ctr, st.heap_t, st.heap_seq, st.heap_kind, st.heap_a, st.heap_b
    t, kind, a, b = ht[0], hk[0], ha[0], hb[0]
    n = ctr[C_HEAP] - 1
    ctr[C_HEAP] = n
    if n > 0:
        lt, ls, lk, la, lb = ht[n], hs[n], hk[n], ha[n], hb[n]
        i = 0
        while True:
            child = 2 * i + 1
            if child >= n:
                break
            right = child + 1
            if right < n and (ht[right] < ht[child] or (ht[right] == ht[child] and hs[right] < hs[child])):
                child = right
            if lt < ht[child] or (lt == ht[child] and ls < hs[child]):
                break
            ht[i], hs[i], hk[i], ha[i], hb[i] = ht[child], hs[child], hk[child], ha[child], hb[child]
            i = child
        ht[i], hs[i], hk[i], ha[i], hb[i] = lt, ls, lk, la, lb
    return t, kind, a, b


# --- draws ------------------------------------------------------------------------------------------------

@helper
def _law(gen, code, a, b, empirical):
    """One draw of a service-time law, coded as the fast engine's (compile.LAW_CONVERTERS)."""
    if code == 0:    # LAW_EXPONENTIAL
        return gen.exponential(a)
    if code == 1:    # LAW_WEIBULL
        return a * gen.weibull(b)
    if code == 2:    # LAW_LOGNORMAL
        return gen.lognormal(a, b)
    if code == 3:    # LAW_GAMMA
        return gen.gamma(a, b)
    if code == 4:    # LAW_DETERMINISTIC
        return a
    if code == 6:    # LAW_EMPIRICAL
        return empirical[min(empirical.shape[0] - 1, np.int64(gen.random() * empirical.shape[0]))]
    return gen.uniform(a, b)  # LAW_UNIFORM


@helper
def _tokens(gen, code, a, b):
    """A token count (at least 1) as arrivals.token_counts draws it: a, b = mean, 0 / low, high / mu, sigma."""
    if code == TOKENS_DETERMINISTIC:
        return max(1.0, np.rint(a))
    if code == TOKENS_UNIFORM:
        return a + np.floor(gen.random() * (b - a + 1.0))
    if code == TOKENS_EXPONENTIAL:
        return max(1.0, np.rint(gen.exponential(a)))
    return max(1.0, np.rint(gen.lognormal(a, b)))


@helper
def _next_arrival(fp, ip, st, trace_h, gen):
    """The next arrival time (hours; INF: none), as arrivals.py's processes draw it."""
    acc = st.acc
    ctr = st.ctr
    kind = ip[I_ARRIVALS]
    t = acc[A_ARRIVAL_T]
    if kind == ARRIVALS_POISSON:
        t += fp[F_GAP] * gen.standard_exponential()
    elif kind == ARRIVALS_DIURNAL:
        gap, swing = fp[F_GAP], fp[F_SWING]
        if swing <= 0.0:
            t += gap * gen.standard_exponential()
        else:
            trough, omega, peak_at, peak = fp[F_TROUGH], fp[F_OMEGA], fp[F_PEAK_AT], fp[F_PEAK]
            while True:
                t += gap * gen.standard_exponential()
                if gen.random() * peak < trough + swing * (1.0 + math.cos(omega * (t - peak_at))):
                    break
    elif kind == ARRIVALS_BURSTY:
        while True:
            gap = fp[F_ON_GAP] if ctr[C_ON] else fp[F_OFF_GAP]
            if gap > 0.0:
                t += gap * gen.standard_exponential()
                if t < acc[A_PHASE_END]:
                    break
            t = acc[A_PHASE_END]
            ctr[C_ON] = 1 - ctr[C_ON]
            acc[A_PHASE_END] = t + (fp[F_ON_HOURS] if ctr[C_ON] else fp[F_OFF_HOURS]) * gen.standard_exponential()
    else:
        i = ctr[C_TRACE_I]
        if i == trace_h.shape[0]:
            if not ip[I_TRACE_REPEAT]:
                return INF
            ctr[C_TRACE_K] += 1
            i = 0
        ctr[C_TRACE_I] = i + 1
        t = ctr[C_TRACE_K] * fp[F_TRACE_PERIOD] + trace_h[i]
    acc[A_ARRIVAL_T] = t
    return t


# --- measures (measure.ServiceMeasures, accumulated here and read back by plan.py) ------------------------

@helper
def _histogram_add(counts, seconds):
    if seconds <= LOWEST_S:
        b = 0
    else:
        b = 1 + np.int64(math.log10(seconds * PER_LOWEST) * BINS_PER_DECADE)
        if b > HISTOGRAM_BINS:
            b = HISTOGRAM_BINS
    counts[b] += 1


@helper
def _window_of(fp, ip, sent):
    """The SLO window a request sent at ``sent`` falls in (``windows``: past the last)."""
    return min(ip[I_WINDOWS], np.int64((sent - fp[F_START]) / fp[F_SLO_WINDOW]))


@helper
def _overdue(fp, ip, st, sent, change):
    st.ctr[C_OVERDUE] += change
    w = _window_of(fp, ip, sent)
    if w < ip[I_WINDOWS]:
        st.window_overdue[w] += change


@helper
def _resolve(fp, ip, st, q, now, answered):
    """Request ``q`` is done (measure.ServiceMeasures.resolved); its slot is freed."""
    ctr, rq_sent, rq_attempts, rq_counted, rq_free = st.ctr, st.req_sent, st.req_attempts, st.req_counted, st.req_free
    sent = rq_sent[q]
    if rq_counted[q] and now <= fp[F_END]:
        if sent < fp[F_DECIDED_BY]:
            _overdue(fp, ip, st, sent, -1)
        ctr[C_REQUESTS] += 1
        ctr[C_ATTEMPTS] += rq_attempts[q]
        good = answered and now - sent <= fp[F_SLO_LATENCY]
        if answered:
            ctr[C_ANSWERED] += 1
            _histogram_add(st.latency, (now - sent) * SECONDS_PER_HOUR)
        else:
            ctr[C_FAILED] += 1
        w = _window_of(fp, ip, sent)
        if w < ip[I_WINDOWS]:
            st.window_sent[w] += 1
            st.window_good[w] += good
        ctr[C_GOOD] += good
    rq_free[ctr[C_REQUESTS_FREE]] = q
    ctr[C_REQUESTS_FREE] += 1


@helper
def _level(fp, ip, st, now, serving):
    """The replicas serving changed to ``serving`` (measure.Level.set)."""
    ctr, acc = st.ctr, st.acc
    value = ctr[C_SERVING]
    if serving == value:
        return
    a, b = max(acc[A_LEVEL_AT], fp[F_START]), min(now, fp[F_END])
    if b > a:
        span = b - a
        acc[A_AREA] += value * span
        if value >= ip[I_NEEDED]:
            acc[A_ENOUGH] += span
        if value > 0:
            acc[A_POSITIVE] += span
    acc[A_LEVEL_AT] = now
    ctr[C_SERVING] = serving


# --- attempts --------------------------------------------------------------------------------------------

@helper
def _take(ctr, free, count_at):
    """A free slot from the stack ``free`` (its size at ``ctr[count_at]``); -1 and STATUS_FULL when none is."""
    n = ctr[count_at]
    if n == 0:
        ctr[C_STATUS] = STATUS_FULL
        return -1
    ctr[count_at] = n - 1
    return free[n - 1]


@helper
def _free_attempt(st, i):
    """Attempt slot ``i`` is done: events still naming it carry an older generation and are ignored."""
    ctr = st.ctr
    st.att_state[i] = ENDED
    st.att_gen[i] += 1
    st.att_free[ctr[C_ATTEMPTS_FREE]] = i
    ctr[C_ATTEMPTS_FREE] += 1


@helper
def _routable(st, r):
    """Would the balancer send replica ``r`` an attempt? (Replica.routable: health only, no ejection here.)"""
    return st.healthy[r] != 0


@helper
def _pick(ip, st, count, gen_balancer):
    """The policy's replica among the ``count`` candidates in st.cand (index order, all with a free slot)."""
    ctr, cand, outstanding = st.ctr, st.cand, st.outstanding
    policy = ip[I_POLICY]
    if policy == POLICY_POWER_OF_TWO:
        if count == 1:
            return cand[0]
        first = np.int64(gen_balancer.random() * count)
        second = np.int64(gen_balancer.random() * (count - 1))
        a, b = cand[first], cand[second + (1 if second >= first else 0)]
        return b if outstanding[b] < outstanding[a] else a
    start = 0
    for k in range(count):  # _Rotating._from_cursor: the first at or after the cursor
        if cand[k] >= ctr[C_CURSOR]:
            start = k
            break
    best = cand[start]
    if policy == POLICY_LEAST_OUTSTANDING:
        for j in range(1, count):
            r = cand[(start + j) % count]
            if outstanding[r] < outstanding[best]:
                best = r
    ctr[C_CURSOR] = best + 1
    return best


@helper
def _assign(fp, ip, st, i, r, now, gen_service, gen_balancer, empirical):
    """Attempt ``i`` goes to replica ``r`` (service.Pool._assign)."""
    outstanding, serving, epoch = st.outstanding, st.serving, st.epoch
    a_rep, a_epoch, a_state, a_gen = st.att_replica, st.att_epoch, st.att_state, st.att_gen
    a_sent, a_deadline = st.att_sent, st.att_deadline
    outstanding[r] += 1
    a_rep[i] = r
    a_epoch[i] = epoch[r]
    deadline = a_deadline[i]
    if not serving[r]:  # dead or reloading, and the balancer does not know yet
        if ip[I_FAIL_FAST]:
            a_state[i] = REFUSING
            return _push(st, now, E_REFUSED, i, a_gen[i])
        a_state[i] = HANGING
        if deadline < INF:
            return _push(st, deadline, E_DEADLINE, i, a_gen[i])
        return True
    a_state[i] = SERVING
    st.att_started[i] = now  # started
    q = st.att_request[i]
    if st.req_counted[q]:      # counted: measure.waited
        st.acc[A_WAIT_SUM] += now - a_sent[i]
        st.ctr[C_WAITS] += 1
    if ip[I_TOKENS]:
        prefill = _tokens(gen_service, ip[I_PROMPT_LAW], fp[F_PROMPT_A], fp[F_PROMPT_B]) * fp[F_PREFILL_PER_TOKEN]
        tokens = _tokens(gen_service, ip[I_OUTPUT_LAW], fp[F_OUTPUT_A], fp[F_OUTPUT_B])
        service = prefill + tokens * fp[F_DECODE_PER_TOKEN]
    else:
        service = _law(gen_service, ip[I_LAW], fp[F_LAW_A], fp[F_LAW_B], empirical)
        prefill, tokens = service, 0.0
    factor = 1.0 / st.speed[r]
    st.att_prefill[i] = prefill * factor
    st.att_tpot[i] = (service - prefill) * factor / tokens if tokens > 0.0 else 0.0
    error_rate = fp[F_ERROR_RATE]
    st.att_error[i] = 1 if error_rate > 0.0 and gen_balancer.random() < error_rate else 0
    end = now + service * factor
    if end > deadline:
        st.att_cut[i] = 1  # cut: its deadline ends it
        return _push(st, deadline, E_DEADLINE, i, a_gen[i])
    st.att_cut[i] = 0
    return _push(st, end, E_FINISH, i, a_gen[i])


@helper
def _route(fp, ip, st, i, now, gen_service, gen_balancer, empirical):
    """Send attempt ``i`` to a replica or the queue (service.Pool.route): ROUTED, or UNAVAILABLE / SHED;
    -1 when the state is full."""
    replicas, concurrency = ip[I_REPLICAS], ip[I_CONCURRENCY]
    cand, outstanding, healthy = st.cand, st.outstanding, st.healthy
    routable = 0
    free = 0
    for r in range(replicas):
        if healthy[r]:
            routable += 1
            if outstanding[r] < concurrency:
                cand[free] = r
                free += 1
    if routable == 0 and ip[I_FAIL_OPEN] and replicas > 0:  # every replica unhealthy: route to all
        for r in range(replicas):
            routable += 1
            if outstanding[r] < concurrency:
                cand[free] = r
                free += 1
    if routable == 0:
        return UNAVAILABLE
    if free:
        r = _pick(ip, st, free, gen_balancer)
        return ROUTED if _assign(fp, ip, st, i, r, now, gen_service, gen_balancer, empirical) else -1
    ctr = st.ctr
    if ip[I_ADMISSION] and ctr[C_QUEUED] >= ip[I_MAX_QUEUE]:
        return SHED
    deadline = st.att_deadline[i]
    if ip[I_SHEDDING]:
        expected = (ctr[C_QUEUED] + 1) * fp[F_MEAN_SERVICE] / (routable * concurrency)
        if now + expected > deadline:
            return SHED
    queue, queue_gen = st.queue, st.queue_gen
    capacity = queue.shape[0]
    if ctr[C_QUEUE_SIZE] >= capacity:
        ctr[C_STATUS] = STATUS_FULL
        return -1
    slot = (ctr[C_QUEUE_HEAD] + ctr[C_QUEUE_SIZE]) % capacity
    queue[slot] = i
    queue_gen[slot] = st.att_gen[i]
    ctr[C_QUEUE_SIZE] += 1
    ctr[C_QUEUED] += 1
    st.att_state[i] = QUEUED
    leaves = min(deadline, now + fp[F_QUEUE_TIMEOUT])
    if leaves < INF:
        if not _push(st, leaves, E_LEFT_QUEUE, i, st.att_gen[i]):
            return -1
    return ROUTED


@helper
def _drain(fp, ip, st, r, now, gen_service, gen_balancer, empirical):
    """Queued attempts go to replica ``r`` while it is routable with a free slot (service.Pool._drain)."""
    ctr, queue, queue_gen, a_state, a_gen = st.ctr, st.queue, st.queue_gen, st.att_state, st.att_gen
    capacity = queue.shape[0]
    while ctr[C_QUEUED] and st.outstanding[r] < ip[I_CONCURRENCY] and _routable(st, r):
        head = ctr[C_QUEUE_HEAD]
        i, gen = queue[head], queue_gen[head]
        ctr[C_QUEUE_HEAD] = (head + 1) % capacity
        ctr[C_QUEUE_SIZE] -= 1
        if a_gen[i] != gen or a_state[i] != QUEUED:
            continue  # timed out while queued
        ctr[C_QUEUED] -= 1
        if not _assign(fp, ip, st, i, r, now, gen_service, gen_balancer, empirical):
            return False
    if not ctr[C_QUEUED]:
        ctr[C_QUEUE_HEAD] = 0
        ctr[C_QUEUE_SIZE] = 0
    return True


@helper
def _failed(fp, ip, st, i, outcome, now, gen_client):
    """A failed attempt (client.Service._failed): retried after its backoff if the policy allows, else its
    request fails. Frees the attempt."""
    q = st.att_request[i]
    _free_attempt(st, i)
    attempts = st.req_attempts[q]
    retryable = outcome == ERROR or outcome == UNAVAILABLE or (outcome == TIMEOUT and ip[I_ON_TIMEOUT] != 0)
    if ip[I_RETRIES] and retryable and attempts < ip[I_MAX_ATTEMPTS]:
        allowed = True
        if ip[I_BUDGET]:
            acc = st.acc
            if acc[A_BUDGET] >= 1.0:
                acc[A_BUDGET] -= 1.0
            else:
                allowed = False
        if allowed:
            ceiling = min(fp[F_BACKOFF_MAX], fp[F_BACKOFF_BASE] * 2.0 ** (attempts - 1))
            u = gen_client.random()
            jitter = ip[I_JITTER]
            wait = ceiling * u if jitter == JITTER_FULL else (
                ceiling * (0.5 + 0.5 * u) if jitter == JITTER_EQUAL else ceiling)
            return _push(st, now + wait, E_SEND, q, 0)
    _resolve(fp, ip, st, q, now, False)
    return True


@helper
def _ended(fp, ip, st, i, outcome, now, gen_client):
    """Attempt ``i`` ended on the pool (client.Service._ended)."""
    q = st.att_request[i]
    if outcome == OK:
        if ip[I_TOKENS] and st.req_counted[q]:
            _histogram_add(st.ttft, (st.att_started[i] - st.req_sent[q] + st.att_prefill[i]) * SECONDS_PER_HOUR)
            _histogram_add(st.tpot, st.att_tpot[i] * SECONDS_PER_HOUR)
        _free_attempt(st, i)
        _resolve(fp, ip, st, q, now, True)
        return True
    if outcome == TIMEOUT and st.req_counted[q]:
        st.ctr[C_TIMEOUTS] += 1
    return _failed(fp, ip, st, i, outcome, now, gen_client)


@helper
def _release(fp, ip, st, r, i, outcome, now, gen_client, gen_service, gen_balancer, empirical):
    """Attempt ``i`` on replica ``r`` ended: free its slot, end it, take the next queued (Pool._release)."""
    st.outstanding[r] -= 1
    if not _ended(fp, ip, st, i, outcome, now, gen_client):
        return False
    return _drain(fp, ip, st, r, now, gen_service, gen_balancer, empirical)


@helper
def _on_replica(st, r, state):
    """How many attempts on replica ``r`` are in ``state``; they are put in ``st.found`` by the time they
    were sent (a replica's sets, sorted)."""
    a_rep, a_state, a_sent, found = st.att_replica, st.att_state, st.att_sent, st.found
    n = 0
    for i in range(st.ctr[C_ATTEMPTS_HIGH]):
        if a_state[i] == state and a_rep[i] == r:
            j = n  # insertion by sent time: few attempts, and nearly in order already
            while j > 0 and a_sent[found[j - 1]] > a_sent[i]:
                found[j] = found[j - 1]
                j -= 1
            found[j] = i
            n += 1
    return n


@helper
def _transition(fp, ip, st, kind, r, value, now, gen_client, gen_service, gen_balancer, empirical):
    """Replica ``r`` stops serving (its attempts fail or hang), starts serving (hung attempts are reset), or
    changes speed (Pool.replica_died / replica_serves, Replica.member_speed_changed)."""
    serving, a_state, a_deadline, a_gen = st.serving, st.att_state, st.att_deadline, st.att_gen
    ctr = st.ctr
    if kind == SPEED:
        st.speed[r] = value
        return True
    if kind == DIES:
        serving[r] = 0
        st.epoch[r] += 1
        _level(fp, ip, st, now, ctr[C_SERVING] - 1)
        for k in range(_on_replica(st, r, SERVING)):
            i = st.found[k]
            if ip[I_FAIL_FAST]:
                if not _release(fp, ip, st, r, i, ERROR, now, gen_client, gen_service, gen_balancer, empirical):
                    return False
            else:
                a_state[i] = HANGING
                if a_deadline[i] < INF and not _push(st, a_deadline[i], E_DEADLINE, i, a_gen[i]):
                    return False
        return True
    serving[r] = 1
    st.speed[r] = value
    _level(fp, ip, st, now, ctr[C_SERVING] + 1)
    for k in range(_on_replica(st, r, HANGING)):
        i = st.found[k]
        if not _release(fp, ip, st, r, i, ERROR, now, gen_client, gen_service, gen_balancer, empirical):
            return False
    return _drain(fp, ip, st, r, now, gen_service, gen_balancer, empirical)


@helper
def _send(fp, ip, st, q, now, gen_client, gen_service, gen_balancer, empirical):
    """A new attempt of request ``q`` now (client.Service._send)."""
    ctr, acc = st.ctr, st.acc
    st.req_attempts[q] += 1
    if ip[I_LIMIT]:  # patterns.TokenBucket.take
        tokens = min(fp[F_LIMIT_BURST], acc[A_TOKENS] + (now - acc[A_TOKENS_AT]) * fp[F_LIMIT_RATE])
        acc[A_TOKENS_AT] = now
        if tokens >= 1.0 - 1e-9:
            acc[A_TOKENS] = max(0.0, tokens - 1.0)
        else:
            acc[A_TOKENS] = tokens
            if st.req_counted[q]:
                ctr[C_RATE_LIMITED] += 1
            _resolve(fp, ip, st, q, now, False)
            return True
    i = _take(ctr, st.att_free, C_ATTEMPTS_FREE)
    if i < 0:
        return False
    ctr[C_ATTEMPTS_HIGH] = max(ctr[C_ATTEMPTS_HIGH], i + 1)
    st.att_request[i] = q
    st.att_replica[i] = -1
    st.att_state[i] = NEW
    st.att_sent[i] = now
    st.att_deadline[i] = now + fp[F_TIMEOUT]
    taken = _route(fp, ip, st, i, now, gen_service, gen_balancer, empirical)
    if taken == ROUTED:
        return True
    if taken < 0:
        return False
    if taken == SHED and st.req_counted[q]:
        ctr[C_SHED] += 1
    return _failed(fp, ip, st, i, taken, now, gen_client)


@helper
def _arrive(fp, ip, st, now, trace_h, gen_arrivals, gen_client, gen_service, gen_balancer, empirical):
    """A request arrives (client.Service._arrive): the next is scheduled, this one sent."""
    ctr = st.ctr
    following = _next_arrival(fp, ip, st, trace_h, gen_arrivals)
    if following < INF and not _push(st, following, E_ARRIVE, 0, ctr[C_ARRIVALS_EPOCH]):
        return False
    q = _take(ctr, st.req_free, C_REQUESTS_FREE)
    if q < 0:
        return False
    counted = fp[F_START] <= now < fp[F_END] and now >= fp[F_COUNT_FROM]
    st.req_sent[q] = now
    st.req_attempts[q] = 0
    st.req_counted[q] = 1 if counted else 0
    if counted and now < fp[F_DECIDED_BY]:
        _overdue(fp, ip, st, now, 1)
    if ip[I_BUDGET]:
        acc = st.acc
        acc[A_BUDGET] = min(fp[F_BUDGET_BURST], acc[A_BUDGET] + fp[F_BUDGET_RATIO])
    return _send(fp, ip, st, q, now, gen_client, gen_service, gen_balancer, empirical)


@helper
def _check(fp, ip, st, r, now, gen_service, gen_balancer, empirical):
    """A periodic active health check of replica ``r`` (Pool._check)."""
    if not _push(st, now + fp[F_CHECK_INTERVAL], E_CHECK, r, st.ctr[C_CHECKS_EPOCH]):
        return False
    failed, passed, healthy = st.failed_checks, st.passed_checks, st.healthy
    if st.serving[r]:
        failed[r] = 0
        passed[r] += 1
        if not healthy[r] and passed[r] >= ip[I_HEALTHY_THRESHOLD]:
            healthy[r] = 1
            return _drain(fp, ip, st, r, now, gen_service, gen_balancer, empirical)
        return True
    delay = 0.0 if ip[I_FAIL_FAST] else fp[F_CHECK_TIMEOUT]
    return _push(st, now + delay, E_CHECK_FAILED, r, 0)


def _entry(fingerprint: int):
    """The loop, as a closure over ``fingerprint``: numba's cache keys on a closure's contents."""

    @loop
    def serve_service(fp, ip, st, trace_h, empirical, moves_t, moves_r, moves_kind, moves_value,
                      gen_arrivals, gen_client, gen_service, gen_balancer, until):
        """Run one service's events before ``until`` (the horizon at most; called again, it goes on from there);
        the measures accumulate in ``st`` (STATUS_FULL: out of room)."""
        st.ctr[C_FINGERPRINT] = fingerprint
        return _serve(fp, ip, st, trace_h, empirical, moves_t, moves_r, moves_kind, moves_value,
                      gen_arrivals, gen_client, gen_service, gen_balancer, until)

    return serve_service


@helper
def _start(fp, ip, st, trace_h, moves_t, gen_arrivals, gen_balancer):
    """The first call: buckets full, each replica's checks at its own phase, the first arrival and transition."""
    ctr, acc = st.ctr, st.acc
    acc[A_TOKENS] = fp[F_LIMIT_BURST]
    acc[A_BUDGET] = fp[F_BUDGET_BURST]
    ctr[C_SERVING] = 0
    for r in range(ip[I_REPLICAS]):
        ctr[C_SERVING] += st.serving[r]
    if ip[I_ARRIVALS] == ARRIVALS_BURSTY:
        ctr[C_ON] = 1
        acc[A_PHASE_END] = fp[F_ON_HOURS] * gen_arrivals.standard_exponential()
    for r in range(ip[I_REPLICAS]):  # Pool.add_replica: each replica's checks at its own phase
        st.check_phase[r] = fp[F_CHECK_INTERVAL] * gen_balancer.random()
        _push(st, st.check_phase[r], E_CHECK, r, 0)
    first = _next_arrival(fp, ip, st, trace_h, gen_arrivals)
    if first < INF:
        _push(st, first, E_ARRIVE, 0, 0)
    if moves_t.shape[0]:
        _push(st, moves_t[0], E_TRANSITION, 0, 0)


@helper
def _resume(fp, ip, st, trace_h, gen_arrivals):
    """What the hybrid technique asked for between calls: arrivals again from A_RESUME_AT (client.Service.
    resume_arrivals), health checks again at each replica's own phase,
    their counters as a run of checks leaves them (service.Pool.resume_checks)."""
    ctr, acc = st.ctr, st.acc
    now = acc[A_RESUME_AT]
    if ctr[C_RESUME_ARRIVALS]:
        ctr[C_RESUME_ARRIVALS] = 0
        acc[A_ARRIVAL_T] = now
        if ip[I_ARRIVALS] == ARRIVALS_BURSTY:  # on with its stationary odds (arrivals.arrivals_of)
            on_h, off_h = fp[F_ON_HOURS], fp[F_OFF_HOURS]
            ctr[C_ON] = 1 if gen_arrivals.random() * (on_h + off_h) < on_h else 0
            acc[A_PHASE_END] = now + (on_h if ctr[C_ON] else off_h) * gen_arrivals.standard_exponential()
        first = _next_arrival(fp, ip, st, trace_h, gen_arrivals)
        if first < INF:
            _push(st, first, E_ARRIVE, 0, ctr[C_ARRIVALS_EPOCH])
    if ctr[C_RESUME_CHECKS]:
        ctr[C_RESUME_CHECKS] = 0
        interval = fp[F_CHECK_INTERVAL]
        for r in range(ip[I_REPLICAS]):
            behind = max(0.0, math.ceil((now - st.check_phase[r]) / interval))
            _push(st, st.check_phase[r] + behind * interval, E_CHECK, r, ctr[C_CHECKS_EPOCH])
            if st.serving[r]:
                st.failed_checks[r] = 0
                st.passed_checks[r] = max(st.passed_checks[r], ip[I_HEALTHY_THRESHOLD])
            else:
                st.failed_checks[r] = max(st.failed_checks[r], ip[I_UNHEALTHY_THRESHOLD])
                st.passed_checks[r] = 0


@helper
def _serve(fp, ip, st, trace_h, empirical, moves_t, moves_r, moves_kind, moves_value,
           gen_arrivals, gen_client, gen_service, gen_balancer, until):
    """The event loop of ``serve_service``."""
    ctr = st.ctr
    a_state, a_gen, a_rep, a_epoch, epoch = st.att_state, st.att_gen, st.att_replica, st.att_epoch, st.epoch
    horizon = fp[F_HORIZON]
    if not ctr[C_STARTED]:
        ctr[C_STARTED] = 1
        _start(fp, ip, st, trace_h, moves_t, gen_arrivals, gen_balancer)
    _resume(fp, ip, st, trace_h, gen_arrivals)
    stop = min(until, horizon)
    ok = ctr[C_STATUS] == STATUS_OK
    while ok and ctr[C_HEAP] > 0:
        if st.heap_t[0] >= stop:
            break
        now, kind, a, b = _pop(st)
        ctr[C_EVENTS] += 1
        if kind == E_ARRIVE:
            if b != ctr[C_ARRIVALS_EPOCH]:
                continue  # arrivals stopped since (the hybrid technique's stretch)
            ok = _arrive(fp, ip, st, now, trace_h, gen_arrivals, gen_client, gen_service, gen_balancer, empirical)
        elif kind == E_SEND:
            ok = _send(fp, ip, st, a, now, gen_client, gen_service, gen_balancer, empirical)
        elif kind == E_FINISH:
            if a_gen[a] == b and a_state[a] == SERVING and a_epoch[a] == epoch[a_rep[a]]:
                outcome = ERROR if st.att_error[a] else OK
                ok = _release(fp, ip, st, a_rep[a], a, outcome, now, gen_client, gen_service, gen_balancer,
                              empirical)
        elif kind == E_DEADLINE:  # Pool._timed_out
            if a_gen[a] == b and (a_state[a] == HANGING or (a_state[a] == SERVING and a_epoch[a] == epoch[a_rep[a]]
                                                            and st.att_cut[a])):
                ok = _release(fp, ip, st, a_rep[a], a, TIMEOUT, now, gen_client, gen_service, gen_balancer,
                              empirical)
        elif kind == E_LEFT_QUEUE:
            if a_gen[a] == b and a_state[a] == QUEUED:
                ctr[C_QUEUED] -= 1
                ok = _ended(fp, ip, st, a, TIMEOUT, now, gen_client)
        elif kind == E_CHECK:
            if b != ctr[C_CHECKS_EPOCH]:
                continue  # checks stopped since
            ok = _check(fp, ip, st, a, now, gen_service, gen_balancer, empirical)
        elif kind == E_CHECK_FAILED:  # Pool._check_failed
            st.passed_checks[a] = 0
            st.failed_checks[a] += 1
            if st.healthy[a] and st.failed_checks[a] >= ip[I_UNHEALTHY_THRESHOLD]:
                st.healthy[a] = 0
        elif kind == E_TRANSITION:
            ok = _transition(fp, ip, st, moves_kind[a], moves_r[a], moves_value[a], now, gen_client, gen_service,
                             gen_balancer, empirical)
            if ok and a + 1 < moves_t.shape[0]:
                ok = _push(st, moves_t[a + 1], E_TRANSITION, a + 1, 0)
        else:  # E_REFUSED: a dead replica refused the connection
            if a_gen[a] == b and a_state[a] == REFUSING:
                ok = _release(fp, ip, st, a_rep[a], a, ERROR, now, gen_client, gen_service, gen_balancer,
                              empirical)
        ok = ok and ctr[C_STATUS] == STATUS_OK
    if ctr[C_STATUS] == STATUS_OK and until >= horizon:
        _level(fp, ip, st, fp[F_END], -1)  # Level.finish: the last stretch up to the window's end
    return ctr[C_STATUS]


def _fingerprint() -> int:
    """A hash of the sources the loop compiles from: this module, how it is compiled, the histogram's bins."""
    digest = hashlib.sha256()
    for module in (__file__, jit_module.__file__, measure_module.__file__):
        digest.update(Path(module).read_bytes())
    return int.from_bytes(digest.digest()[:8], "little", signed=True)


serve_service = _entry(_fingerprint())
