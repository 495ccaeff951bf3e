"""Benchmarks (``make bench``): speed and quality targets, never run in CI."""
