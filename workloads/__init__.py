"""Workloads: what one task does against the database. One file per workload; see bench/workload.py."""
