"""While an upgrade runs, a follow-up costs one request: the operation's status.

One operation at a time per cluster (invariant 2) means nothing can start
while one runs, so reading the whole cluster again would buy nothing. Drives
the real reconcile against the simulator (`bench/arm_cost.py`'s wiring) and
counts what the simulator served for each reconcile.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bench.arm_cost import NEW_LINUX, UBUNTU, Bench, generate, running
from patchpilot.domain.messages import ReconcileRequest
from patchpilot.service.outcomes import ReconcileOutcome
from patchpilot.service.reconcile.run import reconcile
from patchpilot.service.snapshots import CLUSTERS

STATUS = "AsyncOperation_Get"
READS = ("ManagedClusters_Get", "MaintenanceConfigurations_ListByManagedCluster")


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    with running(generate(1, behind=1), tmp_path) as bench:
        yield bench


def reconcile_counted(bench: Bench) -> tuple[ReconcileOutcome, Counter[str]]:
    """One reconcile of the only cluster now, and the requests it cost."""
    cluster = bench.sim.aks.clusters()[0].id
    before = bench.counted()
    now = bench.clock.now()
    outcome = reconcile(bench.services, ReconcileRequest(cluster, "test", now), now)
    return outcome, bench.counted() - before


def test_a_follow_up_while_the_upgrade_runs_only_polls_the_operation(bench: Bench) -> None:
    first, cost = reconcile_counted(bench)
    assert first.started
    assert all(cost[op] == 1 for op in READS)

    bench.clock.advance(dt.timedelta(seconds=30))
    running, cost = reconcile_counted(bench)

    assert cost == Counter({STATUS: 1})
    assert not running.started
    assert running.requeued_after_seconds


def until_settled(bench: Bench) -> tuple[ReconcileOutcome, Counter[str]]:
    """Follow up every ten virtual minutes until a reconcile settles an operation."""
    deadline = bench.clock.now() + dt.timedelta(hours=2)
    outcome, cost = reconcile_counted(bench)
    while not outcome.settled and bench.clock.now() < deadline:
        bench.clock.advance(dt.timedelta(minutes=10))
        outcome, cost = reconcile_counted(bench)
    return outcome, cost


def test_the_follow_up_that_sees_the_end_reads_the_cluster_once_and_starts_the_next(
    bench: Bench,
) -> None:
    reconcile_counted(bench)

    outcome, cost = until_settled(bench)

    (settled,), (started,) = outcome.settled, outcome.started
    assert settled.endswith(" node_image -> succeeded")
    assert started.endswith(f" node_image -> {UBUNTU}-{NEW_LINUX}")
    assert settled.split()[0] != started.split()[0], "the other pool starts"
    assert [cost[op] for op in (STATUS, *READS)] == [1, 1, 1]


def test_when_nothing_follows_the_last_end_is_settled_without_reading_the_cluster(
    bench: Bench,
) -> None:
    reconcile_counted(bench)
    until_settled(bench)  # the system pool's end starts the user pool

    outcome, cost = until_settled(bench)

    (settled,) = outcome.settled
    assert settled.endswith(" node_image -> succeeded")
    assert not outcome.started
    assert cost == Counter({STATUS: 1})
    pools = bench.services.store.list_snapshots(CLUSTERS)
    assert all(NEW_LINUX in body for _, body in pools), "the stored picture shows both pools done"


def test_an_operation_running_past_poll_only_is_observed_in_full_again(bench: Bench) -> None:
    reconcile_counted(bench)
    bench.services.tuning = replace(bench.services.tuning, poll_only=dt.timedelta(0))
    bench.clock.advance(dt.timedelta(seconds=30))

    _, cost = reconcile_counted(bench)

    assert all(cost[op] == 1 for op in (STATUS, *READS))
