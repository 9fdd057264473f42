"""An HTTPS simulator of the AKS Azure Resource Manager API, for tests and the demo.

The real ``azure-mgmt-containerservice`` and ``azure-mgmt-resourcegraph``
clients talk to it unchanged (``base_url`` and ``connection_verify`` point at
it). Start one with :func:`patchpilot.sim.server.run_simulator` or
``patchpilot sim``. The function app never imports this package; only the
demo, the tests and the benchmarks do, so nothing here is loaded at import
time of ``patchpilot``.

The simulator's modules: ``clock`` (real, virtual and shifted time), ``pace``
(how fast upgrades run), ``faults`` (injected 429/500/drops/lost answers,
slowness, drain failures), ``fleet_input`` (the fleet document), ``catalog``
(what AKS offers at an instant), ``state`` and ``operations`` (the mutable
clusters and their long-running operations), ``upgrades`` (what AKS accepts),
``aks`` (the model as a whole), ``payloads`` (ARM JSON), ``arm_errors``,
``events`` (Event Grid), ``resource_graph``, ``routes`` and ``handlers`` (the
REST surface), ``certificate``, ``server`` and ``cli``. The local Functions host is
its own package beside this one, :mod:`patchpilot.localhost`.
"""
