"""``[[abort]]``: stop starting ``[[chaos]]`` injections once a metric, measured in a window that has just
closed, crosses a bound — the abort conditions of chaos tools (Gremlin's halt, LitmusChaos' probes)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from clustersim.scenario.sections.common import Section

Comparator = Literal[">=", ">", "<=", "<"]


def compares(value: float, comparator: str, threshold: float) -> bool:
    """``value comparator threshold`` (a comparison of the schema: >=, >, <=, <)."""
    return {">=": value >= threshold, ">": value > threshold, "<=": value <= threshold,
            "<": value < threshold}[comparator]


class Abort(Section):
    """Injections stop once ``metric comparator threshold`` in a closed ``simulation.series_window`` window
    (those under way end as planned)."""

    metric: str = Field(description="a cluster metric the scenario measures, e.g. nodes.availability")
    comparator: Comparator = Field(description="the abort condition: how the window's value compares with "
                                               "threshold")
    threshold: Annotated[float, Field(allow_inf_nan=False)] = Field(description="the bound, in the metric's unit")

    def crossed(self, value: float | None) -> bool:
        """Does a window's ``value`` meet the abort condition? (An unmeasurable window does not.)"""
        return value is not None and value == value and compares(value, self.comparator, self.threshold)
