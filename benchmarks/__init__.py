"""Benchmarks: run each as `python -m benchmarks.NAME` from the repository root; each prints a JSON line last."""
