"""A ring in one subscription, all due at once, inside AKS's per-subscription throttle.

The whole app (timers, queue, reconciles) on the simulator and a virtual
clock, with AKS's throttle on: tight read and write buckets that a ring of
clusters due at the same instant runs through at once. Without a request
budget the app learns of the limit from 429s; with it, the 429s stop and
every due start still happens, later.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pytest

from patchpilot.adapters.arm.budget import BucketLimits, BudgetLimits
from patchpilot.domain.policy import parse_policy
from patchpilot.localhost.harness import Harness, running_app
from patchpilot.sim.faults import FaultPlan
from patchpilot.sim.throttle import AksThrottle
from tests.factories import SUB

UBUNTU = "AKSUbuntu-2204gen2containerd"
OLD, NEW = "202511.03.0", "202511.17.0"
START = dt.datetime(2025, 11, 22, 1, 30, tzinfo=dt.UTC)
ALL_DAY = {"schedule": {"daily": {"intervalDays": 1}}, "durationHours": 24, "startTime": "00:00"}
CLUSTERS = 8
THROTTLE = AksThrottle(read_burst=3, read_per_second=0.5, write_burst=2, write_per_second=0.2)
BUDGET = BudgetLimits(read=BucketLimits(3, 0.5), write=BucketLimits(2, 0.2))
POLICY = parse_policy(
    {
        "scopes": [f"/subscriptions/{SUB}"],
        "default_window": ALL_DAY,
        "rings": [{"name": "prod", "match": {"tags": {"env": "prod"}}, "soak_days": 0}],
        "kubernetes": {"channel": "none"},
    }
)


def ring(count: int) -> dict[str, Any]:
    """`count` clusters of one ring and subscription, each with two pools one image behind."""
    pools = [
        {"name": name, "os": "Linux", "os_sku": "Ubuntu", "mode": mode, "version": "1.33.2",
         "node_image": f"{UBUNTU}-{OLD}", "count": 2}
        for name, mode in (("system", "System"), ("user", "User"))
    ]  # fmt: skip
    window = {"aksManagedNodeOSUpgradeSchedule": {"maintenanceWindow": ALL_DAY}}
    return {
        "catalog": {
            "westeurope": {
                "kubernetes": [{"version": "1.33.2"}],
                "node_images": {UBUNTU: [OLD, NEW]},
            }
        },
        "clusters": [
            {
                "id": f"/subscriptions/{SUB}/resourceGroups/rg-ring"
                f"/providers/Microsoft.ContainerService/managedClusters/c{index}",
                "location": "westeurope",
                "tags": {"env": "prod"},
                "kubernetes_version": "1.33.2",
                "maintenance_configurations": window,
                "pools": pools,
            }
            for index in range(count)
        ],
    }


def behind(app: Harness) -> list[str]:
    """Pools not on the new image yet."""
    with app.sim.aks.transaction():
        return [
            f"{cluster.id.name}/{pool.name}"
            for cluster in app.sim.aks.clusters()
            for pool in cluster.pools
            if pool.node_image.version != NEW
        ]


def run_ring(
    workdir: Path, budget: BudgetLimits | None, threads: int | None
) -> tuple[int, int, list[str], Harness]:
    """(429s at AKS, starts let through, pools still behind) after the ring's upgrades."""
    workdir.mkdir()
    with running_app(
        ring(CLUSTERS), POLICY, START, workdir, threads=threads,
        faults=FaultPlan(aks_throttle=THROTTLE), discovery="resource_graph", budget=budget,
    ) as app:  # fmt: skip
        app.host.fire_timer("sweep")  # every cluster is due at this instant
        app.host.run_until(START + dt.timedelta(hours=6))
        gate = app.sim.throttle()
        assert gate is not None
        arrivals = gate.arrivals()
        throttled = sum(1 for a in arrivals if not a.admitted)
        starts = sum(1 for a in arrivals if a.kind == "write" and a.admitted)
        return throttled, starts, behind(app), app


@pytest.fixture(autouse=True)
def quiet_retries() -> None:
    # Each retried 429 is a warning line; the test counts them instead.
    logging.getLogger("patchpilot.adapters.arm.retry").setLevel(logging.ERROR)


# On one thread and on the worker's pool, as Azure runs it. On the pool the retries'
# sleeps wake in order (VirtualClock.sleep): before that, a thread woken at its budget
# slot reached AKS seconds of virtual time late, bunched with others, 7 429s in a run.
@pytest.mark.parametrize(
    "threads", [pytest.param(1, id="one-thread"), pytest.param(None, id="worker-pool")]
)
def test_a_ring_due_at_once_stays_inside_the_subscriptions_throttle_and_every_start_happens(
    tmp_path: Path, threads: int | None
) -> None:
    unbudgeted, unbudgeted_starts, unbudgeted_behind, _ = run_ring(tmp_path / "off", None, threads)
    throttled, starts, still_behind, app = run_ring(tmp_path / "on", BUDGET, threads)

    assert unbudgeted > 0  # the ring does run into the throttle
    assert unbudgeted_behind == []
    assert throttled <= 1  # near zero: only a start that came back late can meet a 429
    assert still_behind == []
    assert starts == unbudgeted_starts == 2 * CLUSTERS
    assert not app.host.failures
