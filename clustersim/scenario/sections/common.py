"""What every scenario section shares: the strict frozen ``Section`` base, its one problem check, common types.

A section states its cross-field checks in ``problems()``, one ``key: what is wrong`` line per problem,
the key relative to the section. The base's single after-validator runs them and raises one error of
type ``SECTION_PROBLEMS``; the loader writes each line under the section's own key path.
"""
from __future__ import annotations

import typing
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from clustersim.distributions import Distribution

Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", max_length=64)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Speed = Annotated[float, Field(gt=0.0, le=1.0, description="fraction of full speed")]

# Physical bounds: beyond any cluster, plan or machine, and inside every engine's int64 fields.
MAX_COUNT = 1_000_000            # nodes, GPUs in all, crews, spares, replications: the largest fleets are ~10^5 servers
MAX_GPUS_PER_NODE = 1024          # per server (today's have 4-16)
MAX_HORIZON_HOURS = 1000 * 8760.0  # a thousand years
MAX_SEED = 2**63 - 1
MAX_MULTIPLIER = 1e6
MAX_PRIORITY = 10**9
PositiveCount = Annotated[int, Field(gt=0, le=MAX_COUNT)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Multiplier = Annotated[float, Field(gt=0.0, le=MAX_MULTIPLIER)]
GpusPerNode = Annotated[int, Field(gt=0, le=MAX_GPUS_PER_NODE)]

# The pydantic error type of a section's problem lines (its message holds one ``key: problem`` per line).
SECTION_PROBLEMS = "section_problems"
# Validation context key: True checks the fields only, not problems() (the loader's fallback uses it).
FIELDS_ONLY = "fields_only"


def _fails_after_a_while(dist: Any) -> Any:
    """A time to failure needs a positive mean: a part that fails at once never works."""
    if not dist.mean_hours > 0:
        raise ValueError(f"time_to_failure must have a positive mean, got {dist.mean_hours!r} h")
    return dist


TimeToFailure = Annotated[Distribution, AfterValidator(_fails_after_a_while)]


class Section(BaseModel):
    """A table of the scenario file: unknown keys are errors, values are frozen, types strict."""

    # strict: "8" is not 8 and true is not 1; a scenario says what it means
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    def problems(self) -> list[str]:
        """Inconsistent combinations of this section's keys, as ``key: problem`` lines; none by default."""
        return []

    @model_validator(mode="after")
    def _no_problems(self, info: ValidationInfo) -> Section:
        """Raise every line of problems() at once, so the user sees all of them."""
        if info.context and info.context.get(FIELDS_ONLY):
            return self
        problems = self.problems()
        if problems:
            raise PydanticCustomError(SECTION_PROBLEMS, "{problems}", {"problems": "\n".join(problems)})
        return self


def only_with(key: str, value: Any, choice_key: str, chosen: str, needs: str, what: str) -> list[str]:
    """``key`` is required by ``choice_key = needs`` and refused by every other choice."""
    if chosen == needs and value is None:
        return [f'{key}: missing required key ({choice_key} = "{needs}" needs {what})']
    if chosen != needs and value is not None:
        return [f'{key}: applies to {choice_key} = "{needs}" only']
    return []


def repeated(names: list[str]) -> list[int]:
    """Positions of names that an earlier entry already has."""
    return [i for i, name in enumerate(names) if name in names[:i]]


def union_tags(union: Any) -> tuple[str, tuple[str, ...]]:
    """The discriminator key of a tagged union of models, and each member's tag in order."""
    members, field = typing.get_args(union)
    key = field.discriminator
    models = typing.get_args(members)
    return key, tuple(tag for model in models for tag in typing.get_args(model.model_fields[key].annotation))
