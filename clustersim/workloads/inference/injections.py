"""Chaos injections into inference services: the ``[[chaos]]`` entries of serving kind, on the serving loop.

The cluster's chaos runs as SimPy processes in the cluster's run (``model.domains.chaos_life``); these act on a
service, which runs afterwards on its own loop, so they are scheduled here, at ``at`` and every ``every`` before
the horizon, each for ``duration``. Each injection draws only from its own stream ``chaos/<name>`` (which
replicas, its errors, its traffic split, its extra arrivals, which arrivals a surge below 1 drops), so a service
keeps every one of its own streams' draws, and every other service is untouched.

- ``delay_replicas``: the chosen replicas add ``added_latency`` to each attempt they start serving (it holds
  its slot that much longer, so queues, timeouts and latency-aware routing react); before its first token too.
- ``error_replicas``: each attempt they start serving fails at once with probability ``error_rate`` (Envoy's
  abort), on top of the model's own errors, so retries, breakers and ejection see errors.
- ``health_check_outage``: every health check of the service's replicas times out (the probes cannot reach
  them); after ``unhealthy_threshold`` checks a replica is marked unhealthy, and healthy again after
  ``healthy_threshold`` checks once the outage ends.
- ``bad_release``: see ``release`` (through the canary, or to all traffic for ``duration``).
- ``traffic_surge``: above 1, extra requests as a Poisson stream at (factor − 1) × the arrival rate (a diurnal
  curve scaled alike): superposed, the arrivals are those of the rate × factor, and the service's own arrival
  stream is untouched; below 1, each arrival is kept with probability ``factor`` (thinning).
"""
from __future__ import annotations

import math

from clustersim.rng import Streams
from clustersim.scenario.schema import Chaos, Scenario
from clustersim.scenario.sections.inference import DiurnalArrivals, PoissonArrivals
from clustersim.workloads.inference.arrivals import Draws, arrivals_of
from clustersim.workloads.inference.client import Service
from clustersim.workloads.inference.loop import EventLoop, Handler
from clustersim.workloads.inference.release import DirectRelease, Release
from clustersim.workloads.inference.replica import Replica


def schedule_injections(loop: EventLoop, scenario: Scenario, services: list[Service], streams: Streams,
                        until: float = math.inf) -> None:
    """Schedule every serving injection of ``scenario`` that starts by ``until`` (when an [[abort]] stopped the
    injections: none starts after it) on ``loop``, each from its own stream ``chaos/<name>``."""
    by_name = {service.spec.name: service for service in services}
    horizon = scenario.simulation.horizon
    for name, chaos in scenario.serving_chaos():
        assert chaos.service is not None  # required with a serving action (Chaos.problems), defined (cross checks)
        injection = Injection(loop, chaos, by_name[chaos.service], Draws(streams.generator(f"chaos/{name}")))
        for start in chaos.injection_times(streams.generator(f"chaos/{name}/times"), horizon):
            if start <= until:
                loop.at(start, injection.start)


def injection_spans(scenario: Scenario, service: str, streams: Streams) -> list[tuple[float, float]]:
    """(start, end) of every injection into ``service``, by start: the hybrid technique simulates them request by
    request (a bad release's end is the latest it can last)."""
    horizon = scenario.simulation.horizon
    return sorted((start, start + chaos.duration_hours) for name, chaos in scenario.serving_chaos(service)
                  for start in chaos.injection_times(streams.generator(f"chaos/{name}/times"), horizon))


