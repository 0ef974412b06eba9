"""``[[inference]]``: inference services behind a load balancer, on the cluster's nodes.

A service's ``replicas`` each hold ``nodes_per_replica`` working positions that no training job holds
(after the jobs', in declaration order) and serve at most ``concurrency`` requests at once; when every
healthy replica is full the load balancer holds requests in one FIFO queue (so with no failures,
Poisson arrivals and exponential service the pool is M/M/c with c = replicas × concurrency).
Durations are stored in hours like every other duration; metrics report seconds.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from clustersim.distributions import Distribution
from clustersim.input_files import (
    DATA_LIMIT_BYTES, InputFileError, excerpt, file_was_read, inline_file, read_input_text,
)
from clustersim.quantities import Duration, PositiveDuration, PositiveRate
from clustersim.scenario.sections.common import Count, Name, PositiveCount, Probability, Section

SECOND_HOURS = 1.0 / 3600.0
MAX_TOKENS = 10_000_000


# --- arrivals ---------------------------------------------------------------------------------

class PoissonArrivals(Section):
    """Requests arrive as a Poisson process of constant ``rate``."""

    process: Literal["poisson"] = Field(description="the arrival process: poisson")
    rate: PositiveRate = Field(description="mean requests per second")

    @property
    def mean_rate_per_s(self) -> float:
        return self.rate


class DiurnalArrivals(Section):
    """A nonhomogeneous Poisson process (drawn by thinning) whose rate swings as a cosine between ``trough`` and
    ``peak`` over ``period``, highest at ``peak_at`` (then every period)."""

    process: Literal["diurnal"] = Field(description="the arrival process: diurnal")
    trough: PositiveRate = Field(description="the lowest rate")
    peak: PositiveRate = Field(description="the highest rate")
    period: PositiveDuration = Field(default=24.0, description="one cycle")
    peak_at: Duration = Field(default=14.0, description="time of the first peak (from time 0)")

    def problems(self) -> list[str]:
        return [f"peak: {self.peak!r} /s is below trough = {self.trough!r} /s"] if self.peak < self.trough else []

    @property
    def mean_rate_per_s(self) -> float:
        return (self.trough + self.peak) / 2.0


class BurstyArrivals(Section):
    """On/off modulated Poisson: ``rate`` while on, ``off_rate`` while off; on and off periods exponential
    with means ``on_duration`` and ``off_duration``; the process starts on."""

    process: Literal["bursty"] = Field(description="the arrival process: bursty")
    rate: PositiveRate = Field(description="the rate during a burst")
    off_rate: Annotated[float, Field(ge=0.0)] | None = Field(default=None, description="the rate between bursts "
                                                                                       "(per second); default 0")
    on_duration: PositiveDuration = Field(description="mean length of a burst")
    off_duration: PositiveDuration = Field(description="mean time between bursts")

    @property
    def quiet_rate_per_s(self) -> float:
        return self.off_rate or 0.0

    @property
    def mean_rate_per_s(self) -> float:
        on, off = self.on_duration, self.off_duration
        return (self.rate * on + self.quiet_rate_per_s * off) / (on + off)


class TraceArrivals(Section):
    """Request times replayed: ``times`` inline or a ``file`` (one time in seconds from the start per line, or a
    CSV's first column; a header line is skipped), sorted; ``scale`` multiplies the rate (times are divided by
    it); ``repeat`` replays the trace back to back until the horizon. The resolved scenario carries the times
    inline."""

    process: Literal["trace"] = Field(description="the arrival process: trace")
    times: list[Annotated[float, Field(ge=0.0)]] = Field(default_factory=list, description="request times in "
                                                         "seconds, sorted; not with file")
    file: str | None = Field(default=None, description="a file of request times in seconds, relative to the "
                                                       "scenario file; not with times")
    scale: Annotated[float, Field(gt=0.0, le=1e6)] = Field(default=1.0, description="rate multiplier")
    repeat: bool = Field(default=False, description="replay the trace again after its last request")

    @model_validator(mode="before")
    @classmethod
    def _read_file(cls, data: object, info: ValidationInfo) -> object:
        return inline_file(data, (info.context or {}).get("base_dir"), "times",
                           "trace needs exactly one of 'times' (a list of seconds) or 'file' (a CSV path), not both",
                           _read_trace)

    _file_was_read = field_validator("file", mode="before")(file_was_read)

    def problems(self) -> list[str]:
        if not self.times:
            return ["times: the trace holds no request times"]
        if any(b < a for a, b in zip(self.times, self.times[1:])):
            return ["times: request times must be sorted"]
        return []

    @property
    def mean_rate_per_s(self) -> float:
        span = self.times[-1] if self.times[-1] > 0 else 1.0
        return len(self.times) / span * self.scale


def _read_trace(path: Path) -> list[float]:
    """A trace file's request times (ValueError naming the file and line when it cannot be used)."""
    try:
        text = read_input_text(path, DATA_LIMIT_BYTES)
    except InputFileError as err:
        raise ValueError(f"cannot read trace file {path.name!r}: {err}") from None
    return _trace_times(path, text)


