"""`patchpilot demo`: the Function App on an embedded fleet, the simulator and a virtual clock.

The package holds the bundled fleet and policy (`fleet.yaml`, `policy.yaml`),
the run itself (:mod:`~patchpilot.demo.runner`, with the scenario's faults in
:mod:`~patchpilot.demo.scenario` and :mod:`~patchpilot.demo.script`), what is
made of a run (records, summary, timeline, calendar) and the command
(:mod:`~patchpilot.demo.cli`). The Function App never imports it.
"""
