"""AKS's announcements in the store: a week past their span, retention removes them; the
sweep's Resource Graph query of them runs against the simulator through the real client."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from patchpilot.adapters.aks_maintenance import scheduled_events_beside
from patchpilot.adapters.store import open_sqlite_store
from patchpilot.adapters.store.retention import AKS_MAINTENANCE
from patchpilot.domain.aks_maintenance import DEFAULT_SPAN, AksMaintenance
from patchpilot.domain.policy import parse_policy
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.localhost.harness import running_app
from patchpilot.service.aks_maintenance import load, record
from patchpilot.sim.faults import AksWork, FaultPlan
from tests.factories import SUB, catalog, cluster, cluster_id, policy_doc, utc

START = utc(2025, 11, 22, 1)
ITEM = AksMaintenance(
    cluster=parse_cluster_id(cluster_id("dev-1")),
    event_id="e-1",
    status="Scheduled",
    scheduled=START,
    seen=START - dt.timedelta(days=7),
    upgrade_type="NodeOSUpgrade",
)


@pytest.mark.parametrize(
    ("after_span", "kept"),
    [
        pytest.param(dt.timedelta(days=6, hours=23), True, id="a-week-past-its-end-less-an-hour"),
        pytest.param(dt.timedelta(days=7), False, id="a-week-past-its-end"),
    ],
)
def test_an_announcement_lives_until_a_week_past_its_span(
    tmp_path: Path, after_span: dt.timedelta, kept: bool
) -> None:
    store = open_sqlite_store(tmp_path / "state.db")
    assert record(store, [ITEM], START - dt.timedelta(days=7)) == (ITEM.cluster.key,)

    swept, _ = store.retention().run(START + DEFAULT_SPAN + after_span, budget=1000)

    assert (load(store, ITEM.cluster.key) == (ITEM,)) is kept
    assert swept.deleted[AKS_MAINTENANCE] == (0 if kept else 1)


def test_a_redelivered_word_changes_no_record(tmp_path: Path) -> None:
    store = open_sqlite_store(tmp_path / "state.db")
    record(store, [ITEM], START - dt.timedelta(days=7))
    assert record(store, [ITEM], START - dt.timedelta(days=1)) == ()


def test_the_sweeps_query_reads_the_announcements_through_the_real_client(tmp_path: Path) -> None:
    work = AksWork("dev-1", START, hours=2, upgrade_type="NodeOSUpgrade")
    fleet = {"catalog": {"westeurope": catalog()}, "clusters": [cluster("dev-1", "dev")]}
    policy = parse_policy(policy_doc(), source="policy.yaml")
    with running_app(
        fleet,
        policy,
        START - dt.timedelta(hours=12),
        tmp_path,
        faults=FaultPlan(aks_maintenance=(work,)),
        discovery="resource_graph",
        app_settings={"PATCHPILOT_SWEEP_SCHEDULE": "0 0 0 1 1 *"},
    ) as app:
        reader = scheduled_events_beside(app.services.discovery)
        assert reader is not None
        (row,) = reader.rows((f"/subscriptions/{SUB}",))
        assert row["properties"]["eventStatus"] == "Scheduled"
        app.host.fire_timer("sweep")
        app.host.drain()
        (stored,) = load(app.services.store, cluster_id("dev-1").lower())
        assert (stored.status, stored.upgrade_type) == ("Scheduled", "NodeOSUpgrade")
