"""Time distributions of the scenario schema: validated, self-describing, able to sample.

Every distribution is a frozen pydantic model tagged by ``dist``; it knows its mean and
variance in hours (for analytic checks and reports) and builds a fast sampler bound to a
``numpy.random.Generator``. Parameters are given by mean (and shape or cv) because that is how
people think about failures; the conversions to the textbook parameters live here only.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import (
    AfterValidator, BaseModel, ConfigDict, Field, PositiveFloat, ValidationInfo, field_validator, model_validator,
)

from clustersim.input_files import (
    DATA_LIMIT_BYTES, InputFileError, excerpt, file_was_read, inline_file, read_input_text,
)
from clustersim.quantities import Duration, PositiveDuration
from clustersim.units import HOURS_PER_UNIT

HOURS_PER_YEAR = HOURS_PER_UNIT["y"]

Sampler = Callable[[], float]


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    @property
    def mean_hours(self) -> float:
        raise NotImplementedError

    @property
    def variance_hours2(self) -> float:
        raise NotImplementedError

    def sampler(self, rng: np.random.Generator) -> Sampler:
        """A zero-argument callable drawing one value in hours from ``rng``."""
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` independent draws in hours (vectorised where numpy allows)."""
        draw = self.sampler(rng)
        return np.array([draw() for _ in range(size)])

    @property
    def is_exponential(self) -> bool:
        return False


# Bounds of an annualised failure rate: once in a billion years, to once every ~3 s.
AFR_MIN, AFR_MAX = 1e-9, 1e7


def _plausible_afr(afr: float) -> float:
    if not AFR_MIN <= afr <= AFR_MAX:
        raise ValueError(f"must be from {AFR_MIN:g} (once in a billion years) to {AFR_MAX:g} failures per year, "
                         f"got {afr!r}")
    return afr


class Exponential(_Dist):
    """Memoryless; by ``mean`` or by ``afr`` (expected failures per year: mean = 8760 h / afr)."""

    dist: Literal["exponential"] = Field(description="exponential: memoryless; give mean or afr")
    mean: PositiveDuration | None = Field(default=None,
                                          description="the mean duration (or give afr: mean = 8760 h / afr)")
    afr: Annotated[PositiveFloat, AfterValidator(_plausible_afr)] | None = Field(
        default=None, description="annualised failure rate: failures per year")

    @model_validator(mode="before")
    @classmethod
    def _afr_to_mean(cls, data: object) -> object:
        if isinstance(data, dict):
            has_mean, has_afr = data.get("mean") is not None, data.get("afr") is not None
            if has_mean and has_afr:
                raise ValueError("exponential needs exactly one of 'mean' or 'afr', not both")
            afr = data.get("afr")
            # a bad afr stays in place, so the field check reports it under its own key
            if has_afr and not isinstance(afr, bool) and isinstance(afr, (int, float)) and AFR_MIN <= afr <= AFR_MAX:
                data = {k: v for k, v in data.items() if k != "afr"}
                data["mean"] = f"{HOURS_PER_YEAR / afr!r} h"
        return data

    @model_validator(mode="after")
    def _has_mean(self) -> Exponential:
        # checked after the fields, so a typo like 'meen' is reported as an unknown key instead
        if self.mean is None:
            raise ValueError("exponential needs exactly one of 'mean' or 'afr'")
        return self

    @property
    def mean_hours(self) -> float:
        assert self.mean is not None  # _has_mean
        return self.mean

    @property
    def variance_hours2(self) -> float:
        return self.mean_hours * self.mean_hours

    @property
    def is_exponential(self) -> bool:
        return True

    def sampler(self, rng: np.random.Generator) -> Sampler:
        return partial(rng.exponential, self.mean_hours)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.exponential(self.mean_hours, size)


