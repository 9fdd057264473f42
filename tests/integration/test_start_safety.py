"""The start promises under the faults issue 13 found: the whole app, one cluster at a time.

Each test runs the registered functions (simulator, SQLite, the local host,
one virtual clock) on a small fleet whose Linux pools are one image behind,
injects one fault, and counts what AKS itself began (the simulator's
operation list), not what the app says it did.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench.arm_cost import NEW_LINUX, generate, policy
from patchpilot.domain.messages import ReconcileRequest
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.errors import PermanentError
from patchpilot.localhost.harness import Harness, running_app
from patchpilot.service.reconcile.run import reconcile
from patchpilot.sim.faults import ExternalStart, FaultPlan, Storm

AT = dt.datetime(2025, 11, 22, 1, 30, tzinfo=dt.UTC)
DAILY_0200 = {
    "schedule": {"daily": {"intervalDays": 1}},
    "durationHours": 4,
    "startTime": "02:00",
}
STARTS = ("AgentPools_UpgradeNodeImageVersion",)


def fleet(clusters: int = 1, window: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every Linux pool one image behind; optionally a node OS window of the cluster's own."""
    document = generate(clusters, behind=clusters)
    if window is not None:
        for cluster in document["clusters"]:
            cluster["maintenance_configurations"] = {
                "aksManagedNodeOSUpgradeSchedule": {"maintenanceWindow": window}
            }
    return document


def begun(app: Harness) -> Counter[tuple[str, str | None]]:
    """AKS's own count of operations per (cluster, pool), ours and others'."""
    return Counter((op.cluster.id.name, op.pool) for op in app.sim.aks.operations())


def pools_behind(app: Harness) -> list[str]:
    return [
        f"{c.id.name}/{p.name}"
        for c in app.sim.aks.clusters()
        for p in c.pools
        if p.os_type == "Linux" and p.node_image.version != NEW_LINUX
    ]


def test_a_start_whose_answer_is_lost_is_followed_and_never_started_twice(
    tmp_path: Path,
) -> None:
    # Every answer to a start is lost after AKS acted: the retry meets our own upgrade's 409.
    faults = FaultPlan(lost_start_rate=1.0, seed=3)
    with running_app(fleet(2), policy(), AT, tmp_path, faults=faults) as app:
        app.host.run_until(AT + dt.timedelta(hours=12))
        operations = begun(app)
        ledger = app.services.store.list_operations()
        behind = pools_behind(app)

    assert operations, "nothing was started"
    assert all(n == 1 for n in operations.values()), operations
    assert not [op.key for op in ledger if op.state == "expired"]
    assert {op.state for op in ledger} == {"succeeded"}
    assert behind == []


def test_a_lost_start_that_fails_in_aks_is_recorded_and_pauses_the_cluster_once(
    tmp_path: Path,
) -> None:
    faults = FaultPlan(lost_start_rate=1.0, pdb_failures=frozenset({("c0", "system")}), seed=3)
    with running_app(fleet(1), policy(), AT, tmp_path, faults=faults) as app:
        app.host.run_until(AT + dt.timedelta(hours=12))
        operations = begun(app)
        now = app.clock.now()
        records = {op.key.pool: op for op in app.services.store.list_operations()}
        pauses = [p for p in app.services.store.list_pauses(now) if p.scope == "cluster"]

    assert operations[("c0", "system")] == 1
    assert records["system"].state == "failed"
    assert records["system"].error is not None
    assert "UpgradeFailed" in str(records["system"].error)
    assert len(pauses) == 1, [p.reason for p in pauses]


class StormOnceObserved:
    """The app's own gateway, with a throttle storm that begins once the cluster was read.

    Only the fault's timing is arranged: every call still goes to the
    simulator. So the plan is made on fresh reads and the start call alone
    meets ARM's 429s, as on a shared window's last minute.
    """

    def __init__(self, app: Harness, storm: Storm) -> None:
        self._app, self._storm, self._gateway = app, storm, app.services.gateway

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gateway, name)

    def observe(self, *args: Any, **kwargs: Any) -> Any:
        seen = self._gateway.observe(*args, **kwargs)
        self._app.sim.set_faults(FaultPlan(storms=(self._storm,)))
        return seen


