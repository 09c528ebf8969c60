"""Benchmark scripts: run by hand, print figures, assert nothing."""
