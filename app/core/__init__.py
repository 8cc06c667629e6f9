"""Everything that is not drawing: API client, planner, engine, journal, credentials, settings.

Nothing in this package imports Qt, so the CLI, the tests and the benchmarks use it without a display.
"""