def _trace_times(path: Path, text: str) -> list[float]:
    """Request times in seconds from a trace file's first column; a non-numeric first line is a header."""
    times: list[float] = []
    for number, line in enumerate(text.splitlines(), start=1):
        field = line.split("#", 1)[0].split(",", 1)[0].strip()
        if not field:
            continue
        try:
            value = float(field)
        except ValueError:
            if not times and number == 1:
                continue  # a header
            shown = excerpt(field)
            raise ValueError(f"{path.name} line {number}: expected a request time in seconds, got {shown}") from None
        if not value >= 0 or value != value or value == float("inf"):
            raise ValueError(f"{path.name} line {number}: request times must be finite and non-negative")
        if times and value < times[-1]:
            raise ValueError(f"{path.name} line {number}: request times must be sorted ({value} after {times[-1]})")
        times.append(value)
    return times


Arrivals = Annotated[PoissonArrivals | DiurnalArrivals | BurstyArrivals | TraceArrivals,
                     Field(discriminator="process")]


# --- service ----------------------------------------------------------------------------------

class TokenLaw(Section):
    """A law of token counts (rounded to whole tokens, at least 1)."""

    dist: Literal["deterministic", "uniform", "exponential", "lognormal"] = Field(description="the law's name")
    mean: Annotated[float, Field(ge=1.0, le=MAX_TOKENS)] | None = Field(default=None, description="mean tokens")
    cv: Annotated[float, Field(gt=0.0, le=100.0)] | None = Field(default=None, description="lognormal: std / mean")
    low: Annotated[int, Field(ge=1, le=MAX_TOKENS)] | None = Field(default=None, description="uniform: fewest")
    high: Annotated[int, Field(ge=1, le=MAX_TOKENS)] | None = Field(default=None, description="uniform: most")

    def problems(self) -> list[str]:
        problems = []
        uniform = self.dist == "uniform"
        if uniform and (self.low is None or self.high is None):
            problems.append('low: missing required key (dist = "uniform" needs low and high)')
        if uniform and self.low is not None and self.high is not None and self.high < self.low:
            problems.append(f"high: {self.high} is below low = {self.low}")
        if not uniform and self.mean is None:
            problems.append(f'mean: missing required key (dist = "{self.dist}" needs a mean)')
        if self.dist == "lognormal" and self.cv is None:
            problems.append('cv: missing required key (dist = "lognormal" needs cv)')
        if self.dist != "lognormal" and self.cv is not None:
            problems.append('cv: applies to dist = "lognormal" only')
        if not uniform and (self.low is not None or self.high is not None):
            problems.append('low: applies to dist = "uniform" only')
        return problems

    @property
    def mean_tokens(self) -> float:
        if self.dist == "uniform":
            assert self.low is not None and self.high is not None
            return (self.low + self.high) / 2.0
        assert self.mean is not None
        return self.mean


class Tokens(Section):
    """Token-based service: a request's service is prefill (prompt tokens) then decode (output tokens)."""

    prompt_tokens: TokenLaw = Field(description="tokens in a request's prompt")
    output_tokens: TokenLaw = Field(description="tokens a request generates")
    prefill_per_token: Duration = Field(description="prefill time per prompt token (time to first token = "
                                                    "wait + prompt × this)")
    decode_per_token: PositiveDuration = Field(description="time per output token")

    @property
    def mean_hours(self) -> float:
        return (self.prompt_tokens.mean_tokens * self.prefill_per_token
                + self.output_tokens.mean_tokens * self.decode_per_token)


# --- the load balancer ----------------------------------------------------------------------

LB_POLICIES = ("round_robin", "weighted", "least_outstanding", "power_of_two", "latency_aware")


