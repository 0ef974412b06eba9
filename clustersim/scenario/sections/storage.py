"""``[storage]``: replicated storage that holds checkpoints and model weights.

``servers`` storage servers sit in the cluster's racks (server i in rack i mod racks), so rack and
power domains and the network reach them. ``objects`` objects of ``object_size`` each keep
``replication`` replicas on distinct servers; reads need one live replica, writes ``write_quorum``.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from clustersim.distributions import Distribution
from clustersim.quantities import Duration, PositiveBandwidth, PositiveSize
from clustersim.scenario.sections.common import PositiveCount, Section, TimeToFailure


class Storage(Section):
    """Servers, objects and replicas, their placement, failures and re-replication."""

    servers: PositiveCount = Field(description="storage servers, placed round-robin over the racks")
    replication: PositiveCount = Field(default=3, description="replicas of each object, on distinct servers")
    write_quorum: PositiveCount | None = Field(
        default=None, description="live replicas a write needs (1 = eventual, a majority = strong); "
                                  "default: a majority of replication")
    objects: PositiveCount = Field(default=1000, description="objects (checkpoint shards, weights)")
    object_size: PositiveSize = Field(default=10.0, description="each object's size")
    placement: Literal["random", "rack_aware"] = Field(
        default="rack_aware", description="random: any distinct servers; rack_aware: no two replicas of an "
                                          "object in one rack")
    time_to_failure: TimeToFailure = Field(description="each server's time from its return to its next failure")
    time_to_repair: Distribution = Field(description="a failed server is back (empty, if failure_loses_data) "
                                                     "after this")
    failure_loses_data: bool = Field(
        default=True, description="true: a failed server returns empty (its replicas are gone); "
                                  "false: its replicas are only unreachable while it is down")
    rereplication: bool = Field(default=True, description="copy each lost replica to a live server holding none")
    bandwidth: PositiveBandwidth = Field(default=0.2, description="copy bandwidth of one server (a copy takes "
                                                                 "object_size / bandwidth)")
    copy_time: Distribution | None = Field(
        default=None, description="the time one copy takes, as a law; default: object_size / bandwidth exactly")
    rereplication_delay: Duration = Field(
        default=600.0 / 3600.0, description="a replica is copied this long after it is destroyed, or after its "
                                            "server went down and stayed down (Ceph marks an OSD out after 600 s)")
    max_concurrent_copies: PositiveCount = Field(
        default=4, description="copies one server sends or receives at once (Ceph: osd_max_backfills)")

    def problems(self) -> list[str]:
        """Replicas need distinct servers; a write quorum is at most the replicas."""
        problems = []
        if self.replication > self.servers:
            problems.append(f"replication: {self.replication} replicas need as many servers, servers = {self.servers}")
        if self.write_quorum is not None and self.write_quorum > self.replication:
            problems.append(f"write_quorum: {self.write_quorum} is more than replication = {self.replication}")
        if self.copy_time is not None and not self.rereplication:
            problems.append("copy_time: applies with rereplication = true only")
        return problems

    @property
    def quorum(self) -> int:
        """Live replicas a write needs: write_quorum, else a majority."""
        return self.write_quorum if self.write_quorum is not None else self.replication // 2 + 1

    @property
    def copy_hours(self) -> float:
        """The mean time of one copy."""
        if self.copy_time is not None:
            return self.copy_time.mean_hours
        return self.object_size / self.bandwidth / 3600.0
