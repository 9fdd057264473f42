"""The sweep fans out per subscription, and later rings wait until every shard built the gates.

Two subscriptions: dev and staging in one, prod in the other. The timer only
sends one message per subscription; the queue trigger sweeps each. Ring gates
of a new generation (the first deployment here) are trusted only once both
shards put their clusters in: a reconcile before that holds prod, saying why.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from patchpilot.domain.messages import ReconcileRequest, SweepShard
from patchpilot.domain.policy import parse_policy
from patchpilot.files import read_document
from patchpilot.localhost.harness import Harness, running_app
from patchpilot.service.messages import handle_reconcile_message
from patchpilot.service.reconcile.gates import REBUILDING
from patchpilot.service.snapshots import stored_clusters
from patchpilot.service.sweep import fan_out

ROOT = Path(__file__).resolve().parents[2]
FIRST = "00000000-0000-0000-0000-000000000000"
SECOND = "11111111-1111-1111-1111-111111111111"
START = dt.datetime(2025, 11, 22, 1, 30, tzinfo=dt.UTC)


def two_subscriptions() -> tuple[dict[str, Any], Any]:
    fleet = copy.deepcopy(read_document(ROOT / "examples" / "fleet.yaml"))
    for cluster in fleet["clusters"]:
        if cluster["tags"]["env"] == "prod":
            cluster["id"] = cluster["id"].replace(FIRST, SECOND)
    policy = copy.deepcopy(read_document(ROOT / "examples" / "policy.yaml"))
    policy["scopes"] = [f"/subscriptions/{FIRST}", f"/subscriptions/{SECOND}"]
    return fleet, parse_policy(policy)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Harness]:
    fleet, policy = two_subscriptions()
    with running_app(fleet, policy, START, tmp_path, discovery="resource_graph") as harness:
        yield harness


def test_the_timer_only_fans_out_and_each_shard_sweeps_its_subscription(app: Harness) -> None:
    app.host.fire_timer("sweep")
    store = app.services.store
    assert app.services.queue.count() == 2
    assert stored_clusters(store) == {}
    app.host.drain()
    first, second = stored_clusters(store, FIRST), stored_clusters(store, SECOND)
    assert len(first) == 3
    assert len(second) == 3
    assert all(f"/subscriptions/{SECOND}/" in key for key in second)
    assert not app.host.failures


def test_shard_messages_are_staggered_to_resource_graphs_query_rate(tmp_path: Path) -> None:
    fleet, policy = two_subscriptions()
    many = [f"/subscriptions/{n:08d}-0000-0000-0000-000000000000" for n in range(7)]
    policy = replace(policy, scopes=tuple(many))
    with running_app(fleet, policy, START, tmp_path) as app:
        assert fan_out(app.services, START) == tuple(s.split("/")[2] for s in many)
        queue = app.services.queue
        visible = [queue.count(now=START + dt.timedelta(seconds=n)) for n in range(3)]
    assert visible == [3, 6, 7]


def test_later_rings_hold_until_every_subscription_built_the_gates(app: Harness) -> None:
    services, now = app.services, app.clock.now()
    prod = next(k for k in app.sim.aks.clusters() if "prod" in k.id.name).id
    handle_reconcile_message(services, SweepShard(SECOND, now).encode(), now)
    held = handle_reconcile_message(services, ReconcileRequest(prod, "test", now).encode(), now)
    assert held is not None
    assert REBUILDING in str(held)
    handle_reconcile_message(services, SweepShard(FIRST, now).encode(), now)
    after = handle_reconcile_message(services, ReconcileRequest(prod, "test", now).encode(), now)
    assert REBUILDING not in str(after)
    assert "waits for ring staging" in str(after)
