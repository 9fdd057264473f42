"""Shadow mode end to end: the registered functions, the HTTPS simulator, SQLite, one clock.

The app runs as in Azure with ``PATCHPILOT_MODE=shadow``: its gateway is the
:class:`~patchpilot.service.shadow.ShadowGateway` the composition root puts
in front of ARM (here installed on the harness's services, as
``runtime.build_services`` does from the setting). ARM writes are counted at
the simulator. Meanwhile the simulated AKS patches two pools by itself (an
auto-upgrade channel or a person), and the report must show them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchpilot.adapters.arm.gateway import WRITE_OPERATIONS
from patchpilot.adapters.store import OperationKey
from patchpilot.domain.plan import Action
from patchpilot.domain.policy import parse_policy
from patchpilot.files import read_document
from patchpilot.localhost.harness import Harness, running_app
from patchpilot.localhost.workers import RacePlan
from patchpilot.runtime import Runtime
from patchpilot.service.operator.status import stored_plan
from patchpilot.service.reconcile.starts import StartAsk, StartOutcome, start_once
from patchpilot.service.shadow import (
    KIND,
    ShadowGateway,
    record_decision,
    shadow_report,
    undecided,
)
from patchpilot.sim.faults import ExternalStart, FaultPlan

ROOT = Path(__file__).resolve().parents[2]
FLEET = read_document(ROOT / "examples" / "fleet.yaml")
POLICY = parse_policy(read_document(ROOT / "examples" / "policy.yaml"))
# Friday noon: the dev ring's Saturday window (01:00-07:00 UTC) opens within the day's notice.
START = dt.datetime(2025, 11, 21, 12, 0, tzinfo=dt.UTC)
WINDOW_OPEN = dt.datetime(2025, 11, 22, 1, 0, tzinfo=dt.UTC)
END = dt.datetime(2025, 11, 22, 8, 0, tzinfo=dt.UTC)
# prod-weu-1's node OS window is Sunday 00:00-04:00 UTC; stg-weu-1's is daily 00:00-04:00.
OUTSIDE = (
    ExternalStart("prod-weu-1", "system", dt.datetime(2025, 11, 22, 2, 0, tzinfo=dt.UTC)),
    ExternalStart("stg-weu-1", "system", dt.datetime(2025, 11, 22, 2, 30, tzinfo=dt.UTC)),
)
DECIDED = "shadow mode: would have started"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Harness]:
    with running_app(
        FLEET, POLICY, START, tmp_path, faults=FaultPlan(external_starts=OUTSIDE)
    ) as harness:
        yield harness


def shadow(runtime: Runtime | Harness) -> None:
    """What PATCHPILOT_MODE=shadow makes of the instance's gateway."""
    runtime.services.gateway = ShadowGateway(runtime.services.gateway)


def arm_writes(app: Harness) -> int:
    """PUT and POST requests that reached the simulator, whatever it answered."""
    return sum(n for (op, _), n in app.sim.requests().items() if op in WRITE_OPERATIONS)


def decisions(app: Harness) -> dict[str, str]:
    return dict(app.services.store.list_snapshots(KIND))


def name(resource_id: str) -> str:
    return resource_id.rsplit("/", 1)[-1]


@pytest.mark.parametrize(("mode", "writes"), [("act", 5), ("shadow", 0)])
def test_the_same_scenario_writes_to_arm_only_when_acting(
    app: Harness, mode: str, writes: int
) -> None:
    if mode == "shadow":
        shadow(app)

    app.host.fire_timer("sweep")
    app.host.run_until(END)

    assert arm_writes(app) == writes
    assert not app.host.failures
    started = [n for n in app.publisher.notices if n.type == "UpgradeStarted"]
    assert len(started) == writes
    # The two dev control planes; act's pool upgrades follow them, so shadow has none.
    assert len(decisions(app)) == (2 if mode == "shadow" else 0)


