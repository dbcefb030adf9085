"""Benchmarks: scripts that print their figures and record them in docs/benchmarks.md."""
