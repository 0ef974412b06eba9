"""Engine choice: the engine a scenario asks for, refused at once when it cannot run the scenario."""
from __future__ import annotations

from clustersim.engine.base import Engine
from clustersim.errors import ClusterSimError
from clustersim.scenario.schema import Scenario


def engine_for(scenario: Scenario) -> Engine:
    """The engine the scenario asks for; refuses one this version does not have or cannot run it."""
    engine = scenario.simulation.engine
    if engine == "simpy":
        from clustersim.engine.simpy_engine import SimpyEngine

        return SimpyEngine()
    if engine == "fast":
        from clustersim.engine.fast.support import refusal, unsupported_features

        missing = unsupported_features(scenario)
        if missing:
            raise ClusterSimError(refusal(missing))
        from clustersim.engine.fast.engine import FastEngine

        return FastEngine()
    raise ClusterSimError(f"simulation.engine: the {engine!r} engine is not available in this version; use \"simpy\"")
