"""The registered functions end to end: simulator, SQLite, the local host, one virtual clock.

Each test drives the app only through the bindings `function_app.py`
registers (Event Grid, timers, queue) and counts ARM upgrade calls at the
simulator.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import function_app
from patchpilot.domain.policy import parse_policy
from patchpilot.files import read_document
from patchpilot.localhost.harness import Harness, running_app
from patchpilot.localhost.host import registered_functions
from patchpilot.sim.faults import FaultPlan
from tests.events import load
from tests.factories import SUB

ROOT = Path(__file__).resolve().parents[2]
FLEET = read_document(ROOT / "examples" / "fleet.yaml")
POLICY = parse_policy(read_document(ROOT / "examples" / "policy.yaml"))
START = dt.datetime(2025, 11, 22, 1, 30, tzinfo=dt.UTC)  # inside the dev window
UPGRADES = (
    "AgentPools_UpgradeNodeImageVersion",
    "AgentPools_CreateOrUpdate",
    "ManagedClusters_CreateOrUpdate",
)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Harness]:
    with running_app(FLEET, POLICY, START, tmp_path) as harness:
        yield harness


def upgrade_calls(app: Harness) -> int:
    return sum(
        n for (op, status), n in app.sim.requests().items() if op in UPGRADES and status < 300
    )


def aks_event(name: str, cluster: str, group: str, **data: Any) -> dict[str, Any]:
    text = json.dumps(load(name))
    for placeholder, value in {
        "{subscription-id}": SUB,
        "{resource-group}": group,
        "{cluster}": cluster,
    }.items():
        text = text.replace(placeholder, value)
    event: dict[str, Any] = json.loads(text)
    event["data"].update(data)
    return event


def test_the_app_registers_each_trigger_with_its_binding() -> None:
    functions = registered_functions(function_app.app)
    triggers = {
        name: (f.trigger_type, f.trigger.get("schedule") or f.trigger.get("queueName"))
        for name, f in functions.items()
    }
    assert triggers == {
        "on_aks_event": ("eventGridTrigger", None),
        "on_fleet_gate_event": ("eventGridTrigger", None),
        "on_aks_maintenance_event": ("eventGridTrigger", None),
        "follow_fleet_gates": ("timerTrigger", "%PATCHPILOT_FLEET_GATES_SCHEDULE%"),
        "sweep": ("timerTrigger", "%PATCHPILOT_SWEEP_SCHEDULE%"),
        "windows_patch_cycle": ("timerTrigger", "%PATCHPILOT_WINDOWS_SCHEDULE%"),
        "retention": ("timerTrigger", "%PATCHPILOT_RETENTION_SCHEDULE%"),
        "reconcile": ("queueTrigger", "reconcile"),
        "reconcile_poison": ("queueTrigger", "reconcile-poison"),
        **dict.fromkeys(
            (
                "api_status",
                "api_shadow_report",
                "api_plan",
                "api_upgrade",
                "api_list_pauses",
                "api_add_pause",
                "api_delete_pause",
                "api_alert",
                "api_openapi",
            ),
            ("httpTrigger", None),
        ),
    }


def test_a_new_version_event_starts_the_due_upgrades_of_that_cluster(app: Harness) -> None:
    app.host.fire_timer("sweep")  # the first picture of the fleet
    app.host.deliver_event(aks_event("eg_new_kubernetes_version_available", "dev-weu-1", "rg-dev"))
    app.host.drain()
    started = [n.data for n in app.publisher.notices if n.type == "UpgradeStarted"]
    assert {(d["cluster"].rsplit("/", 1)[-1], d["kind"]) for d in started} >= {
        ("dev-weu-1", "kubernetes")
    }
    assert not app.host.failures


def test_fifty_duplicate_and_reordered_events_start_each_upgrade_once(app: Harness) -> None:
    app.host.fire_timer("sweep")
    events = [
        aks_event(name, cluster, "rg-dev")
        for name in ("eg_new_kubernetes_version_available", "ce_new_kubernetes_version_available")
        for cluster in ("dev-weu-1", "dev-neu-1")
    ]
    deliveries = [events[i % len(events)] | {"id": f"evt-{i % 7}"} for i in range(50)]
    random.Random(4).shuffle(deliveries)
    threads = [threading.Thread(target=app.host.deliver_event, args=(e,)) for e in deliveries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    before = upgrade_calls(app)
    app.host.run_until(START + dt.timedelta(hours=5))
    keys = [
        (n.data["cluster"], n.data["pool"], n.data["kind"], n.data["to"])
        for n in app.publisher.notices
        if n.type == "UpgradeStarted"
    ]
    assert len(keys) == len(set(keys)) > 0
    assert upgrade_calls(app) - before <= len(keys)
    assert not app.host.failures
    # Ring order: only dev may start while staging and prod wait for its soak.
    started = [n for n in app.publisher.notices if n.type == "UpgradeStarted"]
    assert {n.data["cluster"].rsplit("/", 1)[-1].split("-")[0] for n in started} == {"dev"}
    # Windows: dev uses the policy's Saturday window, 01:00-07:00 UTC.
    window = (START.replace(hour=1, minute=0), START.replace(hour=7, minute=0))
    assert all(window[0] <= n.time < window[1] for n in started)


def test_malformed_and_foreign_events_change_nothing(app: Harness) -> None:
    foreign = aks_event("eg_node_pool_rolling_failed", "dev-weu-1", "rg-dev")
    foreign["topic"] = foreign["topic"].replace(SUB, "11111111-1111-1111-1111-111111111111")
    hostile: list[dict[str, Any]] = [
        {"id": "x"},
        {
            "eventType": "Microsoft.Resources.ResourceWriteSuccess",
            "id": "y",
            "topic": "/",
            "subject": "s",
            "eventTime": "2025-01-01T00:00:00Z",
            "data": {},
            "dataVersion": "1",
        },
        foreign,
        aks_event("eg_node_pool_rolling_failed", "dev-weu-1", "rg-dev", nodePoolName="../../x"),
    ]
    for event in hostile:
        app.host.deliver_event(event)
    assert app.services.store.list_pauses(START) == ()
    assert app.services.queue.count() == 0
    assert not app.host.failures


def test_node_pool_rolling_failed_pauses_the_cluster_until_resumed(app: Harness) -> None:
    app.host.fire_timer("sweep")
    app.host.deliver_event(
        aks_event("eg_node_pool_rolling_failed", "dev-weu-1", "rg-dev", nodePoolName="system")
    )
    (pause,) = app.services.store.list_pauses(START)
    assert pause.scope == "cluster"
    assert "NodePoolRollingFailed" in pause.reason
    before = upgrade_calls(app)
    app.host.run_until(START + dt.timedelta(hours=5))
    started = {
        n.data["cluster"].rsplit("/", 1)[-1]
        for n in app.publisher.notices
        if n.type == "UpgradeStarted"
    }
    assert "dev-weu-1" not in started
    assert upgrade_calls(app) >= before


def test_a_failed_cluster_waits_instead_of_requeueing_itself(app: Harness) -> None:
    app.host.fire_timer("sweep")
    app.sim.set_faults(FaultPlan(pdb_failures=frozenset({("dev-weu-1", "system")})))
    app.host.run_until(START + dt.timedelta(hours=4))
    paused = [
        p
        for p in app.services.store.list_pauses(app.clock.now())
        if "dev-weu-1" in (p.target or "")
    ]
    assert paused
    reconciles_before = sum(1 for _, name, _ in app.host.invocations if name == "reconcile")
    app.host.run_until(START + dt.timedelta(hours=5, minutes=50))  # before the next sweep
    reconciles_after = sum(1 for _, name, _ in app.host.invocations if name == "reconcile")
    assert reconciles_after - reconciles_before <= 2
