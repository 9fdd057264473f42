"""The harness's time and workers: retries and slow answers take virtual time, workers collide.

The whole app runs (`running_app`: simulator, SQLite, the local host) on the
example fleet at 2025-11-22T01:30Z, inside the dev clusters' window, so a
reconcile of `dev-weu-1` has a node image upgrade to start.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import azure.functions as func
import pytest

from patchpilot.adapters.arm.catalog_cache import SweepCache
from patchpilot.domain.messages import ReconcileRequest
from patchpilot.domain.policy import parse_policy
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.errors import TemporaryError
from patchpilot.files import read_document
from patchpilot.localhost.harness import Harness, running_app
from patchpilot.localhost.workers import RacePlan
from patchpilot.runtime import RECONCILE_QUEUE
from patchpilot.sim.faults import FaultPlan

ROOT = Path(__file__).resolve().parents[2]
FLEET = read_document(ROOT / "examples" / "fleet.yaml")
POLICY = parse_policy(read_document(ROOT / "examples" / "policy.yaml"))
START = dt.datetime(2025, 11, 22, 1, 30, tzinfo=dt.UTC)
DEV = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-dev"
    "/providers/Microsoft.ContainerService/managedClusters/dev-weu-1"
)
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Harness]:
    with running_app(FLEET, POLICY, START, tmp_path) as harness:
        yield harness


def ask_reconcile(app: Harness, cluster: str = DEV) -> None:
    request = ReconcileRequest(parse_cluster_id(cluster), "test", app.clock.now())
    app.services.queue.send(request.encode(), now=app.clock.now())


def test_a_retried_arm_call_moves_the_virtual_clock_by_the_seconds_tenacity_slept(
    app: Harness,
) -> None:
    app.sim.set_faults(FaultPlan(throttle_rate=1.0, retry_after_seconds=7))

    with pytest.raises(TemporaryError):
        app.services.gateway.observe(parse_cluster_id(DEV), SweepCache())

    # Six attempts, five waits of ARM's Retry-After in between.
    assert app.clock.now() == START + dt.timedelta(seconds=5 * 7)


def test_the_host_carries_on_when_slow_answers_move_the_clock_during_invocations(
    app: Harness,
) -> None:
    app.sim.set_faults(FaultPlan(slow_rate=1.0, slow_seconds=240))
    end = START + dt.timedelta(hours=1)

    app.host.run_until(end)

    moments = [moment for moment, _, _ in app.host.invocations]
    assert app.clock.now() >= end
    assert moments == sorted(moments)
    # Every answer took four virtual minutes, and the host's stops made room for them.
    slow = app.sim.faults_injected()["slow"]
    assert slow > 0
    assert slow * 240 <= (app.clock.now() - START).total_seconds()


def test_an_added_instance_has_its_own_holder_store_object_and_skewed_clock(
    app: Harness,
) -> None:
    other = app.add_instance("instance-2", dt.timedelta(minutes=3))
    main, now = app.services, app.clock.now()

    held = main.store.acquire_lease("cluster-key", main.holder, now, dt.timedelta(minutes=10))
    refused = other.services.store.acquire_lease(
        "cluster-key", other.services.holder, now, dt.timedelta(minutes=10)
    )

    assert other.now() == now + dt.timedelta(minutes=3)
    assert other.services.clock is not None
    assert other.services.clock() == now + dt.timedelta(minutes=3)
    assert other.services.holder == "instance-2"
    assert other.services.store is not main.store
    assert held is not None
    assert refused is None
    assert app.instances == [app.host.runtime, other]


def test_the_host_runs_a_batch_of_queue_messages_at_once_on_its_threads(tmp_path: Path) -> None:
    with running_app(FLEET, POLICY, START, tmp_path, threads=4) as app:
        barrier = threading.Barrier(3, timeout=10)
        ran: list[str] = []

        def meets_the_others(message: func.QueueMessage) -> None:
            # Sequential delivery would leave the first call waiting here until the timeout.
            barrier.wait()
            ran.append(threading.current_thread().name)

        name = next(
            n
            for n, f in app.host.functions.items()
            if f.trigger.get("queueName") == RECONCILE_QUEUE
        )
        registered = app.host.functions[name]
        app.host.functions = {
            **app.host.functions,
            name: type(registered)(registered.name, registered.trigger, meets_the_others),
        }
        for _ in range(3):
            ask_reconcile(app)

        assert app.host.drain() == 3

    assert len(set(ran)) == 3
    assert all(thread.startswith("functions-worker") for thread in ran)


@pytest.mark.parametrize(
    ("plan", "holders"),
    [
        pytest.param(
            RacePlan(threads_rate=1.0, max_races=1),
            [("threads", "local-host"), ("threads", "local-host")],
            id="two threads of one instance",
        ),
        pytest.param(
            RacePlan(instances_rate=1.0, max_races=1),
            [("instances", "instance-2"), ("instances", "local-host")],
            id="two instances",
        ),
    ],
)
def test_a_race_runs_one_reconcile_message_twice_at_once(
    app: Harness, plan: RacePlan, holders: list[tuple[str, str]]
) -> None:
    app.add_instance("instance-2", dt.timedelta(minutes=-2))
    workers = app.collide(plan)
    ask_reconcile(app)

    app.host.drain()

    assert sorted(workers.racers) == holders
    assert sum(workers.races.values()) == 1
    assert workers.manual_answers == []


def test_an_operators_request_races_a_reconcile_of_the_same_cluster(app: Harness) -> None:
    workers = app.collide(RacePlan(manual_rate=1.0, max_races=1))
    # The sweep stores the fleet's picture (the API knows the clusters) and queues reconciles.
    app.host.fire_timer("sweep")

    app.host.drain()

    assert workers.races == {"manual": 1}
    assert workers.racers == [("manual", "local-host")]
    ((status, outcome),) = workers.manual_answers
    assert status < 500, outcome
    assert outcome in ("started", "scheduled", "already_started", "Blocked", "Busy"), outcome