class Weibull(_Dist):
    """Shape k (k < 1 infant mortality, k > 1 wear-out) and mean; scale = mean / Γ(1 + 1/k)."""

    dist: Literal["weibull"] = Field(description="weibull: shape and mean; scale = mean / Γ(1 + 1/shape)")
    shape: PositiveFloat = Field(
        description="k: below 1 infant mortality, 1 exponential, above 1 wear-out (at least 0.01)")
    mean: PositiveDuration = Field(description="the mean duration")

    @field_validator("shape")
    @classmethod
    def _shape_computable(cls, shape: float) -> float:
        try:
            math.gamma(1.0 + 1.0 / shape)
        except OverflowError:
            raise ValueError(f"shape {shape!r} is too small: the Weibull scale overflows (use shape >= 0.01)") from None
        return shape

    @property
    def scale_hours(self) -> float:
        return self.mean / math.gamma(1.0 + 1.0 / self.shape)

    @property
    def mean_hours(self) -> float:
        return self.mean

    @property
    def variance_hours2(self) -> float:
        k = self.shape
        try:
            second = math.gamma(1 + 2 / k)
        except OverflowError:
            return math.inf
        return self.scale_hours * self.scale_hours * (second - math.gamma(1 + 1 / k) ** 2)

    def sampler(self, rng: np.random.Generator) -> Sampler:
        scale, weibull, k = self.scale_hours, rng.weibull, self.shape
        return lambda: scale * weibull(k)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return self.scale_hours * rng.weibull(self.shape, size)


class Lognormal(_Dist):
    """Mean and coefficient of variation; sigma² = ln(1 + cv²), mu = ln(mean) − sigma²/2."""

    dist: Literal["lognormal"] = Field(
        description="lognormal: mean and cv; sigma² = ln(1 + cv²), mu = ln(mean) − sigma²/2")
    mean: PositiveDuration = Field(description="the mean duration")
    cv: PositiveFloat = Field(description="coefficient of variation: standard deviation / mean")

    @field_validator("cv")
    @classmethod
    def _cv_computable(cls, cv: float) -> float:
        if not math.isfinite(cv * cv):
            raise ValueError(f"cv {cv!r} is too large: the variance overflows")
        return cv

    @property
    def mu_sigma(self) -> tuple[float, float]:
        sigma2 = math.log1p(self.cv * self.cv)
        return math.log(self.mean) - sigma2 / 2.0, math.sqrt(sigma2)

    @property
    def mean_hours(self) -> float:
        return self.mean

    @property
    def variance_hours2(self) -> float:
        sd = self.cv * self.mean
        return sd * sd

    def sampler(self, rng: np.random.Generator) -> Sampler:
        return partial(rng.lognormal, *self.mu_sigma)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.lognormal(*self.mu_sigma, size)


class Gamma(_Dist):
    """Shape k and mean; scale = mean / k."""

    dist: Literal["gamma"] = Field(description="gamma: shape and mean; scale = mean / shape")
    shape: PositiveFloat = Field(description="k: variance = mean² / k")
    mean: PositiveDuration = Field(description="the mean duration")

    @property
    def mean_hours(self) -> float:
        return self.mean

    @property
    def variance_hours2(self) -> float:
        return self.mean * self.mean / self.shape

    def sampler(self, rng: np.random.Generator) -> Sampler:
        return partial(rng.gamma, self.shape, self.mean / self.shape)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.gamma(self.shape, self.mean / self.shape, size)


class Deterministic(_Dist):
    """Always ``value``."""

    dist: Literal["deterministic"] = Field(description="deterministic: always value")
    value: Duration = Field(description="the duration of every draw")

    @property
    def mean_hours(self) -> float:
        return self.value

    @property
    def variance_hours2(self) -> float:
        return 0.0

    def sampler(self, rng: np.random.Generator) -> Sampler:
        value = self.value
        return lambda: value

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.full(size, self.value)


