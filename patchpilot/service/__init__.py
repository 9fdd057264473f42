"""Use cases: what each trigger does, with its collaborators passed in.

Each use case takes its collaborators as a :class:`~patchpilot.service.deps.Services`
value and the instant `now` (read once per invocation by the caller), so the
Azure Functions blueprints, the local host and the tests all run the same code.

The entry use cases, one line each, by module (the blueprints that call them):

- ``events.handle_event``: one AKS Event Grid event, recorded and enqueued.
- ``sweep.on_timer``: the sweep, fanned out per subscription (``sweep_subscription``).
- ``windows_cycle.windows_patch_cycle``: on Patch Tuesday, watch for the month's image.
- ``messages.handle_reconcile_message``: a queue message, decoded and reconciled.
- ``messages.handle_poison``: a message the queue gave up on, recorded.
- ``aks_maintenance.handle_maintenance_event``: AKS's own announced maintenance.
- ``fleet_gates.handle_gate_event``: a Fleet Manager gate, judged and maybe approved.
- ``fleet_gates.follow_gates``: open Fleet Manager gates, judged again on a timer.
- ``alerts.handle_alert``: an Azure Monitor alert pauses or resumes its scope.
- ``retention.run_retention``: one bounded retention pass.
- ``survey.observe_fleet``: the fleet as ARM shows it now (the CLI's ``plan --live``).

Two packages hold what those share:

- :mod:`.reconcile`: one cluster's reconcile (lease, follow, settle, plan, start once).
- :mod:`.operator`: what a person asks through the HTTP API (manual upgrades,
  pauses, the status page and plan), who asked, and why a request is refused.
"""
