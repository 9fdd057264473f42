"""AKS announces its own maintenance on a cluster with a start due: Patch Pilot waits, then starts.

Everything real but Azure: the simulated AKS Communication Manager
(:mod:`patchpilot.sim.aks_maintenance`) emits ``ScheduledEventEmitted`` 7 days
and 24 hours ahead, then Started and Completed, in the schema under test; the
local host routes them by type to ``on_aks_maintenance_event`` (the registered
blueprint, the worker's own converters), the reconcile reads the record
before it plans, and Patch Pilot's start goes out through the real
azure-mgmt-containerservice client to the simulator.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from patchpilot.adapters.store.history import load_history
from patchpilot.domain.aks_maintenance import maintenance_from_row
from patchpilot.domain.planner import plan
from patchpilot.domain.policy import parse_policy
from patchpilot.localhost.harness import Harness, running_app
from patchpilot.service.aks_maintenance import (
    load,
    maintenance_status,
    record_rows,
    with_fleet_announced,
)
from patchpilot.service.snapshots import load_fleet_snapshot
from patchpilot.sim.aks_maintenance import announcements_of, event_id
from patchpilot.sim.faults import AksWork, FaultPlan
from tests.factories import SUB, catalog, cluster, cluster_id, policy_doc, pool

# A Wednesday; dev-1's window is Saturday 01:00Z to 07:00Z (the policy's default).
START = dt.datetime(2025, 11, 19, 12, tzinfo=dt.UTC)
WINDOW = (dt.datetime(2025, 11, 22, 1, tzinfo=dt.UTC), dt.datetime(2025, 11, 22, 7, tzinfo=dt.UTC))
# AKS's own node OS work on dev-1 (its channel is NodeImage) takes the window's first two hours.
WORK = AksWork("dev-1", WINDOW[0], hours=2, upgrade_type="NodeOSUpgrade")
WORK_END = WINDOW[0] + dt.timedelta(hours=2)
DEV_1 = cluster_id("dev-1")


def _fleet() -> dict[str, Any]:
    dev = cluster(
        "dev-1", "dev", pools=[pool(version="1.32.6")], node_os_upgrade_channel="NodeImage"
    )
    region = catalog(kubernetes=[{"version": "1.32.6"}, {"version": "1.32.9"}])
    return {"catalog": {"westeurope": region}, "clusters": [dev]}


def _app(tmp_path: Path, schema: Any, work: AksWork) -> Any:
    document = copy.deepcopy(policy_doc())
    return running_app(
        _fleet(),
        parse_policy(document, source="policy.yaml"),
        START,
        tmp_path,
        faults=FaultPlan(aks_maintenance=(work,)),
        event_schema=schema,
    )


@pytest.fixture(params=["EventGridSchema", "CloudEventSchemaV1_0"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    with _app(tmp_path, request.param, WORK) as harness:
        yield harness


def _starts(app: Harness) -> list[dt.datetime]:
    return [op.started for op in app.sim.aks.operations() if not op.external]


def _calls(app: Harness, function: str) -> int:
    return sum(1 for _, name, _ in app.host.invocations if name == function)


def test_patch_pilot_waits_out_aks_announced_work_and_starts_after_it_in_its_window(
    app: Harness,
) -> None:
    app.host.run_until(WINDOW[0] - dt.timedelta(hours=1))
    # The 7-day notice (already out at START) and the 24-hour one reached the new function.
    assert _calls(app, "on_aks_maintenance_event") == 2
    assert _calls(app, "on_aks_event") == 0
    (stored,) = load(app.services.store, DEV_1.lower())
    assert (stored.event_id, stored.status, stored.upgrade_type) == (
        event_id(WORK),
        "Scheduled",
        "NodeOSUpgrade",
    )
    (shown,) = maintenance_status(app.services.store, app.clock.now())
    assert (shown["holds"], shown["start"], shown["end"]) == (
        True,
        "2025-11-22T01:00:00Z",
        "2025-11-23T01:00:00Z",  # no window for node OS work is known: AKS's longest, 24 h
    )

    app.host.run_until(WINDOW[1])
    starts = _starts(app)
    assert starts, "Patch Pilot never started its upgrade"
    # Nothing of Patch Pilot's while AKS worked; its start came once AKS said it completed.
    assert min(starts) >= WORK_END
    assert WINDOW[0] <= min(starts) < WINDOW[1]
    assert _calls(app, "on_aks_maintenance_event") == 4  # + Started, Completed
    (done,) = load(app.services.store, DEV_1.lower())
    assert done.status == "Completed"


def test_a_plan_made_while_aks_works_says_whose_work_it_waits_for(app: Harness) -> None:
    app.host.run_until(WINDOW[0] + dt.timedelta(minutes=30))
    assert _starts(app) == []
    # The whole-fleet plan people see, as GET /api/plan builds it, with the announcements.
    store, now = app.services.store, app.clock.now()
    fleet = with_fleet_announced(store, load_fleet_snapshot(store), now)
    (action,) = plan(fleet, app.services.policy, load_history(store, now), now).actions
    assert action.status == "scheduled"
    assert action.not_before is not None
    assert action.not_before >= WORK_END
    assert "AKS announced its own NodeOSUpgrade maintenance on dev-1" in action.reason
    assert "waiting until it ends" in action.reason


def test_cancelled_work_holds_nothing_back(tmp_path: Path) -> None:
    cancelled = AksWork(
        "dev-1",
        WINDOW[0],
        hours=2,
        upgrade_type="NodeOSUpgrade",
        cancelled_at=WINDOW[0] - dt.timedelta(hours=12),
    )
    with _app(tmp_path, "EventGridSchema", cancelled) as app:
        app.host.run_until(WINDOW[0] + dt.timedelta(hours=1))
        starts = _starts(app)
        assert starts
        assert min(starts) < WORK_END  # the work AKS cancelled kept nothing back
        (stored,) = load(app.services.store, DEV_1.lower())
        assert stored.status == "Cancelled"


def test_the_simulators_resource_graph_rows_read_as_the_events_do(app: Harness) -> None:
    now = WINDOW[0] + dt.timedelta(minutes=10)
    rows = announcements_of(app.sim.aks).rows(now)
    (item,) = [maintenance_from_row(row) for row in rows]
    assert item is not None
    assert (item.cluster.key, item.status, item.started) == (DEV_1.lower(), "Started", WINDOW[0])
    other = [dict(rows[0], properties={**rows[0]["properties"], "eventSource": "EOLNotification"})]
    assert record_rows(app.services.store, other, (f"/subscriptions/{SUB}",), now) == 0
    assert record_rows(app.services.store, rows, (f"/subscriptions/{SUB}",), now) == 1
