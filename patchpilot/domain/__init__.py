"""The pure core: versions, maintenance schedules, the Windows cadence, policy,
fleet state and the planner.

Nothing here performs I/O, reads the clock or imports Azure, tenacity or
OpenTelemetry (import-linter checks it). Time is always a parameter.
"""
