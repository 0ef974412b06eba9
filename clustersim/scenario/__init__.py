"""Scenario files: schema (defaults and checks), loading, overrides."""
from clustersim.scenario.load import load_scenario, scenario_from_dict, dump_scenario_toml
from clustersim.scenario.schema import Scenario

__all__ = ["Scenario", "load_scenario", "scenario_from_dict", "dump_scenario_toml"]
