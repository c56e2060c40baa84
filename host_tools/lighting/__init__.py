"""Street-lighting host tools: night simulation of the firmware's control modules, scoring,
benchmarks (docs/lighting.md)."""
