"""Benchmarks printed as JSON (``safetybox bench ...``); never timed unit tests."""
