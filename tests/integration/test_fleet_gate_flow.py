"""A Fleet update run waits at its gate while an alert pauses prod, and goes on once it ends.

Everything real but Azure: the simulator serves the Fleet gate API and emits
the gate events, the app's blueprint decodes them with the worker's own
converters in the local host, and the adapter calls the simulator with the
real azure-mgmt-containerservicefleet client (``Services.fleet_gates``). The
gate events reach ``on_fleet_gate_event`` the way the fleet's subscription
delivers them (the host routes them by type, beside ``on_aks_event``), and
``follow_fleet_gates`` fires on the app's own five-minute schedule.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from patchpilot.domain.policy import Policy, parse_policy
from patchpilot.localhost.harness import Harness, running_app
from patchpilot.service.fleet_gates import KIND
from patchpilot.service.shadow import ShadowGateway
from patchpilot.sim.fleet_gates import StageSpec, fleets_of
from tests.integration.http_support import check_against_openapi

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
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    with running_app(
        ROOT / "examples" / "fleet.yaml",
        _policy(),
        START,
        tmp_path,
        event_schema=request.param,
        app_settings={"PATCHPILOT_SWEEP_SCHEDULE": "0 0 0 1 1 *"},
    ) as harness:
        yield harness


def _deliver(harness: Harness) -> int:
    """What the simulator emitted, delivered as the app's tick delivers it (its subscriptions)."""
    return harness.deliver_pending_events()


def _gate_calls(harness: Harness, function: str) -> int:
    return sum(1 for _, name, _ in harness.host.invocations if name == function)


def _status_gates(harness: Harness) -> list[dict[str, Any]]:
    """``GET /api/status``'s fleet_gates, the body checked against the OpenAPI document."""
    answer = harness.host.http("GET", "/api/status")
    body = json.loads(answer.get_body())
    check_against_openapi("get", "/status", answer.status_code, body)
    gates: list[dict[str, Any]] = body["fleet_gates"]
    return gates


def _record(harness: Harness, gate_id: str) -> dict[str, Any]:
    body = harness.services.store.get_snapshot(KIND, gate_id.lower())
    assert body is not None
    record: dict[str, Any] = json.loads(body)
    return record


def test_a_gate_waits_while_an_alert_pauses_its_ring_and_is_approved_once_it_resolves(
    app: Harness,
) -> None:
    app.host.fire_timer("sweep")  # Patch Pilot sees the fleet (pictures, ring gates)
    app.host.drain()
    store, now = app.services.store, app.clock.now()
    pause = store.add_pause(
        "ring", "p99 latency over 2s", "alert:api-latency", now, target="prod", pause_id="alert-1"
    )
    fleets = fleets_of(app.sim.aks)
    stages = [
        StageSpec("dev", [("dev", _clusters("dev"))]),
        StageSpec("prod", [("prod", _clusters("prod"))], before="before prod"),
    ]
    run = fleets.create_update_run(FLEET, "run-1", stages, now)
    (gate,) = fleets.gates()
    assert _deliver(app) == 1  # FleetGateCreated, to the gate function alone
    assert (_gate_calls(app, "on_fleet_gate_event"), _gate_calls(app, "on_aks_event")) == (1, 0)

    record = _record(app, gate.id)
    assert (gate.state, record["state"], run.state) == ("Pending", "blocked", "Running")
    assert (
        "prod-weu-1: alert api-latency firing (ring paused): p99 latency over 2s"
        in (record["reason"])
    )
    (shown,) = _status_gates(app)
    assert (shown["gate"], shown["state"], shown["stage"], shown["update_run"]) == (
        gate.id.lower(),
        "blocked",
        "prod",
        "run-1",
    )
    assert "alert api-latency firing" in shown["reason"]
    app.host.run_until(now + dt.timedelta(minutes=5))  # the follow-up timer, on its schedule
    assert _gate_calls(app, "follow_fleet_gates") == 1
    assert gate.state == "Pending"
    assert _record(app, gate.id)["state"] == "blocked"

    assert store.delete_pause(pause.id)  # the alert resolved
    app.host.run_until(now + dt.timedelta(minutes=10))

    record = _record(app, gate.id)
    assert (gate.state, run.state, record["state"]) == ("Completed", "Completed", "approved")
    assert record["reason"].startswith("approved (before stage prod of update run run-1)")
    (shown,) = _status_gates(app)
    assert (shown["state"], shown["approved_at"]) == ("approved", "2026-03-02T09:10:00Z")
    (notice,) = [n for n in app.publisher.notices if n.type == "FleetGateApproved"]
    assert (notice.subject, notice.data["stage"], notice.data["update_run"]) == (
        gate.id.lower(),
        "prod",
        "run-1",
    )
    assert sorted(notice.data["clusters"]) == sorted(c.lower() for c in _clusters("prod"))
    # FleetGateUpdated came on the tick; a duplicate Created changes nothing.
    assert _gate_calls(app, "on_fleet_gate_event") == 2
    created = next(e for e in fleets.emitted if "FleetGateCreated" in str(e))
    app.host.deliver_event(created, function="on_fleet_gate_event")
    updates = sum(n for (op, status), n in app.sim.requests().items() if op == "Gates_Update")
    assert updates == 1
    assert _record(app, gate.id)["state"] == "approved"


def test_a_deleted_run_closes_its_gate_and_a_foreign_fleet_is_left_alone(app: Harness) -> None:
    fleets = fleets_of(app.sim.aks)
    now = app.clock.now()
    stages = [StageSpec("prod", [("prod", _clusters("prod"))], before="before prod")]
    fleets.create_update_run(FLEET, "run-2", stages, now)
    other = FLEET.replace("fleet-1", "fleet-9")
    fleets.create_update_run(other, "run-3", stages, now)
    assert _deliver(app) == 2
    mine, foreign = fleets.gates()
    assert "not observed it yet" in _record(app, mine.id)["reason"]  # no sweep ran
    assert app.services.store.get_snapshot(KIND, foreign.id.lower()) is None

    fleets.delete_update_run(FLEET, "run-2", now)
    _deliver(app)
    assert _record(app, mine.id)["state"] == "deleted"
    assert foreign.state == "Pending"


def test_in_shadow_mode_a_clear_gate_is_recorded_as_would_approve_and_left_pending(
    app: Harness,
) -> None:
    app.services.gateway = ShadowGateway(app.services.gateway)  # PATCHPILOT_MODE=shadow
    app.host.fire_timer("sweep")
    app.host.drain()
    fleets = fleets_of(app.sim.aks)
    now = app.clock.now()
    stages = [StageSpec("prod", [("prod", _clusters("prod"))], before="before prod")]
    fleets.create_update_run(FLEET, "run-4", stages, now)
    (gate,) = fleets.gates()
    _deliver(app)
    app.host.run_until(now + dt.timedelta(minutes=10))

    record = _record(app, gate.id)
    assert (gate.state, record["state"]) == ("Pending", "shadow")
    assert record["reason"].startswith("shadow mode: would have approved (before stage prod")
    assert [n for n in app.publisher.notices if n.type == "FleetGateApproved"] == []
    assert not [op for (op, _), n in app.sim.requests().items() if op == "Gates_Update"]