class OutlierEjection(Section):
    """Passive outlier ejection (Envoy's): a replica answering ``consecutive_errors`` errors in a row is ejected
    for ``base_ejection_time`` × the times it has been ejected, never more than ``max_ejection_percent`` of the
    replicas at once."""

    consecutive_errors: PositiveCount = Field(default=5, description="errors in a row that eject a replica")
    base_ejection_time: PositiveDuration = Field(default=30 * SECOND_HOURS, description="first ejection's length")
    max_ejection_percent: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        default=10.0, description="most replicas ejected at once, in percent (at least one may be)")


class LoadBalancer(Section):
    """How requests are routed, and how the balancer learns that a replica is dead."""

    policy: str = Field(default="least_outstanding", description="one of " + ", ".join(LB_POLICIES))
    weights: list[Annotated[float, Field(gt=0.0, le=1e6)]] | None = Field(
        default=None, description="policy = weighted: one weight per replica (smooth weighted round-robin)")
    ewma_time: PositiveDuration = Field(default=10 * SECOND_HOURS, description="policy = latency_aware: "
                                        "the latency average's time constant (cost = average × (outstanding + 1))")
    health_check_interval: PositiveDuration = Field(default=10 * SECOND_HOURS, description="between active "
                                                    "health checks of one replica (Kubernetes: 10 s)")
    health_check_timeout: Duration = Field(default=1 * SECOND_HOURS, description="a check of a dead replica "
                                           "fails after this (Kubernetes: 1 s)")
    unhealthy_threshold: PositiveCount = Field(default=3, description="failed checks in a row that mark a "
                                               "replica unhealthy")
    healthy_threshold: PositiveCount = Field(default=1, description="passed checks in a row that mark it "
                                             "healthy again")
    outlier_ejection: OutlierEjection | None = Field(default=None, description="passive ejection on errors; "
                                                     "omitted = none")
    queue_timeout: PositiveDuration | None = Field(
        default=None, description="an attempt waiting longer than this in the balancer's queue is dropped as "
                                  "timed out (HAProxy's timeout queue); omitted = only the client timeout")
    fail_open: bool = Field(default=True, description="route to every replica when none is healthy (as ALB "
                                                      "and Envoy do); false: fail the requests")

    def problems(self) -> list[str]:
        if self.policy not in LB_POLICIES:
            return [f"policy: unknown policy {self.policy!r}, valid: {', '.join(LB_POLICIES)}"]
        return only_weighted(self.policy, self.weights)


def only_weighted(policy: str, weights: list[float] | None) -> list[str]:
    if policy == "weighted" and weights is None:
        return ['weights: missing required key (policy = "weighted" needs one weight per replica)']
    if policy != "weighted" and weights is not None:
        return ['weights: applies to policy = "weighted" only']
    return []


# --- resilience patterns ------------------------------------------------------------------------

class Retries(Section):
    """Client retries of failed attempts, with exponential backoff and a retry budget."""

    max_attempts: Annotated[int, Field(ge=1, le=100)] = Field(default=3, description="attempts per request, "
                                                              "the first included (Google SRE: 3)")
    backoff_base: Duration = Field(default=0.05 * SECOND_HOURS, description="the first retry's backoff")
    backoff_max: Duration = Field(default=1 * SECOND_HOURS, description="the largest backoff")
    jitter: Literal["full", "equal", "none"] = Field(default="full", description="full: uniform in [0, backoff]; "
                                                     "equal: backoff/2 + uniform [0, backoff/2]; none")
    budget: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        default=0.2, description="retries allowed per request sent, as a token bucket (Envoy, Linkerd: 0.2); "
                                 "a value of max_attempts − 1 or more never limits")
    budget_burst: Annotated[float, Field(ge=1.0, le=1e9)] = Field(default=10.0, description="the budget's "
                                                                  "bucket size, in retries")
    on_timeout: bool = Field(default=True, description="retry attempts that timed out, not only errors")


class CircuitBreaker(Section):
    """A per-replica breaker (Hystrix's): opens when errors are at least ``error_threshold`` of the calls in the
    last ``window`` (with at least ``minimum_calls``), stays open ``open_duration``, then lets
    ``half_open_calls`` trial calls through: all good closes it, any error opens it again."""

    error_threshold: Annotated[float, Field(gt=0.0, le=1.0)] = Field(default=0.5, description="error share")
    window: PositiveDuration = Field(default=10 * SECOND_HOURS, description="the rolling window")
    minimum_calls: PositiveCount = Field(default=20, description="calls in the window before it can open")
    open_duration: PositiveDuration = Field(default=5 * SECOND_HOURS, description="open before half-open")
    half_open_calls: PositiveCount = Field(default=1, description="trial calls in half-open")