class Uniform(_Dist):
    """Uniform on [low, high]."""

    dist: Literal["uniform"] = Field(description="uniform on [low, high]")
    low: Duration = Field(description="the shortest duration")
    high: Duration = Field(description="the longest duration, more than low")

    @field_validator("high")
    @classmethod
    def _ordered(cls, high: float, info: ValidationInfo) -> float:
        low = info.data.get("low")
        if low is not None and not high > low:
            raise ValueError(f"uniform needs high > low, got low = {low!r} h, high = {high!r} h")
        return high

    @property
    def mean_hours(self) -> float:
        return (self.low + self.high) / 2.0

    @property
    def variance_hours2(self) -> float:
        width = self.high - self.low
        return width * width / 12.0

    def sampler(self, rng: np.random.Generator) -> Sampler:
        return partial(rng.uniform, self.low, self.high)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, size)


class Empirical(_Dist):
    """Resampled with replacement from observed durations, given inline or as a CSV file.

    A file (one duration in hours per line, '#' comments allowed, path relative to the
    scenario) is read once at load time; the resolved scenario carries its samples inline.
    """

    dist: Literal["empirical"] = Field(description="empirical: resampled with replacement from samples (or a file)")
    samples: list[Duration] = Field(default_factory=list,
                                    description="observed durations, at least one positive; not with file")
    file: str | None = Field(default=None, description="a file of durations in hours, one per line, relative to "
                                                       "the scenario file; not with samples")

    @model_validator(mode="before")
    @classmethod
    def _read_file(cls, data: object, info: ValidationInfo) -> object:
        return inline_file(data, (info.context or {}).get("base_dir"), "samples",
                           "empirical needs exactly one of 'samples' (a list of durations) or 'file' (a CSV path), "
                           "not both", _samples_of)

    _file_was_read = field_validator("file", mode="before")(file_was_read)

    @field_validator("samples")
    @classmethod
    def _positive_mean(cls, samples: list[float]) -> list[float]:
        if not samples or sum(samples) <= 0:
            raise ValueError("empirical samples must include at least one positive duration")
        return samples

    @model_validator(mode="after")
    def _has_samples(self) -> Empirical:
        # checked after the fields, so a typo like 'sample' is reported as an unknown key instead
        if not self.samples:
            raise ValueError("empirical needs exactly one of 'samples' (a list of durations) or 'file' (a CSV path)")
        return self

    @property
    def mean_hours(self) -> float:
        return float(np.mean(self.samples))

    @property
    def variance_hours2(self) -> float:
        return float(np.var(self.samples))

    def sampler(self, rng: np.random.Generator) -> Sampler:
        values, n, integers = tuple(self.samples), len(self.samples), rng.integers
        return lambda: values[integers(n)]

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.asarray(self.samples)[rng.integers(len(self.samples), size=size)]



def _samples_of(path: Path) -> list[str]:
    """An empirical file's durations, as the duration strings the resolved scenario carries inline."""
    return [f"{h!r} h" for h in read_hours_file(path)]


def read_hours_file(path: Path) -> list[float]:
    """Durations in hours, one per line; raises ValueError naming the file and line (never echoing
    more of the file than a short typed value)."""
    try:
        lines = read_input_text(path, DATA_LIMIT_BYTES).splitlines()
    except InputFileError as err:
        raise ValueError(f"cannot read empirical file {str(path)!r}: {err}") from None
    hours: list[float] = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip().rstrip(",")
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            shown = excerpt(text)
            got = f", got {shown}" if shown else f" (a line of {len(text)} characters)"
            raise ValueError(f"{path.name} line {number}: expected a duration in hours{got}") from None
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(f"{path.name} line {number}: durations must be non-negative, got {text!r}")
        hours.append(value)
    if not hours:
        raise ValueError(f"empirical file {str(path)!r} holds no durations")
    if not sum(hours) > 0:
        raise ValueError(f"empirical file {str(path)!r} must include at least one positive duration")
    return hours

Distribution = Annotated[
    Exponential | Weibull | Lognormal | Gamma | Deterministic | Uniform | Empirical,
    Field(discriminator="dist"),
]
