"""Benchmarks: poolgate against the direct path, a minimal proxy floor and LiteLLM."""
