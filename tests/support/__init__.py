"""Shared helpers for the test suites and benchmarks (real servers, free ports)."""
