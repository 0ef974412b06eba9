"""Failure laws fitted to an incident log: what ``clustersim fit`` computes (no printing, no files).

Per failure mode of the log: its count, its rate per node-hour of the fleet (nodes x span, calendar hours) with
the exact 95 % Poisson interval (chi-square quantiles), and the MTTF per node (its inverse, the interval
inverted). For the mode's repair times: maximum-likelihood fits of the laws the scenario schema writes by mean
(exponential, weibull, lognormal, gamma), each with its log-likelihood, AIC, the Kolmogorov-Smirnov statistic and
p-value against the fitted law (optimistic: the law was fitted to the same data), and 95 % intervals for the
schema's own parameters (mean, shape, cv: Wald intervals from the observed information, on the log scale); the
law with the least AIC is the best.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from clustersim.incidents import Incident, parse_component

CONFIDENCE = 0.95
LAWS = ("exponential", "weibull", "lognormal", "gamma")
MIN_REPAIRS_TWO_PARAMETERS = 3  # fewer (or all equal): only the exponential is fitted


@dataclass(frozen=True)
class Interval:
    """A point estimate and its 95 % interval."""

    value: float
    low: float
    high: float

    def covers(self, x: float) -> bool:
        return self.low <= x <= self.high


@dataclass(frozen=True)
class LawFit:
    """One law fitted to a mode's repair times, its parameters in the schema's keys (hours for ``mean``)."""

    law: str
    parameters: dict[str, Interval]
    log_likelihood: float
    aic: float
    ks_statistic: float
    ks_p_value: float
    best: bool = False

    def schema_table(self) -> dict[str, object]:
        """The law as the scenario schema writes it: ``{dist = ..., mean = "... h", ...}``."""
        table: dict[str, object] = {"dist": self.law}
        for key, interval in self.parameters.items():
            table[key] = f"{interval.value:.6g} h" if key == "mean" else float(f"{interval.value:.6g}")
        return table


@dataclass(frozen=True)
class ModeFit:
    """What the log says of one failure mode."""

    mode: str
    count: int
    components: tuple[str, ...]   # the kinds of component it struck (node, rack, storage, switch, link)
    rate_per_node_hour: Interval
    mttf_hours: Interval
    repair_hours_mean: float
    repairs: list[LawFit] = field(default_factory=list)

    @property
    def best(self) -> LawFit | None:
        return next((fit for fit in self.repairs if fit.best), None)

    @property
    def node_mode(self) -> bool:
        """Did it strike nodes only (so it is a node failure mode, not a rack's, the fabric's or the store's)?"""
        return self.components == ("node",)


@dataclass(frozen=True)
class FitReport:
    """Every mode's fit, and the fleet it was observed on."""

    source: str
    nodes: int
    span_hours: float
    incidents: int
    modes: list[ModeFit]


def fit_incidents(incidents: list[Incident], nodes: int, span_hours: float, source: str) -> FitReport:
    """The fits of each mode of ``incidents`` (in the order modes first appear) on ``nodes`` nodes over
    ``span_hours``."""
    exposure = nodes * span_hours
    modes = []
    for mode in dict.fromkeys(i.mode for i in incidents):
        own = [i for i in incidents if i.mode == mode]
        repairs = np.array([i.repair_hours for i in own])
        kinds = tuple(sorted({parse_component(i.component).kind for i in own}))
        rate = poisson_rate(len(own), exposure)
        modes.append(ModeFit(mode, len(own), kinds, rate, _inverse(rate), float(repairs.mean()),
                             fit_repair_laws(repairs)))
    return FitReport(source, nodes, span_hours, len(incidents), modes)


def poisson_rate(count: int, exposure: float) -> Interval:
    """Events per unit of ``exposure`` with the exact (Garwood) interval: chi-square quantiles of 2k and 2k + 2."""
    alpha = 1.0 - CONFIDENCE
    low = stats.chi2.ppf(alpha / 2, 2 * count) / 2 if count > 0 else 0.0
    high = stats.chi2.ppf(1 - alpha / 2, 2 * count + 2) / 2
    return Interval(count / exposure, float(low) / exposure, float(high) / exposure)


def _inverse(rate: Interval) -> Interval:
    """The mean time between events of a rate, its interval inverted (no events: an unbounded mean)."""
    value = 1.0 / rate.value if rate.value > 0 else math.inf
    return Interval(value, 1.0 / rate.high, 1.0 / rate.low if rate.low > 0 else math.inf)


# --- repair laws ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Law:
    """A law in log-parameters θ (so every parameter stays positive): its ML start, its log-density, its cdf,
    and the schema's parameters as functions of θ."""

    start: Callable[[np.ndarray], np.ndarray]
    logpdf: Callable[[np.ndarray, np.ndarray], np.ndarray]
    cdf: Callable[[np.ndarray], Callable[[np.ndarray], np.ndarray]]
    schema: dict[str, Callable[[np.ndarray], float]]


def _weibull_start(x: np.ndarray) -> np.ndarray:
    shape, _, scale = stats.weibull_min.fit(x, floc=0)
    return np.log([shape, scale])


def _gamma_start(x: np.ndarray) -> np.ndarray:
    shape, _, scale = stats.gamma.fit(x, floc=0)
    return np.log([shape, scale])


def _lognormal_start(x: np.ndarray) -> np.ndarray:
    logs = np.log(x)
    return np.array([logs.mean(), math.log(max(logs.std(), 1e-12))])  # θ = (mu, ln sigma)


_LAWS: dict[str, _Law] = {
    "exponential": _Law(
        start=lambda x: np.log([x.mean()]),
        logpdf=lambda t, x: stats.expon.logpdf(x, scale=math.exp(t[0])),
        cdf=lambda t: lambda x: stats.expon.cdf(x, scale=math.exp(t[0])),
        schema={"mean": lambda t: math.exp(t[0])}),
    "weibull": _Law(
        start=_weibull_start,
        logpdf=lambda t, x: stats.weibull_min.logpdf(x, math.exp(t[0]), scale=math.exp(t[1])),
        cdf=lambda t: lambda x: stats.weibull_min.cdf(x, math.exp(t[0]), scale=math.exp(t[1])),
        schema={"shape": lambda t: math.exp(t[0]),
                "mean": lambda t: math.exp(t[1]) * math.gamma(1 + 1 / math.exp(t[0]))}),
    "lognormal": _Law(
        start=_lognormal_start,
        logpdf=lambda t, x: stats.lognorm.logpdf(x, math.exp(t[1]), scale=math.exp(t[0])),
        cdf=lambda t: lambda x: stats.lognorm.cdf(x, math.exp(t[1]), scale=math.exp(t[0])),
        schema={"mean": lambda t: math.exp(t[0] + math.exp(2 * t[1]) / 2),
                "cv": lambda t: math.sqrt(math.expm1(math.exp(2 * t[1])))}),
    "gamma": _Law(
        start=_gamma_start,
        logpdf=lambda t, x: stats.gamma.logpdf(x, math.exp(t[0]), scale=math.exp(t[1])),
        cdf=lambda t: lambda x: stats.gamma.cdf(x, math.exp(t[0]), scale=math.exp(t[1])),
        schema={"shape": lambda t: math.exp(t[0]), "mean": lambda t: math.exp(t[0] + t[1])}),
}


def fit_repair_laws(repairs: np.ndarray) -> list[LawFit]:
    """Every law that can be fitted to ``repairs`` (hours), the least AIC marked best."""
    two_parameters = len(repairs) >= MIN_REPAIRS_TWO_PARAMETERS and float(np.ptp(repairs)) > 0
    tried = [_fit(law, repairs) for law in LAWS if law == "exponential" or two_parameters]
    fits = [f for f in tried if f is not None]
    if not fits:
        return []
    best = min(range(len(fits)), key=lambda k: fits[k].aic)
    return [LawFit(**{**f.__dict__, "best": k == best}) for k, f in enumerate(fits)]


def _fit(name: str, x: np.ndarray) -> LawFit | None:
    """The ML fit of one law (None when it does not converge to finite numbers)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # scipy's optimiser probing far from the optimum
            return _fit_law(name, x)
    except (ValueError, ArithmeticError, RuntimeError, np.linalg.LinAlgError, stats.FitError):
        return None


def _fit_law(name: str, x: np.ndarray) -> LawFit | None:
    law = _LAWS[name]
    with np.errstate(all="ignore"):
        theta = law.start(x)
        log_likelihood = float(np.sum(law.logpdf(theta, x)))
        if not math.isfinite(log_likelihood):
            return None
        covariance = _covariance(lambda t: -float(np.sum(law.logpdf(t, x))), theta)
        parameters = {key: _interval(g, theta, covariance) for key, g in law.schema.items()}
        ks = stats.kstest(x, law.cdf(theta))
    aic = 2 * len(theta) - 2 * log_likelihood
    if not all(math.isfinite(v) for v in (aic, ks.statistic, *(i.value for i in parameters.values()))):
        return None
    return LawFit(name, parameters, log_likelihood, aic, float(ks.statistic), float(ks.pvalue))


def _covariance(nll: Callable[[np.ndarray], float], theta: np.ndarray) -> np.ndarray | None:
    """The inverse of the observed information (the Hessian of the negative log-likelihood at the ML point, by
    central differences); None when it is not positive definite."""
    k, h = len(theta), 1e-4
    hessian = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            hessian[i, j] = (nll(theta + ei + ej) - nll(theta + ei - ej) - nll(theta - ei + ej)
                             + nll(theta - ei - ej)) / (4 * h * h)
    try:
        covariance = np.linalg.inv(hessian)
    except np.linalg.LinAlgError:
        return None
    return covariance if np.all(np.linalg.eigvalsh((covariance + covariance.T) / 2) > 0) else None


def _interval(g: Callable[[np.ndarray], float], theta: np.ndarray, covariance: np.ndarray | None) -> Interval:
    """A positive parameter g(θ) with its Wald interval on the log scale (delta method; none without a
    covariance: the point alone)."""
    value = g(theta)
    if covariance is None or not value > 0:
        return Interval(value, math.nan, math.nan)
    h = 1e-6
    gradient = np.array([(math.log(g(theta + e)) - math.log(g(theta - e))) / (2 * h) for e in np.eye(len(theta)) * h])
    se = math.sqrt(max(float(gradient @ covariance @ gradient), 0.0))
    z = float(stats.norm.ppf(0.5 + CONFIDENCE / 2))
    return Interval(value, value * math.exp(-z * se), value * math.exp(z * se))


# --- what the fit writes ---------------------------------------------------------------------------

def failure_modes_toml(report: FitReport) -> str:
    """``[[nodes.failure_modes]]`` entries, ready to paste: time_to_failure exponential at the fitted MTTF,
    time_to_repair the best law by AIC; a mode that struck more than nodes is left as a comment."""
    lines = [f"# fitted by clustersim fit from {report.source}: {report.incidents} incidents on {report.nodes} "
             f"nodes over {report.span_hours:.6g} h", ""]
    for mode in report.modes:
        best = mode.best
        if not mode.node_mode or best is None or not math.isfinite(mode.mttf_hours.value):
            why = f"struck {', '.join(mode.components)}" if not mode.node_mode else "no repair law fitted"
            lines += [f"# {mode.mode}: not written as a node failure mode ({why}); see [[failure_domains]], "
                      "[network] and [storage]", ""]
            continue
        repair = ", ".join(f"{key} = {_toml_value(value)}" for key, value in best.schema_table().items())
        lines += ["[[nodes.failure_modes]]", f'name = "{mode.mode}"',
                  f"# {mode.count} failures: MTTF per node {mode.mttf_hours.value:.6g} h "
                  f"(95 % CI {mode.mttf_hours.low:.6g} .. {mode.mttf_hours.high:.6g} h)",
                  f'time_to_failure = {{dist = "exponential", mean = "{mode.mttf_hours.value:.6g} h"}}',
                  f"# repair: {best.law} by AIC {best.aic:.6g} (KS p = {best.ks_p_value:.3g})",
                  f"time_to_repair = {{{repair}}}", ""]
    return "\n".join(lines)


def _toml_value(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def fits_json(report: FitReport) -> dict[str, object]:
    """Every fit as JSON-ready data (intervals as {value, low, high}; an unbounded end as null)."""
    def interval(i: Interval) -> dict[str, float | None]:
        return {key: (v if math.isfinite(v) else None) for key, v in
                (("value", i.value), ("low", i.low), ("high", i.high))}

    return {
        "source": report.source, "nodes": report.nodes, "span_hours": report.span_hours,
        "incidents": report.incidents, "confidence": CONFIDENCE,
        "modes": [{
            "mode": m.mode, "count": m.count, "components": list(m.components),
            "rate_per_node_hour": interval(m.rate_per_node_hour), "mttf_hours": interval(m.mttf_hours),
            "repair_hours_mean": m.repair_hours_mean,
            "repair_laws": [{"law": f.law, "best": f.best, "parameters": {k: interval(v) for k, v in
                                                                          f.parameters.items()},
                             "log_likelihood": f.log_likelihood, "aic": f.aic, "ks_statistic": f.ks_statistic,
                             "ks_p_value": f.ks_p_value} for f in m.repairs],
        } for m in report.modes],
    }
