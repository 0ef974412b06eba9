"""Which scenario features the fast engine lacks, so it refuses them instead of approximating."""
from __future__ import annotations

from clustersim.scenario.schema import Scenario


def unsupported_features(scenario: Scenario) -> list[str]:
    """One readable phrase per feature ``scenario`` uses that the fast engine cannot run."""
    missing: list[str] = []
    if scenario.chaos:
        missing.append("chaos injections ([[chaos]])")
    return missing


def refusal(missing: list[str]) -> str:
    """The one-line message that refuses a scenario using the ``missing`` features."""
    return f'simulation.engine: the fast engine does not support: {", ".join(missing)}; use engine = "simpy"'