class RateLimit(Section):
    """A token bucket at the load balancer: attempts beyond it are refused (not retried)."""

    rate: PositiveRate = Field(description="tokens per second")
    burst: PositiveCount = Field(description="the bucket's size")


class Admission(Section):
    """Admission control: an attempt finding ``max_queue`` attempts waiting is refused."""

    max_queue: Count = Field(description="the longest queue admitted")


class Fallback(Section):
    """A degraded model pool that takes requests the primary cannot serve (no routable replica, refused by
    admission or shedding); an answer from it counts as answered."""

    replicas: PositiveCount = Field(description="replicas of the degraded model")
    nodes_per_replica: PositiveCount = Field(default=1, description="nodes each")
    concurrency: PositiveCount = Field(default=1, description="requests one serves at once")
    latency_factor: Annotated[float, Field(gt=0.0, le=1e3)] = Field(default=0.5, description="its service time "
                                                                    "as a multiple of the primary's")


class Autoscaling(Section):
    """A horizontal autoscaler (Kubernetes HPA's rule): every ``sync_period``, desired = ceil(load / target),
    within [min_replicas, max_replicas]; scaling down waits for ``scale_down_stabilization`` (the highest
    desired count in it); a new replica takes free working positions (else spares from the pool) and serves
    after ``provisioning`` + ``reload_time``."""

    metric: Literal["concurrency", "utilization"] = Field(default="concurrency", description="concurrency: "
                                                          "requests in service and waiting per replica; "
                                                          "utilization: busy share of its concurrency")
    target: Annotated[float, Field(gt=0.0, le=1e6)] = Field(description="the metric's target per replica")
    min_replicas: PositiveCount = Field(default=1, description="fewest replicas")
    max_replicas: PositiveCount = Field(description="most replicas")
    sync_period: PositiveDuration = Field(default=15 * SECOND_HOURS, description="between decisions (HPA: 15 s)")
    provisioning: Duration = Field(default=60 * SECOND_HOURS, description="a new replica's node start-up, "
                                                                          "before its reload_time")
    scale_down_stabilization: Duration = Field(default=300 * SECOND_HOURS, description="HPA: 300 s")

    def problems(self) -> list[str]:
        if self.max_replicas < self.min_replicas:
            return [f"max_replicas: {self.max_replicas} is below min_replicas = {self.min_replicas}"]
        return []


class Canary(Section):
    """A release ramped in steps: each ``analysis_interval`` the new version's error rate and p99 latency are
    checked; a step passes when both are within bounds; after ``failed_checks`` failed checks the release rolls
    back (all traffic to the old version), after its last step it is promoted (all traffic to the new one)."""

    start: Duration = Field(default=0.0, description="when the release begins")
    steps: list[Annotated[float, Field(gt=0.0, le=1.0)]] = Field(
        default_factory=lambda: [0.1, 0.2, 0.3, 0.4, 0.5], description="the new version's traffic fractions")
    analysis_interval: PositiveDuration = Field(default=60 * SECOND_HOURS, description="Flagger: 60 s")
    error_rate: Probability = Field(default=0.0, description="the new version's own error probability per attempt")
    latency_factor: Annotated[float, Field(gt=0.0, le=1e3)] = Field(default=1.0, description="its service time "
                                                                    "as a multiple of the old version's")
    max_error_rate: Probability = Field(default=0.01, description="a check fails above this error share")
    max_latency_p99: PositiveDuration = Field(default=0.5 * SECOND_HOURS, description="a check fails above this "
                                                                                      "p99 latency")
    failed_checks: PositiveCount = Field(default=5, description="failed checks that roll it back")

    def problems(self) -> list[str]:
        if any(b < a for a, b in zip(self.steps, self.steps[1:])):
            return ["steps: traffic fractions must not decrease"]
        return [] if self.steps else ["steps: at least one step"]


class Slo(Section):
    """The service level objective: a request is good when answered within ``latency``."""

    latency: PositiveDuration | None = Field(default=None, description="answered in time; default: timeout")
    target: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(default=0.999, description="good share per window")
    window: PositiveDuration = Field(default=300 * SECOND_HOURS, description="the SLO window (5 min)")


# --- the service ------------------------------------------------------------------------------

