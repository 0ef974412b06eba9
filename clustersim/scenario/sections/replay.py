"""``[replay]``: a fleet's incident log replayed in the run — on top of the modelled failures, or alone.

The log (``file``, a CSV relative to the scenario file: ``clustersim.incidents`` reads and checks it) becomes the
inline ``incidents`` of the resolved scenario, each keeping its row, so a message about a row that names a part
the cluster lacks (a cross check) names the file and the row.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from clustersim.incidents import COMPONENT, RESERVED_MODES, IncidentLogError, read_incidents
from clustersim.input_files import Unreadable, file_was_read
from clustersim.quantities import Duration
from clustersim.scenario.sections.common import MAX_HORIZON_HOURS, Name, Section

ComponentName = Annotated[str, Field(pattern=COMPONENT.pattern, max_length=64)]


class Incident(Section):
    """One incident: ``component`` down at ``time`` for ``repair_hours``, counted as a failure of ``mode``."""

    time: Duration = Field(description="when it went down, from the run's start")
    component: ComponentName = Field(description="node12, rack/3, storage/2, a switch (spine/1) or a link "
                                                 "(leaf/0~spine/1) of [network]")
    mode: Name = Field(description="its failure cause: a nodes.failure_modes name counts under that mode; any "
                                   "other name is a cause of its own")
    repair_hours: Annotated[float, Field(gt=0.0, le=MAX_HORIZON_HOURS)] = Field(
        description="how long it stayed down, in hours")
    row: Annotated[int, Field(ge=1, le=2**31)] | None = Field(
        default=None, description="the row of `source` it was read from (messages name it); omitted when written "
                                  "inline")


class Replay(Section):
    """The incidents of a log, each taking its component down at its time for its repair hours."""

    file: str | None = Field(default=None, description="a CSV of incidents (time, component, mode, repair_hours), "
                                                       "relative to the scenario file; not with incidents")
    mode: Literal["on_top", "alone"] = Field(
        default="on_top", description="on_top: the incidents happen besides the modelled failures; alone: the "
                                      "modelled failures are switched off (node failure modes, failure domains, "
                                      "the fabric's and the store's failure laws), [[chaos]] still happens")
    source: str | None = Field(default=None, description="the file the incidents were read from (set when `file` "
                                                         "is read; messages name it)")
    incidents: list[Incident] = Field(default_factory=list, description="the incidents (read from `file`, "
                                      "written inline in the resolved scenario)")

    @model_validator(mode="before")
    @classmethod
    def _read_file(cls, data: Any, info: ValidationInfo) -> Any:
        """Read the log (relative to the scenario) once; the resolved scenario carries its incidents inline."""
        if not isinstance(data, dict) or not isinstance(data.get("file"), str):
            return data
        if "incidents" in data:
            raise ValueError("replay needs exactly one of 'file' (a CSV path) or 'incidents', not both")
        base_dir = (info.context or {}).get("base_dir", Path.cwd())
        try:
            incidents = read_incidents(Path(base_dir) / data["file"], data["file"])
        except IncidentLogError as err:
            return {**data, "file": Unreadable(str(err))}
        inline = [{"time": f"{i.time_hours!r} h", "component": i.component, "mode": i.mode,
                   "repair_hours": i.repair_hours, "row": i.row} for i in incidents]
        return {**{k: v for k, v in data.items() if k != "file"}, "source": data["file"], "incidents": inline}

    _file_was_read = field_validator("file", mode="before")(file_was_read)

    def problems(self) -> list[str]:
        """A replay replays something; a mode name the job metrics use is refused."""
        if not self.incidents:
            return ["file: missing (a CSV of incidents: time, component, mode, repair_hours)"]
        return [f"{self.where(i, 'mode')}: {incident.mode!r} is reserved (the job metrics' own cause names: "
                f"{', '.join(RESERVED_MODES)})" for i, incident in enumerate(self.incidents)
                if incident.mode in RESERVED_MODES]

    def where(self, index: int, column: str) -> str:
        """How a message names incident ``index``'s ``column``: its file and row, or its inline key."""
        incident = self.incidents[index]
        if self.source is not None and incident.row is not None:
            return f"file: {self.source} row {incident.row}, column {column}"
        return f"incidents[{index}].{column}"

    def own_causes(self, failure_modes: list[str]) -> list[str]:
        """The modes of the log that are not failure modes, each once, in the order they first appear."""
        known = set(failure_modes)
        return [mode for mode in dict.fromkeys(i.mode for i in self.incidents) if mode not in known]
