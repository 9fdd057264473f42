"""Chaos: faulted ARM, duplicated and reordered events, a failed drain; the fleet still ends safe.

The whole app runs (`running_app`: simulator, SQLite, the local host, one
virtual clock) on a fleet whose Linux pools are one node image behind, each
cluster with a daily four-hour node OS window. About 20 % of ARM calls fail
(429 with Retry-After, 500, dropped connections, slow answers), every AKS
event is delivered one to three times in a shuffled order, and one random
pool's drain fails on a Pod Disruption Budget. After a virtual day: every
pool that was due runs the new image or its cluster is paused with a reason;
no upgrade started twice; none started outside its window. Counts are printed.

Not covered here: workers killed with SIGKILL (tests/reliability/test_reconcile_crash.py).
``PATCHPILOT_SOAK=N`` runs N seeds.
"""

from __future__ import annotations

import datetime as dt
import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench.arm_cost import AT, NEW_LINUX, generate, policy
from patchpilot.sim.faults import FaultPlan
from patchpilot.sim.harness import Harness, running_app

SOAK = max(1, int(os.environ.get("PATCHPILOT_SOAK", "1") or "1"))
CLUSTERS = 12
WINDOW_START, WINDOW_HOURS = 2, 4
WINDOW = {
    "schedule": {"daily": {"intervalDays": 1}},
    "durationHours": WINDOW_HOURS,
    "startTime": f"{WINDOW_START:02d}:00",
}
UPGRADES = ("AgentPools_UpgradeNodeImageVersion",)


def chaotic_fleet(rng: random.Random) -> tuple[dict[str, Any], tuple[str, str]]:
    """Every cluster behind, with the daily window; and the pool whose drain will fail."""
    fleet = generate(CLUSTERS, behind=CLUSTERS)
    for cluster in fleet["clusters"]:
        cluster["maintenance_configurations"] = {
            "aksManagedNodeOSUpgradeSchedule": {"maintenanceWindow": WINDOW}
        }
    victim = (f"c{rng.randrange(CLUSTERS)}", rng.choice(["system", "user"]))
    return fleet, victim


def deliver_chaotically(app: Harness, rng: random.Random, counts: Counter[str]) -> None:
    """Replace the host's event delivery: each event 1-3 times, shuffled."""

    def hook() -> int:
        app.sim.aks.tick()
        events = app.inbox.take()
        deliveries = [e for e in events for _ in range(rng.randint(1, 3))]
        rng.shuffle(deliveries)
        for event in deliveries:
            app.host.deliver_event(event)
        counts["events"] += len(events)
        counts["deliveries"] += len(deliveries)
        return len(events)

    app.host.tick_hooks[:] = [hook]


def in_window(moment: dt.datetime) -> bool:
    """Inside the daily window [02:00, 06:00) UTC."""
    return WINDOW_START <= moment.hour < WINDOW_START + WINDOW_HOURS


@pytest.mark.parametrize("seed", range(1, SOAK + 1))
def test_under_chaos_every_due_pool_ends_patched_or_paused_and_nothing_runs_twice(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    fleet, victim = chaotic_fleet(rng)
    faults = FaultPlan(
        throttle_rate=0.05,
        retry_after_seconds=1,
        server_error_rate=0.05,
        drop_rate=0.05,
        slow_rate=0.05,
        slow_seconds=0.01,
        pdb_failures=frozenset({victim}),
        seed=seed,
    )
    counts: Counter[str] = Counter()
    with running_app(fleet, policy(), AT, tmp_path, faults=faults) as app:
        deliver_chaotically(app, rng, counts)
        app.host.run_until(AT + dt.timedelta(days=1))
        now = app.clock.now()
        requests = app.sim.requests()
        started = [n for n in app.publisher.notices if n.type == "UpgradeStarted"]
        paused = {
            p.target: p.reason for p in app.services.store.list_pauses(now) if p.scope == "cluster"
        }
        # AKS's own record: one long-running operation per upgrade it actually began.
        begun = Counter(
            (op.cluster.id.key, op.pool) for op in app.sim.aks.operations() if op.pool is not None
        )
        behind = [
            (c.id.key, c.id.name, p.name)
            for c in app.sim.aks.clusters()
            for p in c.pools
            if p.os_type == "Linux" and p.node_image.version != NEW_LINUX
        ]
    keys = [
        (n.data["cluster"].lower(), n.data["pool"], n.data["kind"], n.data["to"]) for n in started
    ]
    faulted = sum(n for (_, status), n in requests.items() if status in (0, 429, 500))
    accepted = sum(n for (op, status), n in requests.items() if op in UPGRADES and status < 300)
    # The issue asks for the counts on the output (`pytest -s` shows them).
    print(  # noqa: T201
        f"seed {seed}: {sum(requests.values())} ARM requests, {faulted} faulted; "
        f"{counts['events']} events in {counts['deliveries']} deliveries; "
        f"{len(keys)} upgrades started, {sum(begun.values())} begun by AKS "
        f"({accepted} upgrade calls answered 2xx); "
        f"{len(behind)} pools behind, {len(paused)} clusters paused; drain fails on {victim}"
    )
    assert faulted > 0
    assert len(keys) == len(set(keys)), "an upgrade started twice"
    assert all(n == 1 for n in begun.values()), f"AKS began an upgrade twice: {begun}"
    assert sum(begun.values()) == len(keys)
    assert all(in_window(n.time) for n in started), [n.time for n in started]
    for key, name, pool in behind:
        assert paused.get(key, "").strip(), f"{name}/{pool} is behind and its cluster not paused"