class Inference(Section):
    """One inference service: replicas on the cluster's nodes behind a load balancer."""

    name: Name = Field(description="unique; metrics name the service inference.<name>.*")
    replicas: PositiveCount = Field(description="replicas at the start (the autoscaler may change them)")
    nodes_per_replica: PositiveCount = Field(default=1, description="working positions each replica holds")
    concurrency: PositiveCount = Field(default=1, description="requests one replica serves at once")
    arrivals: Arrivals = Field(description="the request arrival process")
    service_time: Distribution | None = Field(default=None, description="a request's service time (or tokens)")
    tokens: Tokens | None = Field(default=None, description="token-based service (instead of service_time)")
    timeout: PositiveDuration | None = Field(default=None, description="client timeout of each attempt, from "
                                             "being sent; omitted = none")
    error_rate: Probability = Field(default=0.0, description="the model's own error probability per attempt")
    dead_replica: Literal["fail_fast", "hang"] = Field(
        default="hang", description="an attempt routed to a dead replica not yet detected: fail_fast errors at "
                                    "once (connection refused), hang waits for the timeout (a dead host)")
    reload_time: Duration = Field(default=600 * SECOND_HOURS, description="a replica's restart after its nodes "
                                  "are back: loading weights from the store (waits while it is unreadable)")
    min_healthy: Count | None = Field(default=None, description="replicas needed for capacity_availability; "
                                                                "default: replicas")
    load_balancer: LoadBalancer = Field(default_factory=LoadBalancer, description="routing and health checks")
    retries: Retries | None = Field(default=None, description="client retries; omitted = none")
    circuit_breaker: CircuitBreaker | None = Field(default=None, description="per-replica breakers")
    rate_limit: RateLimit | None = Field(default=None, description="a token bucket at the load balancer")
    admission: Admission | None = Field(default=None, description="a bound on the queue")
    load_shedding: bool = Field(default=False, description="refuse an attempt whose expected wait exceeds its "
                                                           "remaining time (needs timeout)")
    fallback: Fallback | None = Field(default=None, description="a degraded model pool")
    autoscaling: Autoscaling | None = Field(default=None, description="a horizontal autoscaler")
    canary: Canary | None = Field(default=None, description="a canary release")
    slo: Slo = Field(default_factory=Slo, description="the SLO that slo_attainment and error_budget_burn use")

    def problems(self) -> list[str]:
        problems = []
        if (self.service_time is None) == (self.tokens is None):
            problems.append("service_time: give exactly one of service_time and tokens")
        if self.load_shedding and self.timeout is None:
            problems.append("load_shedding: needs a timeout (the deadline it compares the expected wait with)")
        if self.slo.latency is None and self.timeout is None:
            problems.append("slo.latency: missing required key (no timeout to default to)")
        if self.min_healthy is not None and self.min_healthy > self.replicas_most:
            problems.append(f"min_healthy: {self.min_healthy} is more than the replicas ({self.replicas_most})")
        weights = self.load_balancer.weights
        if weights is not None and len(weights) != self.replicas_most:
            problems.append(f"load_balancer.weights: {len(weights)} weights for {self.replicas_most} replicas")
        scaling = self.autoscaling
        if scaling is not None and not scaling.min_replicas <= self.replicas <= scaling.max_replicas:
            problems.append(f"replicas: {self.replicas} is outside autoscaling's [{scaling.min_replicas}, "
                            f"{scaling.max_replicas}]")
        return problems

    @property
    def replicas_most(self) -> int:
        """The most replicas it can run (the autoscaler's maximum, else replicas)."""
        return self.autoscaling.max_replicas if self.autoscaling is not None else self.replicas

    @property
    def positions(self) -> int:
        """Working positions its replicas hold at the start."""
        return self.replicas * self.nodes_per_replica

    @property
    def fallback_positions(self) -> int:
        """Working positions its fallback pool holds (after its replicas')."""
        return self.fallback.replicas * self.fallback.nodes_per_replica if self.fallback is not None else 0

    @property
    def service_mean_hours(self) -> float:
        """The mean service time of one request (old version, full speed)."""
        if self.tokens is not None:
            return self.tokens.mean_hours
        assert self.service_time is not None
        return self.service_time.mean_hours

    @property
    def slo_latency_hours(self) -> float:
        latency = self.slo.latency if self.slo.latency is not None else self.timeout
        assert latency is not None
        return latency

    @property
    def healthy_needed(self) -> int:
        return self.min_healthy if self.min_healthy is not None else self.replicas
