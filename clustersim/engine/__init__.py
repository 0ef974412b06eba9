"""Engines turn a Scenario into per-replication outcomes (engine/base.py); the SimPy engine also keeps the
state-change log of model/records.py."""