def test_shadow_mode_announces_records_each_start_once_and_leaves_nothing_in_flight(
    app: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    shadow(app)
    caplog.set_level(logging.INFO, logger="patchpilot.service.reconcile.starts")

    app.host.fire_timer("sweep")
    app.host.run_until(END)

    scheduled = {
        (name(n.data["cluster"]), n.data["pool"])
        for n in app.publisher.notices
        if n.type == "UpgradeScheduled"
    }
    assert {("dev-weu-1", None), ("dev-neu-1", None)} <= scheduled
    # Recorded when the window opened (and the guard's clock skew passed), once each,
    # although every sweep of the window offered the same due actions again.
    recorded = decisions(app)
    assert {key.split("|")[0].rsplit("/", 1)[-1] for key in recorded} == {"dev-weu-1", "dev-neu-1"}
    assert sum(DECIDED in r.getMessage() for r in caplog.records) == len(recorded)
    report = shadow_report(app.services, END).to_json()
    would = {name(r["cluster"]): r["would_start"] for r in report["rows"] if r["would_start"]}
    assert all(WINDOW_OPEN.isoformat()[:13] in at for at in would.values())
    # Nothing in flight: every claim shadow mode took was given back.
    assert {op.state for op in app.services.store.list_operations()} == {"expired"}


def test_the_report_shows_the_pools_aks_patched_by_itself_and_how_they_broke_the_rules(
    app: Harness,
) -> None:
    shadow(app)
    app.host.fire_timer("sweep")
    app.host.run_until(END)

    report = shadow_report(app.services, END).to_json()

    by_pool = {(name(r["cluster"]), r["pool"]): r for r in report["rows"]}
    prod, staging = by_pool[("prod-weu-1", "system")], by_pool[("stg-weu-1", "system")]
    assert (prod["patched_by"], prod["in_window"], prod["before_soak"]) == ("outside", False, True)
    assert (staging["patched_by"], staging["in_window"], staging["before_soak"]) == (
        "outside",
        True,
        True,
    )
    # The real patch time is when the pool was first seen on the new image, after AKS's
    # own upgrade ran (it started at 02:00 and 02:30).
    assert "2025-11-22T02:00:00Z" < prod["patched_at"] < "2025-11-22T04:00:00Z"
    assert "2025-11-22T02:30:00Z" < staging["patched_at"] < "2025-11-22T04:00:00Z"
    # prod's soak: staging's arrival plus prod's five days.
    assert prod["soaked_at"] > staging["patched_at"]
    assert report["mode"] == "shadow"
    assert report["summary"] == {
        "decisions": 2,
        "patched_outside": 2,
        "outside_window": 1,
        "before_soak": 2,
    }


def test_a_decided_pool_lets_the_next_pool_be_decided_but_a_decided_control_plane_ends_the_list(
    app: Harness,
) -> None:
    shadow(app)
    app.host.fire_timer("sweep")
    app.clock.set(WINDOW_OPEN + dt.timedelta(minutes=30))
    now = app.clock.now()
    services = app.services
    due = [
        a
        for a in stored_plan(services, now).actions
        if a.status == "due" and a.cluster.name == "dev-weu-1"
    ]
    plane = next(a for a in due if a.pool is None)
    pools = [a for a in due if a.pool is not None]
    assert len(pools) >= 2
    cluster = plane.cluster.key

    def decide(action: Action) -> None:
        assert action.target is not None
        key = OperationKey(cluster, action.pool, action.kind, action.target)
        record_decision(services.store, key, action, now)

    decide(pools[0])
    assert undecided(services, cluster, pools) == pools[1:]
    decide(plane)
    assert undecided(services, cluster, [plane, *pools]) == []
    gateway = services.gateway
    assert isinstance(gateway, ShadowGateway)
    services.gateway = gateway.inner
    assert undecided(services, cluster, [plane, *pools]) == [plane, *pools]


def test_threads_and_instances_racing_on_one_cluster_record_its_start_once(
    app: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    shadow(app)
    other = app.add_instance("instance-2")
    shadow(other)
    caplog.set_level(logging.INFO, logger="patchpilot.service.reconcile.starts")
    app.host.fire_timer("sweep")
    app.clock.set(WINDOW_OPEN + dt.timedelta(minutes=30))
    now = app.clock.now()
    services = app.services
    found = services.discovery.clusters(services.policy.scopes)
    cluster = next(c for c in found if c.name == "dev-weu-1")
    observation = services.gateway.observe(cluster, services.catalogs.cache(now))
    action = next(
        a
        for a in stored_plan(services, now).actions
        if a.status == "due" and a.cluster.name == "dev-weu-1"
    )
    lease = services.store.acquire_lease(cluster.key, "racer", now, services.tuning.lease)
    assert lease is not None
    ask = StartAsk(observation, action, lease)
    barrier = threading.Barrier(8)
    outcomes: list[StartOutcome] = []

    def race(runtime: Runtime) -> None:
        barrier.wait()
        outcomes.append(start_once(runtime.services, ask, now))

    threads = [threading.Thread(target=race, args=(app.instances[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(DECIDED in r.getMessage() for r in caplog.records) == 1
    assert len(decisions(app)) == 1
    assert {o.verdict for o in outcomes} <= {"shadowed", "held"}
    assert arm_writes(app) == 0


def test_racing_reconciles_and_manual_requests_in_shadow_mode_write_nothing(
    app: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    shadow(app)
    shadow(app.add_instance("instance-2"))
    caplog.set_level(logging.INFO, logger="patchpilot.service.reconcile.starts")
    app.collide(RacePlan(7, threads_rate=0.5, instances_rate=0.5, manual_rate=0.3))

    app.host.fire_timer("sweep")
    app.host.run_until(END)

    assert arm_writes(app) == 0
    assert sum(DECIDED in r.getMessage() for r in caplog.records) == len(decisions(app)) == 2


def test_switching_to_act_starts_what_shadow_recorded_once(app: Harness) -> None:
    shadow(app)
    app.host.fire_timer("sweep")
    app.host.run_until(WINDOW_OPEN + dt.timedelta(minutes=30))
    assert len(decisions(app)) == 2
    gateway = app.services.gateway
    assert isinstance(gateway, ShadowGateway)

    app.services.gateway = gateway.inner
    app.host.run_until(END)

    keys = [
        (n.data["cluster"], n.data["pool"], n.data["kind"], n.data["to"])
        for n in app.publisher.notices
        if n.type == "UpgradeStarted"
    ]
    assert len(keys) == len(set(keys)) == arm_writes(app) > 0
    control_planes = {name(c) for c, pool, _, _ in keys if pool is None}
    assert control_planes == {"dev-weu-1", "dev-neu-1"}


def test_the_api_route_answers_the_same_report_through_its_binding(app: Harness) -> None:
    shadow(app)
    app.host.fire_timer("sweep")
    app.host.run_until(END)

    response = app.host.http("GET", "/api/shadow-report")

    assert response.status_code == 200
    answer = json.loads(response.get_body())
    assert answer == shadow_report(app.services, app.clock.now()).to_json()
    assert answer["summary"]["patched_outside"] == 2


def test_a_manual_upgrade_in_shadow_mode_is_recorded_once_and_answered_shadowed(
    app: Harness,
) -> None:
    shadow(app)
    app.host.fire_timer("sweep")
    app.clock.set(WINDOW_OPEN + dt.timedelta(minutes=30))
    found = app.services.discovery.clusters(app.services.policy.scopes)
    cluster = next(c for c in found if c.name == "dev-weu-1")
    body = json.dumps({"cluster": str(cluster), "kind": "kubernetes"}).encode()

    answers = [app.host.http("POST", "/api/upgrades", body=body) for _ in range(2)]

    assert [a.status_code for a in answers] == [202, 202]
    first, again = (json.loads(a.get_body()) for a in answers)
    assert first["outcome"] == again["outcome"] == "shadowed"
    assert first["reason"].startswith("shadow mode: would have started")
    assert "recorded in shadow mode before" in again["reason"]
    assert len(decisions(app)) == 1
    assert arm_writes(app) == 0
