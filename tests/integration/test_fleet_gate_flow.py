"""A Fleet update run waits at its gate while an alert pauses prod, and goes on once it ends.

Everything real but Azure: the simulator serves the Fleet gate API and emits
the gate events, the app's blueprint decodes them with the worker's own
converters in the local host, and the adapter calls the simulator with the
real azure-mgmt-containerservicefleet client. The gate blueprint runs in a
host of its own beside the app's (the local host delivers Event Grid events
to a single Event Grid trigger; see docs/fleet-gates.md).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
import yaml

from functions import fleet_events
from patchpilot.domain.policy import Policy, parse_policy
from patchpilot.service.fleet_gates import KIND
from patchpilot.sim.fleet_gates import SimFleets, StageSpec, fleets_of
from patchpilot.sim.harness import Harness, running_app
from patchpilot.sim.host import LocalHost

ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-000000000000"
FLEET = (
    f"/subscriptions/{SUB}/resourceGroups/rg-fleet"
    "/providers/Microsoft.ContainerService/fleets/fleet-1"
)
START = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


def _policy() -> Policy:
    document = yaml.safe_load((ROOT / "examples" / "policy.yaml").read_text())
    document["fleet_gates"] = {"fleets": [FLEET]}
    return parse_policy(document, source="policy.yaml")


def _clusters(env: str) -> list[str]:
    fleet = yaml.safe_load((ROOT / "examples" / "fleet.yaml").read_text())
    return [c["id"] for c in fleet["clusters"] if c["tags"]["env"] == env]


@pytest.fixture(params=["EventGridSchema", "CloudEventSchemaV1_0"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Harness, LocalHost]]:
    with running_app(
        ROOT / "examples" / "fleet.yaml",
        _policy(),
        START,
        tmp_path,
        event_schema=request.param,
        app_settings={"PATCHPILOT_SWEEP_SCHEDULE": "0 0 0 1 1 *"},
    ) as harness:
        gates_app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
        gates_app.register_functions(fleet_events.bp)
        host = harness.host
        gate_host = LocalHost(gates_app, host.runtime, harness.clock, host.config, host.queues)
        try:
            yield harness, gate_host
        finally:
            gate_host.close()


def _deliver(fleets: SimFleets, host: LocalHost) -> int:
    events = fleets.take_events()
    for event in events:
        host.deliver_event(event)
    return len(events)


def _record(harness: Harness, gate_id: str) -> dict[str, Any]:
    body = harness.services.store.get_snapshot(KIND, gate_id.lower())
    assert body is not None
    record: dict[str, Any] = json.loads(body)
    return record


def test_a_gate_waits_while_an_alert_pauses_its_ring_and_is_approved_once_it_resolves(
    app: tuple[Harness, LocalHost],
) -> None:
    harness, gate_host = app
    harness.host.fire_timer("sweep")  # Patch Pilot sees the fleet (pictures, ring gates)
    harness.host.drain()
    store, now = harness.services.store, harness.clock.now()
    pause = store.add_pause(
        "ring", "p99 latency over 2s", "alert:api-latency", now, target="prod", pause_id="alert-1"
    )
    fleets = fleets_of(harness.sim.aks)
    stages = [
        StageSpec("dev", [("dev", _clusters("dev"))]),
        StageSpec("prod", [("prod", _clusters("prod"))], before="before prod"),
    ]
    run = fleets.create_update_run(FLEET, "run-1", stages, now)
    (gate,) = fleets.gates()
    assert _deliver(fleets, gate_host) == 1  # FleetGateCreated

    record = _record(harness, gate.id)
    assert (gate.state, record["state"], run.state) == ("Pending", "blocked", "Running")
    assert (
        "prod-weu-1: alert api-latency firing (ring paused): p99 latency over 2s"
        in (record["reason"])
    )
    harness.clock.advance(dt.timedelta(minutes=5))
    gate_host.fire_timer("follow_fleet_gates")
    assert gate.state == "Pending"
    assert _record(harness, gate.id)["state"] == "blocked"

    assert store.delete_pause(pause.id)  # the alert resolved
    harness.clock.advance(dt.timedelta(minutes=5))
    gate_host.fire_timer("follow_fleet_gates")

    record = _record(harness, gate.id)
    assert (gate.state, run.state, record["state"]) == ("Completed", "Completed", "approved")
    assert record["reason"].startswith("approved (before stage prod of update run run-1)")
    assert _deliver(fleets, gate_host) == 1  # FleetGateUpdated, and a duplicate Created:
    created = next(e for e in fleets.emitted if "FleetGateCreated" in str(e))
    gate_host.deliver_event(created)
    updates = sum(n for (op, status), n in harness.sim.requests().items() if op == "Gates_Update")
    assert updates == 1
    assert _record(harness, gate.id)["state"] == "approved"


def test_a_deleted_run_closes_its_gate_and_a_foreign_fleet_is_left_alone(
    app: tuple[Harness, LocalHost],
) -> None:
    harness, gate_host = app
    fleets = fleets_of(harness.sim.aks)
    now = harness.clock.now()
    stages = [StageSpec("prod", [("prod", _clusters("prod"))], before="before prod")]
    fleets.create_update_run(FLEET, "run-2", stages, now)
    other = FLEET.replace("fleet-1", "fleet-9")
    fleets.create_update_run(other, "run-3", stages, now)
    assert _deliver(fleets, gate_host) == 2
    mine, foreign = fleets.gates()
    assert "not observed it yet" in _record(harness, mine.id)["reason"]  # no sweep ran
    assert harness.services.store.get_snapshot(KIND, foreign.id.lower()) is None

    fleets.delete_update_run(FLEET, "run-2", now)
    _deliver(fleets, gate_host)
    assert _record(harness, mine.id)["state"] == "deleted"
    assert foreign.state == "Pending"