class Injection:
    """One serving chaos entry: what each of its injections starts and undoes ``duration`` later."""

    def __init__(self, loop: EventLoop, chaos: Chaos, service: Service, draws: Draws) -> None:
        self.loop = loop
        self.chaos = chaos
        self.service = service
        self.draws = draws

    def start(self, _arg: object = None) -> None:
        """One injection begins now."""
        action = self.chaos.action
        if action == "delay_replicas":
            self._delay()
        elif action == "error_replicas":
            self._abort()
        elif action == "health_check_outage":
            self._blind()
        elif action == "bad_release":
            self._release()
        else:
            self._surge()

    def _later(self, undo: Handler) -> None:
        self.loop.at(self.loop.now + self.chaos.duration_hours, undo)

    # --- the actions ----------------------------------------------------------------------------------------

    def _delay(self) -> None:
        assert self.chaos.added_latency is not None  # required with delay_replicas
        added = self.chaos.added_latency
        targets = self._targets()
        for replica in targets:
            replica.delays.append(added)
            replica.delay_hours = sum(replica.delays)

        def undo(_arg: object) -> None:
            for replica in targets:
                replica.delays.remove(added)
                replica.delay_hours = sum(replica.delays)
        self._later(undo)

    def _abort(self) -> None:
        assert self.chaos.error_rate is not None  # required with error_replicas
        fault = (self.chaos.error_rate, self.draws)
        targets = self._targets()
        for replica in targets:
            replica.aborts.append(fault)

        def undo(_arg: object) -> None:
            for replica in targets:
                replica.aborts = [f for f in replica.aborts if f is not fault]
        self._later(undo)

    def _blind(self) -> None:
        pool = self.service.pool
        pool.probes_blocked += 1

        def undo(_arg: object) -> None:
            pool.probes_blocked -= 1
        self._later(undo)

    def _release(self) -> None:
        """A bad version: through the service's canary (which may roll it back; else rolled back at the end), or
        without one to all traffic until the end."""
        chaos, service, now = self.chaos, self.service, self.loop.now
        error_rate = chaos.error_rate or 0.0
        factor = chaos.latency_factor if chaos.latency_factor is not None else 1.0
        until = now + chaos.duration_hours
        canary = service.spec.canary
        release: Release | DirectRelease
        if canary is not None:
            spec = canary.model_copy(update={"start": now, "error_rate": error_rate, "latency_factor": factor})
            release = Release(self.loop, spec, service.pool, service.measures, self.draws, until)
        else:
            release = DirectRelease(self.loop, now, until, error_rate, factor, service.measures, self.draws)
        service.bad_releases.append(release)

        def undo(_arg: object) -> None:
            service.bad_releases.remove(release)
        self._later(undo)

    def _surge(self) -> None:
        assert self.chaos.factor is not None  # required with traffic_surge
        factor, service, now = self.chaos.factor, self.service, self.loop.now
        until = now + self.chaos.duration_hours
        if factor > 1.0:
            Surge(self.loop, service, _scaled_arrivals(service, factor - 1.0), self.draws, now, until)
        elif factor < 1.0:
            keep = (factor, self.draws)
            service.thinning.append(keep)

            def undo(_arg: object) -> None:
                service.thinning = [k for k in service.thinning if k is not keep]
            self._later(undo)

    def _targets(self) -> list[Replica]:
        """The replicas an injection reaches: ``replicas`` of those the pool holds now, drawn from the injection's
        stream (a partial Fisher–Yates shuffle), or all of them."""
        active = list(self.service.pool.active)
        wanted = self.chaos.replicas
        if wanted is None or wanted >= len(active):
            return active
        for j in range(wanted):
            k = j + int(self.draws.uniform() * (len(active) - j))
            active[j], active[k] = active[k], active[j]
        return sorted(active[:wanted], key=_index)


class Surge:
    """Extra requests from ``start`` until ``until``, at the times of their own arrival process."""

    def __init__(self, loop: EventLoop, service: Service, arrivals: PoissonArrivals | DiurnalArrivals, draws: Draws,
                 start: float, until: float) -> None:
        self.loop = loop
        self.service = service
        self.until = until
        self.process = arrivals_of(arrivals, draws, start)
        self._next()

    def _next(self) -> None:
        time = self.process.next()
        if time < self.until:
            self.loop.at(time, self._arrive)

    def _arrive(self, _arg: object) -> None:
        if self.service.live:
            self.service.send_request(self.loop.now)
        self._next()


def _scaled_arrivals(service: Service, scale: float) -> PoissonArrivals | DiurnalArrivals:
    """The service's arrival process with its rate × ``scale`` (Poisson or diurnal: the cross checks refuse
    a surge above 1 of others)."""
    arrivals = service.spec.arrivals
    if isinstance(arrivals, PoissonArrivals):
        return arrivals.model_copy(update={"rate": arrivals.rate * scale})
    assert isinstance(arrivals, DiurnalArrivals)
    return arrivals.model_copy(update={"trough": arrivals.trough * scale, "peak": arrivals.peak * scale})


def _index(replica: Replica) -> int:
    return replica.index