def test_a_throttle_storm_at_the_windows_end_never_pushes_a_start_past_it(
    tmp_path: Path,
) -> None:
    # Due at 05:59:30, the window ends at 06:00; then two 429s with Retry-After 25 s
    # (issue 13: on 3cd61bc AKS began the upgrade at 06:00:20).
    due = dt.datetime(2025, 11, 22, 5, 59, 30, tzinfo=dt.UTC)
    storm = Storm(due, due + dt.timedelta(seconds=50), rate=1.0, retry_after_seconds=25)
    with running_app(fleet(1, DAILY_0200), policy(), due, tmp_path) as app:
        cluster = str(next(iter(app.sim.aks.clusters())).id)
        app.services.gateway = StormOnceObserved(app, storm)
        outcome = reconcile(
            app.services, ReconcileRequest(parse_cluster_id(cluster), "test", due), due
        )
        starts = [op.started for op in app.sim.aks.operations()]
        ledger = app.services.store.list_operations()

    assert starts == [], starts
    assert outcome.started == ()
    assert outcome.requeued_after_seconds is not None
    assert "window ends" in (outcome.waiting or "")
    assert [op.state for op in ledger] in ([], ["expired"])


def test_someone_elses_pool_operation_holds_patch_pilot_back_without_a_409(
    tmp_path: Path,
) -> None:
    # A person starts the system pool's image upgrade just before Patch Pilot's first look.
    external = ExternalStart("c0", "system", AT - dt.timedelta(minutes=1))
    faults = FaultPlan(external_starts=(external,), seed=1)
    with running_app(
        fleet(1), policy(), AT - dt.timedelta(minutes=2), tmp_path, faults=faults
    ) as app:
        app.host.run_until(AT + dt.timedelta(hours=6))
        refused = sum(n for (op, status), n in app.sim.requests().items() if status == 409)
        operations = begun(app)
        behind = pools_behind(app)

    assert refused == 0
    assert operations[("c0", "system")] == 1  # the person's, not a second one of ours
    assert operations[("c0", "user")] == 1
    assert behind == []


class FarClockStore:
    """The app's own store, as an instance whose clock is 4 minutes off Table Storage's sees it."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def clock_offset(self) -> dt.timedelta:
        return dt.timedelta(minutes=4)


def test_an_instance_whose_clock_is_far_from_the_stores_starts_nothing(tmp_path: Path) -> None:
    with running_app(fleet(1), policy(), AT, tmp_path) as app:
        cluster = str(next(iter(app.sim.aks.clusters())).id)
        app.services.store = FarClockStore(app.services.store)
        outcome = reconcile(
            app.services, ReconcileRequest(parse_cluster_id(cluster), "test", AT), AT
        )
        starts = app.sim.aks.operations()

    assert starts == []
    assert "clock is 0:04:00 off Table Storage's" in (outcome.waiting or "")


class NoRoleToUpgrade:
    """The app's gateway, as ARM answers when the identity lacks the upgrade action (403)."""

    def __init__(self, gateway: Any) -> None:
        self._gateway = gateway

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gateway, name)

    def upgrade_node_image(self, *args: Any, **kwargs: Any) -> Any:
        raise PermanentError(
            "AgentPools_UpgradeNodeImageVersion: the client does not have authorization",
            code="AuthorizationFailed",
            status=403,
        )


def test_a_start_refused_for_our_own_missing_role_fails_loudly_and_pauses_nothing(
    tmp_path: Path,
) -> None:
    with running_app(fleet(1), policy(), AT, tmp_path) as app:
        cluster = str(next(iter(app.sim.aks.clusters())).id)
        app.services.gateway = NoRoleToUpgrade(app.services.gateway)
        with pytest.raises(PermanentError, match="authorization"):
            reconcile(app.services, ReconcileRequest(parse_cluster_id(cluster), "test", AT), AT)
        records = app.services.store.list_operations()
        pauses = app.services.store.list_pauses(AT)

    assert [op.state for op in records] == ["expired"]  # retired: claimable once fixed
    assert pauses == ()
