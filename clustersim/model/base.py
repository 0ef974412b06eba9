"""What every component shares: the environment, the record stream and typed failure causes."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import simpy

Record = Callable[[tuple], None]  # takes one row; rows come in time order (the engine measures them as they come)


@dataclass(frozen=True, slots=True)
class Failure:
    """The cause an interrupt carries when a component's failure stops a process."""

    cause: int      # index into Scenario.cause_names
    node: int       # the node that went down
    noticed: bool = False  # already known (taken out deliberately): no detection delay before acting


@dataclass(frozen=True, slots=True)
class Blame:
    """The cause an interrupt carries when a node is wrongly blamed for another node's failure."""

    mode: int       # the failure mode it is blamed for


@dataclass(frozen=True, slots=True)
class GroupFailure:
    """The cause an interrupt carries when a computing-aged mode fails a node in its job's group (model/load.py)."""

    mode: int
    recurred: bool  # a fault left in place struck again


@dataclass(frozen=True, slots=True)
class Injected:
    """The cause an interrupt carries when a chaos injection fails a node's part of ``mode`` (gpu_fault,
    model/injections.py): repaired as that mode's own failure, recorded under the injection's ``cause``."""

    mode: int
    cause: int


@dataclass(slots=True)
class Context:
    """The shared run state a component needs: env and the record stream to hand rows to."""

    env: simpy.Environment
    record: Record  # hands on one (time, kind, component, from, to, cause) row
