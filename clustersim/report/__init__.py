"""Outputs of a run: summary.json, replications.csv, the resolved scenario, events.parquet."""
