"""A local Azure Functions host: runs what `function_app.py` registers, on one machine.

Azure Functions Core Tools cannot be installed here, so the demo, the tests and
the benchmarks run the app through this package instead: :mod:`.host` (triggers
fired by their bindings on a virtual clock), :mod:`.ncrontab` (timer schedules
as the Functions timer trigger reads them), :mod:`.wire` (what the host hands
the Python worker, decoded by the worker's own converters), :mod:`.workers`
(reconciles that collide on threads and instances) and :mod:`.harness` (the
whole app: simulator, store, queues and host on one clock). It sits beside the
ARM simulator (:mod:`patchpilot.sim`) and, like it, the function app never
imports it (an import-linter contract says so).
"""
