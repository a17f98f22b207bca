"""Benchmarks of vangnet (issue #5). Scripts, not tests: see docs/benchmarks.md."""
