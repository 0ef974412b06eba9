"""Engines turn a Scenario into per-replication records; both emit the schema of records.py."""
