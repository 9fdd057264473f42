"""One event-to-upgrade flow through the registered functions is one connected trace.

The Event Grid invocation's span is linked from the reconcile span through the
trace context carried in the queue message; decisions are span events with
their reasons; store writes have spans; the upgrade metrics count.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from patchpilot.localhost.harness import running_app
from patchpilot.telemetry.testing import in_memory_telemetry
from tests.integration.test_app_flow import FLEET, POLICY, START, aks_event


def test_an_event_to_upgrade_flow_is_one_connected_trace(tmp_path: Path) -> None:
    memory = in_memory_telemetry()
    before_window = START - dt.timedelta(hours=2)
    with running_app(FLEET, POLICY, before_window, tmp_path, telemetry=memory.telemetry) as app:
        app.host.fire_timer("sweep")  # the fleet's picture; nothing is due yet
        assert app.services.queue.count() == 0
        app.clock.set(START)
        memory.clear()
        event = aks_event("eg_new_kubernetes_version_available", "dev-weu-1", "rg-dev")
        app.host.deliver_event(event)
        app.host.drain()

    event_span = memory.span("function.on_aks_event")
    reconciles = [s for s in memory.spans() if s.name == "reconcile"]
    assert reconciles, [s.name for s in memory.spans()]
    first = reconciles[0]
    assert first.attributes is not None
    assert str(first.attributes["patchpilot.cluster"]).endswith("/dev-weu-1")
    linked = {link.context.trace_id for link in first.links}
    assert event_span.context is not None
    assert event_span.context.trace_id in linked

    trace = first.context.trace_id if first.context else None
    in_trace = [s for s in memory.spans() if s.context and s.context.trace_id == trace]
    names = {s.name for s in in_trace}
    assert {"function.reconcile", "reconcile", "plan", "store.claim", "store.mark_started"} <= names
    arm = [s for s in in_trace if s.name.startswith("arm.")]
    expected_arm = {"arm.ManagedClusters_Get", "arm.ManagedClusters_CreateOrUpdate"}
    assert {s.name for s in arm} >= expected_arm
    assert all(s.attributes and "patchpilot.arm.status" in s.attributes for s in arm)
    plan_span = next(s for s in in_trace if s.name == "plan")
    decisions = [e for e in plan_span.events if e.name == "decision"]
    assert decisions
    assert all(e.attributes and e.attributes.get("reason") for e in decisions)
    assert memory.value("patchpilot.upgrades.started", kind="kubernetes", os="control-plane") == 1


def test_each_invocation_has_a_function_span(tmp_path: Path) -> None:
    memory = in_memory_telemetry()
    with running_app(FLEET, POLICY, START, tmp_path, telemetry=memory.telemetry) as app:
        app.host.fire_timer("sweep")
        app.host.clock.set(START + dt.timedelta(minutes=5))
        app.host.drain()
    names = [s.name for s in memory.spans() if s.name.startswith("function.")]
    assert names.count("function.sweep") == 1
    assert names.count("function.reconcile") == len(
        [i for i in app.host.invocations if i[1] == "reconcile"]
    )
