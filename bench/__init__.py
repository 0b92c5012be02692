"""Benchmarks (not timed tests): every figure is reported next to a baseline measured in the same run."""
