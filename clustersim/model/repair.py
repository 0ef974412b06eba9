"""The repair shop: what happens to a node after one of its own parts fails.

After ``repair.detection`` the failure is acted on by its mode's ``recovery``:

- ``reboot``: the node restarts for ``time_to_repair``, no crew, no diagnosis; the fault is gone.
- ``replace`` and ``pipeline`` go to diagnosis first. With probability ``1 − diagnosis.probability``
  the failure is not diagnosed: the node is rebooted (``diagnosis.reboot_time``) and returns with
  its fault in place. Otherwise, with probability ``diagnosis.wrong_node``, an innocent working
  node is blamed: it is taken out and repaired, while the faulty node returns at once with its
  fault in place. Otherwise the node itself is repaired:
  ``replace`` by one of ``repair.crews`` for ``time_to_repair``; ``pipeline`` through
  ``[[repair.stages]]`` in order — each stage queues FIFO for its own crews, takes its ``time``,
  then hands the node on with probability ``escalate``, or reports success, which with
  probability ``false_success`` leaves the fault in place.

A fault left in place recurs after ``repair.recurrence`` operating hours (see ``clocks``), or with
``fault_left_in_place = "uncured"`` has no effect beyond keeping a lemon a lemon. Every
failure attributed to a node (its own detected failures, and blame for another's) counts in its
history; when its recovery ends the retirement policy decides whether it returns to service.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from clustersim.distributions import Distribution
from clustersim.model.records import EventCode, Kind, RepairState
from clustersim.model.base import Blame, Context
from clustersim.model.clocks import NodeClocks
from clustersim.model.nodes import Crews, Node, NodeHolds
from clustersim.model.policies import NodeScorer, RetirementPolicy
from clustersim.scenario.schema import FailureMode, Scenario

R_OK, R_FAILED, R_WAITING, R_REPAIRING, R_REBOOTING, R_RETIRED = (s.value for s in RepairState)
REPAIR, EVENT, LEMON = Kind.REPAIR.value, Kind.EVENT.value, Kind.LEMON.value
STAGE_ENTERED, ESCALATED, FALSE_SUCCESS, UNDIAGNOSED, MISDIAGNOSED, RECURRED = (c.value for c in (
    EventCode.STAGE_ENTERED, EventCode.ESCALATED, EventCode.FALSE_SUCCESS, EventCode.UNDIAGNOSED,
    EventCode.MISDIAGNOSED, EventCode.RECURRED))


@dataclass(frozen=True, slots=True)
class Stage:
    """One step of a recovery: a crew pool, a time law, and its outcome probabilities."""

    crews: Crews
    time: Distribution
    escalate: float
    false_success: float
    cause: int          # the cause code its EVENT rows carry; -1 for a plain "replace" repair


class RepairShop:
    """Detection, diagnosis, repair stages and the retirement decision for every node."""

    def __init__(self, ctx: Context, scenario: Scenario, holds: NodeHolds, crew_pools: list[Crews],
                 retirement: RetirementPolicy, scorer: NodeScorer | None,
                 pick_innocent: Callable[[Node], Node | None], set_speed: Callable[[Node, float], None],
                 on_retired: Callable[[Node], None]):
        self.ctx = ctx
        self.holds = holds
        self.retirement = retirement
        self.scorer = scorer
        self.pick_innocent = pick_innocent
        self.set_speed = set_speed
        self.on_retired = on_retired
        repair = scenario.repair
        self.detection_hours = repair.detection
        self.straggler_hours = repair.straggler_detection or 0.0
        self.diagnosis = repair.diagnosis
        self.recurrence = repair.recurrence if repair.recurs else None
        self.cure_lemons = scenario.nodes.lemon_cured_by_repair
        self.modes = scenario.nodes.failure_modes
        pipeline = [Stage(crew_pools[1 + s], stage.time, stage.escalate, stage.false_success, scenario.stage_cause(s))
                    for s, stage in enumerate(repair.stages)]
        self.stages_of = [pipeline if mode.recovery == "pipeline" else [_crew_stage(crew_pools[0], mode)]
                          for mode in self.modes]

    def _set_state(self, node: Node, to: int, cause: int) -> None:
        self.ctx.record((self.ctx.env.now, REPAIR, node.index, node.repair_state, to, cause))
        node.repair_state = to

    def _event(self, node: Node, code: int, cause: int) -> None:
        self.ctx.record((self.ctx.env.now, EVENT, node.index, 0, code, cause))

    def _blame(self, node: Node) -> None:
        node.blamed_times.append(self.ctx.env.now)
        if self.scorer is not None:
            self.scorer.blamed(node)

    def after_failure(self, node: Node, mode: int, recurred: bool, cause: int | None = None):
        """SimPy sub-process: ``node``'s part of ``mode`` has just failed (a recurrence if ``recurred``); the
        failure and the node's going down are recorded under ``cause`` (a chaos injection's; default the mode),
        the repair's states and events under the mode."""
        env = self.ctx.env
        failure_cause = mode if cause is None else cause
        self._set_state(node, R_FAILED, mode)
        if recurred:
            self._event(node, RECURRED, mode)
        failure_mode = self.modes[mode]
        if failure_mode.effect == "crash":
            self.holds.strike(node, failure_cause)
            if self.detection_hours > 0:
                yield env.timeout(self.detection_hours)
        else:
            yield from self._gray_failure(node, mode, failure_cause)
        if failure_mode.recovery == "reboot":
            self._blame(node)
            self._set_state(node, R_REBOOTING, mode)
            yield env.timeout(node.draw(failure_mode.time_to_repair))
            self._finish(node, mode)
            return
        diagnosis, rng = self.diagnosis, node.rng
        if diagnosis.probability < 1 and rng.random() >= diagnosis.probability:
            yield from self._reboot_undiagnosed(node, mode)
            return
        if diagnosis.wrong_node > 0 and rng.random() < diagnosis.wrong_node:
            innocent = self.pick_innocent(node)
            if innocent is not None:
                self._blame_innocent(node, innocent, mode)
                return
        self._blame(node)
        fixed = yield from self._repair(node, mode)
        if fixed:
            _clocks(node).clear_fault(mode)
            if self.cure_lemons and node.lemon:
                self._cure(node)
        else:
            self._leave_fault(node, mode)
        self._finish(node, mode)

    def _gray_failure(self, node: Node, mode: int, cause: int):
        """A slow node runs at its speed until noticed as a straggler and taken out; a leaking one
        runs at its speed until it crashes, which is then detected like any crash."""
        env, failure_mode = self.ctx.env, self.modes[mode]
        self.holds.count_failure(node, cause)
        self.set_speed(node, failure_mode.degraded_speed)
        if failure_mode.effect == "slow":
            if self.straggler_hours > 0:
                yield env.timeout(self.straggler_hours)
            self.set_speed(node, 1.0)
            self.holds.strike(node, cause, counted=False, noticed=True)
            return
        yield env.timeout(node.draw(failure_mode.time_to_crash))
        self.set_speed(node, 1.0)
        self.holds.strike(node, cause, counted=False)
        if self.detection_hours > 0:
            yield env.timeout(self.detection_hours)

    def after_blame(self, node: Node, mode: int):
        """SimPy sub-process: an up, innocent ``node`` is blamed for a failure of ``mode`` elsewhere."""
        node.blame_pending = False
        self.holds.strike(node, mode, counted=False, noticed=True)
        self._blame(node)
        yield from self._repair(node, mode, real_fault=False)  # no fault: what the stages conclude changes nothing
        self._finish(node, mode)

    def _reboot_undiagnosed(self, node: Node, mode: int):
        self._event(node, UNDIAGNOSED, mode)
        self._set_state(node, R_REBOOTING, mode)
        hours = node.draw(self.diagnosis.reboot_time)
        if hours > 0:
            yield self.ctx.env.timeout(hours)
        self._leave_fault(node, mode)
        self._set_state(node, R_OK, mode)
        self.holds.release(node)

    def _blame_innocent(self, node: Node, innocent: Node, mode: int) -> None:
        """The faulty node returns at once with its fault in place; the innocent is taken out."""
        self._event(innocent, MISDIAGNOSED, mode)
        self._leave_fault(node, mode)
        self._set_state(node, R_OK, mode)
        self.holds.release(node)
        innocent.blame_pending = True
        assert innocent.process is not None  # an operating node runs its life
        innocent.process.interrupt(Blame(mode))

    def _repair(self, node: Node, mode: int, real_fault: bool = True):
        """Through the mode's stages; returns whether the fault was truly fixed."""
        env, rng = self.ctx.env, node.rng
        for stage in self.stages_of[mode]:
            self._set_state(node, R_WAITING, mode)
            if stage.cause >= 0:
                self._event(node, STAGE_ENTERED, stage.cause)
            crews = stage.crews
            if crews.limit is not None:
                yield crews.request()
                self._set_state(node, R_REPAIRING, mode)
                crews.set_busy(crews.busy + 1)
                yield env.timeout(node.draw(stage.time))
                crews.set_busy(crews.busy - 1)
                crews.release()
            else:
                self._set_state(node, R_REPAIRING, mode)
                yield env.timeout(node.draw(stage.time))
            if stage.escalate > 0 and rng.random() < stage.escalate:
                self._event(node, ESCALATED, stage.cause)
                continue
            if stage.false_success > 0 and rng.random() < stage.false_success:
                if real_fault:
                    self._event(node, FALSE_SUCCESS, stage.cause)
                return False
            return True
        return True

    def _leave_fault(self, node: Node, mode: int) -> None:
        """The fault of ``mode`` stays: it recurs after ``recurrence`` (or, if faults left in place do
        not recur, it only keeps a lemon a lemon)."""
        if self.recurrence is not None:
            _clocks(node).leave_fault(mode, node.draw(self.recurrence))

    def _cure(self, node: Node) -> None:
        node.lemon = False
        _clocks(node).set_lemon(False)
        self.ctx.record((self.ctx.env.now, LEMON, node.index, 1, 0, -1))

    def _finish(self, node: Node, mode: int) -> None:
        """The recovery is over: back into service, or retired for good (held down forever)."""
        if self.retirement.should_retire(node, self.ctx.env.now):
            self._set_state(node, R_RETIRED, mode)
            node.role = "retired"
            self.on_retired(node)
            return
        self._set_state(node, R_OK, mode)
        self.holds.release(node)


def _crew_stage(crews: Crews, mode: FailureMode) -> Stage:
    """The one stage of a mode that the pipeline does not repair: one of ``crews`` for its time_to_repair."""
    assert mode.time_to_repair is not None  # required unless recovery = "pipeline" (FailureMode.problems)
    return Stage(crews, mode.time_to_repair, 0.0, 0.0, -1)


def _clocks(node: Node) -> NodeClocks:
    """The failure clocks of a node whose own part failed (node_life starts them before its first failure)."""
    assert node.clocks is not None
    return node.clocks
