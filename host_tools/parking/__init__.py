"""Host tools for the parking sensor: trace I/O, replay, scoring, a trace simulator, benchmarks.

Trace format: ``../shared/parking/FORMAT.md``; design: ``docs/parking.md``; figures: ``make bench``.
"""
