"""``[simulation]``: horizon, warm-up, seed, engine, and how many replications (fixed or adaptive)."""
from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from clustersim import units
from clustersim.errors import UnitError
from clustersim.quantities import Duration, PositiveDuration
from clustersim.scenario.sections.common import MAX_HORIZON_HOURS, MAX_SEED, PositiveCount, Section

FIXED_REPLICATIONS = 20
MAX_SERIES_WINDOWS = 2000  # each window measures every metric of the plan: beyond this, a slip (minutes for hours)
MIN_REPLICATIONS = 10
MAX_REPLICATIONS = 1000

_ADAPTIVE_ONLY = "only meaningful with precision: set simulation.precision or remove this key"


class Simulation(Section):
    """How long, how often and with which engine the scenario runs.

    Two modes: a fixed number of ``replications`` (default 20), or, with ``precision``, as many
    replications as the ``precision_metrics`` need (between ``min_replications`` and
    ``max_replications``). Each mode's keys are errors in the other, never ignored, and only the
    mode's own keys get defaults, so the resolved scenario loads back equal in either mode.
    ``precision`` is declared before the keys that depend on it, so their checks can read it.
    """

    horizon: PositiveDuration = Field(default=365 * 24.0, description="simulated time per replication, at most 1000 y")
    warmup: Duration = Field(default=0.0, description="statistics ignore [0, warmup)")
    precision: Annotated[float, Field(gt=0, lt=1)] | None = Field(
        default=None, description="target half-width / |mean| of the 95 % interval; set = adaptive replications"
    )
    replications: PositiveCount | None = Field(
        default=None, description=f"replications to run; default {FIXED_REPLICATIONS}, not with precision"
    )
    precision_metrics: list[str] | None = Field(
        default=None, description="metrics that must reach precision (with precision)"
    )
    min_replications: Annotated[int, Field(ge=2)] | None = Field(
        default=None, validate_default=True,
        description=f"replications before the first stopping check; default {MIN_REPLICATIONS} (with precision)",
    )
    max_replications: PositiveCount | None = Field(
        default=None, validate_default=True,
        description=f"stop here even if not converged; default {MAX_REPLICATIONS} (with precision)",
    )
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] = Field(
        default=1, description="base random seed; every stream derives from it"
    )
    engine: Literal["simpy", "fast"] = Field(
        default="simpy", description="simpy: the reference model; fast: numba kernels (no chaos, gray failures)"
    )
    serving: Literal["auto", "requests", "hybrid"] = Field(
        default="auto", description="how inference services are simulated: requests (every request), hybrid "
        "(requests only in windows around capacity changes, stationary samples between), auto (hybrid beyond "
        "5,000,000 expected requests per replication)"
    )
    serving_sample_requests: Annotated[int, Field(ge=1000, le=10_000_000)] = Field(
        default=20_000, description="requests the hybrid technique simulates for each stationary configuration"
    )
    series_window: PositiveDuration | None = Field(
        default=None, description="also measure every metric per window of this length (series.csv; a chaos "
        f"experiment's timeline); at most {MAX_SERIES_WINDOWS} windows"
    )

    @model_validator(mode="before")
    @classmethod
    def _fixed_replications_default(cls, data: Any) -> Any:
        """Without precision, replications defaults to 20; with it, it stays None (the run decides)."""
        if isinstance(data, dict) and data.get("precision") is None and data.get("replications") is None:
            return {**data, "replications": FIXED_REPLICATIONS}
        return data

    @field_validator("horizon", mode="before")
    @classmethod
    def _within_any_plan(cls, value: Any) -> Any:
        """A horizon past a thousand years is a slip (years for days), refused before anything is built."""
        try:
            hours = units.parse_duration_hours(value)
        except UnitError:
            return value  # the duration type names what is wrong with it
        if hours > MAX_HORIZON_HOURS:
            raise ValueError(f"must be at most 1000 y, got {value!r}")
        return value

    @field_validator("min_replications", "max_replications")
    @classmethod
    def _adaptive_bound_default(cls, bound: int | None, info: ValidationInfo) -> int | None:
        """With precision an omitted bound takes its default (10, 1000); without, it stays None."""
        if bound is not None or info.data.get("precision") is None:
            return bound
        return MIN_REPLICATIONS if info.field_name == "min_replications" else MAX_REPLICATIONS

    def problems(self) -> list[str]:
        """The warm-up ends before the horizon, and each replication mode gets its own keys only."""
        problems = []
        if self.warmup >= self.horizon:
            problems.append(f"warmup: warmup ({self.warmup!r} h) must be shorter than horizon ({self.horizon!r} h)")
        elif self.series_window is not None and (self.horizon - self.warmup) / self.series_window > MAX_SERIES_WINDOWS:
            problems.append(f"series_window: {self.series_window!r} h makes more than {MAX_SERIES_WINDOWS} windows "
                            f"of [warmup, horizon) ({self.horizon - self.warmup!r} h)")
        return problems + (self._adaptive_problems() if self.adaptive else self._fixed_problems())

    def _fixed_problems(self) -> list[str]:
        """Without precision, the adaptive keys would be ignored."""
        keys = ("precision_metrics", "min_replications", "max_replications")
        return [f"{key}: {_ADAPTIVE_ONLY}" for key in keys if getattr(self, key) is not None]

    def _adaptive_problems(self) -> list[str]:
        """With precision, the run decides the count: it needs metrics to judge and consistent bounds."""
        problems = []
        if self.replications is not None:
            problems.append("replications: cannot be combined with precision; "
                            "use min_replications / max_replications with precision")
        problems += [f"precision_metrics: {line}" for line in self._metric_problems(self.precision_metrics)]
        least, most = self.min_replications, self.max_replications
        assert least is not None and most is not None  # the adaptive defaults are filled in by validation
        if most < least and "max_replications" not in self.model_fields_set:
            problems.append(f"max_replications: the default {MAX_REPLICATIONS} is less than min_replications "
                            f"({least}); set it to at least {least}")
        elif most < least:
            problems.append(f"max_replications: {most} is less than min_replications ({least})")
        return problems

    @staticmethod
    def _metric_problems(metrics: list[str] | None) -> list[str]:
        """precision needs at least one metric to judge, each named once."""
        if metrics is None:
            return ['required with precision: the metrics it applies to, e.g. ["nodes.availability"]']
        if not metrics:
            return ['must name at least one metric, e.g. ["nodes.availability"]']
        repeated = sorted({name for name in metrics if metrics.count(name) > 1})
        return [f"{', '.join(map(repr, repeated))} listed more than once"] if repeated else []

    def series_windows(self) -> list[tuple[float, float]]:
        """The windows of ``series_window`` over [warmup, horizon), the last one cut at the horizon (none
        without a series_window)."""
        width = self.series_window
        if width is None:
            return []
        count = max(1, math.ceil((self.horizon - self.warmup) / width - 1e-9))
        return [(self.warmup + w * width, min(self.horizon, self.warmup + (w + 1) * width)) for w in range(count)]

    @property
    def adaptive(self) -> bool:
        """Does the run choose its replication count to reach ``precision``?"""
        return self.precision is not None

    @property
    def replications_limit(self) -> int:
        """The most replications this run can take: ``replications``, or ``max_replications`` when adaptive."""
        limit = self.max_replications if self.adaptive else self.replications
        assert limit is not None  # the mode's default is filled in before validation
        return limit
