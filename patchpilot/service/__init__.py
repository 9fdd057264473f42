"""Use cases: handle an AKS event, sweep the fleet, reconcile one cluster, the Windows cycle.

Each use case takes its collaborators as a :class:`~patchpilot.service.deps.Services`
value and the instant `now` (read once per invocation by the caller), so the
Azure Functions blueprints, the local host and the tests all run the same code.
"""
