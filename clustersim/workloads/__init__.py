"""Workloads that run on the cluster: training jobs (inference services come later)."""
