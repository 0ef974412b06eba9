"""Scenario files: schema (defaults and checks), loading, overrides."""
from clustersim.scenario.load import dump_scenario_toml, load_scenario, scenario_from_dict
from clustersim.scenario.schema import Scenario

__all__ = ["Scenario", "dump_scenario_toml", "load_scenario", "scenario_from_dict"]
