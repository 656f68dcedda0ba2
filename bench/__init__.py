"""Benchmarks: moorage against the engine's own API, same load generator."""
