"""Chaos with the faults that broke the safety promises (issue 13), on SQLite and on Azurite.

The whole app runs (`running_app`) on six clusters whose three Linux pools
(3 to 6 nodes) are each one node image behind, from 2025-12-01T19:00Z to
2025-12-04T02:30Z. Every cluster has its own daily four-hour node OS window:
odd clusters from 18:00 UTC (under way at the start, it ends at 22:00), even
ones from 22:00 (the policy freezes 2025-12-02 whole, so the freeze's start
cuts their window at midnight). Both have windows after the freeze to finish.
Per seed, every fault of the extended model is on:

- lost replies: AKS accepts a start, the answer never comes back
  (`lost_start_rate`), and the gateway's retry sends it again;
- time: every retry's wait and every slow answer moves the virtual clock on;
  a throttle storm (429 with Retry-After 25 s for 75 % of requests) rages
  over the last ten minutes of the odd clusters' window and of the even
  clusters' window before the freeze, and five minutes past each;
- colliding workers: the host runs queue batches on two threads, a share of
  reconcile deliveries runs twice at once on two threads of one instance,
  or on two instances (another `Services` on the same store, another holder
  name), or beside an operator's `POST /api/upgrades` for the same cluster;
- skew: each instance's clock is off the virtual clock by a seeded -2.5..+2.5 min
  (two instances at most MAX_CLOCK_SKEW, 5 min, apart: the bound Patch Pilot tolerates);
- outside operations: someone else upgrades a seeded pool of an open window
  before Patch Pilot's first sweep, and another pool during the freeze;
- as before: 429, 500, dropped connections, slow answers, AKS events lost or
  delivered twice in a shuffled order, one pool's drain failing on a PDB.

What AKS itself recorded is the judge (the simulator's operation list, with
start times), against the ledger (`store.list_operations()`): no upgrade
begun twice, none begun outside an allowed window or in the freeze, every
pool on the new image or its cluster paused with a reason, no ledger record
left `expired` for an upgrade AKS ran, and no operator answered 5xx. Each
seed prints its faults by kind, starts, double starts and late starts
(`pytest -s`). `pytest --soak N` runs N seeds on each backend.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from patchpilot.adapters.store import Store, TableNames, open_table_store
from patchpilot.domain.policy import Policy, parse_policy
from patchpilot.localhost.harness import Harness, running_app
from patchpilot.localhost.workers import RacePlan, Workers
from patchpilot.service.deps import Tuning
from patchpilot.sim.faults import ExternalStart, FaultPlan, Storm
from patchpilot.sim.operations import SimOperation
from tests.integration.azurite import Azurite, running

SOAK = max(1, int(os.environ.get("PATCHPILOT_SOAK", "1") or "1"))
SUB = "00000000-0000-0000-0000-000000000000"
UBUNTU = "AKSUbuntu-2204gen2containerd"
OLD, NEW = "202511.03.0", "202511.17.0"
TARGET = f"{UBUNTU}-{NEW}"
CLUSTERS, POOLS = 6, 3
START = dt.datetime(2025, 12, 1, 19, 0, tzinfo=dt.UTC)
FREEZE_DAY = dt.date(2025, 12, 2)
WINDOW_HOURS = 4
# Even clusters open at 22:00 UTC (the freeze's start cuts their first window at midnight),
# odd ones at 18:00 (their first window ends at 22:00, already under way at START).
OPENS = {0: 22, 1: 18}
WINDOW_END = dt.datetime(2025, 12, 1, 22, 0, tzinfo=dt.UTC)
FREEZE_START = dt.datetime(2025, 12, 2, 0, 0, tzinfo=dt.UTC)
END = dt.datetime(2025, 12, 4, 2, 30, tzinfo=dt.UTC)
STORM = {"before": dt.timedelta(minutes=10), "after": dt.timedelta(minutes=5)}
SKEW_SECONDS = 150  # two instances at most 5 min apart: MAX_CLOCK_SKEW
# An hourly sweep (they cost most here; reconciles requeue themselves for the windows), at
# five to the hour: one falls inside each storm, five minutes before the window closes.
APP_SETTINGS = {"PATCHPILOT_SWEEP_SCHEDULE": "0 55 * * * *"}
# Follow-ups less often than Azure's default keep the run short; no fault depends on them.
TUNING = Tuning(follow_up=dt.timedelta(minutes=20))


def window(opens: int) -> dict[str, Any]:
    """A daily four-hour AKS maintenance window opening at `opens` o'clock UTC."""
    return {
        "schedule": {"daily": {"intervalDays": 1}},
        "durationHours": WINDOW_HOURS,
        "startTime": f"{opens:02d}:00",
    }


def opens_at(cluster: int) -> int:
    return OPENS[cluster % 2]


def chaos_policy() -> Policy:
    """One ring, the clusters' own windows, and the freeze day."""
    return parse_policy(
        {
            "scopes": [f"/subscriptions/{SUB}"],
            "default_window": window(OPENS[0]),
            "freezes": [
                {"start": FREEZE_DAY.isoformat(), "end": FREEZE_DAY.isoformat(), "reason": "freeze"}
            ],
            "rings": [{"name": "prod", "match": {"tags": {"env": "prod"}}, "soak_days": 0}],
            "kubernetes": {"channel": "none"},
        }
    )


def chaos_fleet(rng: random.Random) -> dict[str, Any]:
    """Six clusters, three Linux pools each (3 to 6 nodes), all one image behind."""
    clusters = []
    for index in range(CLUSTERS):
        pools = [
            {"name": f"p{n}", "os": "Linux", "os_sku": "Ubuntu", "mode": "User" if n else "System",
             "version": "1.33.2", "node_image": f"{UBUNTU}-{OLD}", "count": rng.randint(3, 6)}
            for n in range(POOLS)
        ]  # fmt: skip
        configuration = {"maintenanceWindow": window(opens_at(index))}
        clusters.append(
            {
                "id": f"/subscriptions/{SUB}/resourceGroups/rg-chaos"
                f"/providers/Microsoft.ContainerService/managedClusters/c{index}",
                "location": "westeurope",
                "tags": {"env": "prod"},
                "kubernetes_version": "1.33.2",
                "maintenance_configurations": {"aksManagedNodeOSUpgradeSchedule": configuration},
                "pools": pools,
            }
        )
    images = {UBUNTU: [OLD, NEW]}
    region = {"kubernetes": [{"version": "1.33.2"}], "node_images": images}
    return {"catalog": {"westeurope": region}, "clusters": clusters}


def storm(end: dt.datetime) -> Storm:
    return Storm(end - STORM["before"], end + STORM["after"], rate=0.75, retry_after_seconds=25)


def chaos_faults(seed: int, rng: random.Random) -> FaultPlan:
    """Every fault of the model at once, seeded."""
    # Someone upgrades a pool of an open window before Patch Pilot's first sweep, and another
    # pool (anyone's) during the freeze, when Patch Pilot may not.
    early = ExternalStart(
        f"c{rng.randrange(1, CLUSTERS, 2)}",
        f"p{rng.randrange(POOLS)}",
        START + dt.timedelta(minutes=rng.randint(2, 20)),
    )
    frozen = ExternalStart(
        f"c{rng.randrange(CLUSTERS)}",
        f"p{rng.randrange(POOLS)}",
        FREEZE_START + dt.timedelta(hours=rng.randint(6, 18)),
    )
    victim = (f"c{rng.randrange(CLUSTERS)}", f"p{rng.randrange(POOLS)}")
    return FaultPlan(
        throttle_rate=0.03,
        retry_after_seconds=1,
        server_error_rate=0.03,
        drop_rate=0.03,
        slow_rate=0.05,
        slow_seconds=20,
        lost_start_rate=0.3,
        storms=(storm(WINDOW_END), storm(FREEZE_START)),
        external_starts=(early, frozen),
        pdb_failures=frozenset({victim}),
        seed=seed,
    )


def allowed(cluster: str, moment: dt.datetime) -> bool:
    """Inside the cluster's daily window and outside the freeze day (whole UTC days)."""
    utc = moment.astimezone(dt.UTC)
    opens = opens_at(int(cluster.removeprefix("c")))
    in_window = (utc.hour - opens) % 24 < WINDOW_HOURS
    return in_window and utc.date() != FREEZE_DAY


def deliver_chaotically(app: Harness, rng: random.Random, counts: Counter[str]) -> None:
    """The host's event delivery: each event lost, delivered once or twice, shuffled.

    A lost event costs latency, never correctness (DESIGN.md): a start whose
    answer was lost must then be settled from AKS's own state, not from the
    NodePoolRolling* event that would have told.
    """

    def hook() -> int:
        app.sim.aks.tick()
        events = app.inbox.take()
        copies = [rng.choice((0, 1, 1, 2)) for _ in events]
        deliveries = [e for e, n in zip(events, copies, strict=True) for _ in range(n)]
        rng.shuffle(deliveries)
        for event in deliveries:
            app.host.deliver_event(event)
        counts["lost_event"] += copies.count(0)
        counts["duplicate_event"] += copies.count(2)
        return len(events)

    app.host.tick_hooks[:] = [hook]


@dataclass(frozen=True)
class Verdict:
    """What AKS recorded, judged against the ledger and the final state."""

    starts: int
    doubles: list[str]
    late: list[str]
    expired_but_ran: list[str]
    behind_unpaused: list[str]
    operator_errors: list[tuple[int, str]]


UpgradeKey = tuple[str, str, str, str]


def keys_of(operation: SimOperation) -> list[UpgradeKey]:
    cluster = operation.cluster.id.key
    return [(cluster, (p or "").lower(), kind, target) for p, kind, target in operation.upgrades()]


def double_starts(operations: list[SimOperation]) -> list[str]:
    """Patch Pilot's second start of a key, or a start after someone else's upgrade had done it."""
    found: list[str] = []
    ours: dict[UpgradeKey, SimOperation] = {}
    theirs: dict[UpgradeKey, SimOperation] = {}
    for operation in sorted(operations, key=lambda op: op.started):
        for key in keys_of(operation):
            if operation.external:
                theirs.setdefault(key, operation)
                continue
            other = theirs.get(key)
            done_before = (
                other is not None
                and other.status == "Succeeded"
                and other.ended is not None
                and other.ended <= operation.started
            )
            if key in ours or done_before:
                found.append(f"{key} at {operation.started.isoformat()}")
            ours.setdefault(key, operation)
    return found


def judge(app: Harness, workers: Workers) -> Verdict:
    now = app.clock.now()
    operations = app.sim.aks.operations()
    mine = [op for op in operations if not op.external and op.upgrades()]
    ran = {key for op in mine for key in keys_of(op)}
    ledger = app.services.store.list_operations()
    expired = [
        f"{r.key}"
        for r in ledger
        if r.state == "expired"
        and (r.key.cluster.lower(), (r.key.pool or "").lower(), r.key.kind, r.key.target) in ran
    ]
    paused = {
        (p.target or "").lower(): p.reason
        for p in app.services.store.list_pauses(now)
        if p.scope == "cluster" and p.reason.strip()
    }
    records = {(r.key.cluster.lower(), (r.key.pool or "").lower()): r.state for r in ledger}
    behind = [
        f"{c.id.name}/{p.name} (ledger: {records.get((c.id.key, p.name.lower()), 'no record')})"
        for c in app.sim.aks.clusters()
        for p in c.pools
        if str(p.node_image) != TARGET and c.id.key not in paused
    ]
    return Verdict(
        starts=len(mine),
        doubles=double_starts(operations),
        late=[
            f"{op.cluster.id.name}/{op.pool} at {op.started}"
            for op in mine
            if not allowed(op.cluster.id.name, op.started)
        ],
        expired_but_ran=expired,
        behind_unpaused=behind,
        operator_errors=[a for a in workers.manual_answers if a[0] >= 500],
    )


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    """One Azurite (Table service) for this module's Table Storage runs."""
    with running() as emulator:
        yield emulator


StoreOpener = Callable[[], Store]


@contextmanager
def backend_stores(
    backend: str, request: pytest.FixtureRequest
) -> Iterator[tuple[Store | None, StoreOpener | None]]:
    """SQLite: the harness's own file. Azurite: tables of this run, one client per instance.

    The queues stay SQLite on both: Azure Storage queues keep real time,
    which a virtual clock cannot move (visibility delays would take real
    minutes).
    """
    if backend == "sqlite":
        yield None, None
        return
    emulator: Azurite = request.getfixturevalue("azurite")
    names = TableNames.prefixed("c" + uuid.uuid4().hex[:12])

    def opener() -> Store:
        return open_table_store(connection_string=emulator.connection_string, names=names)

    yield opener(), opener


@pytest.mark.parametrize("backend", ["sqlite", "azurite"])
@pytest.mark.parametrize("seed", range(1, SOAK + 1))
def test_under_every_fault_aks_begins_each_upgrade_once_and_only_inside_a_window(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str, seed: int
) -> None:
    rng = random.Random(f"{seed}/chaos-faults")
    faults = chaos_faults(seed, rng)
    skews = [dt.timedelta(seconds=rng.randint(-SKEW_SECONDS, SKEW_SECONDS)) for _ in range(2)]
    counts: Counter[str] = Counter()
    with backend_stores(backend, request) as (store, opener), running_app(
        chaos_fleet(rng), chaos_policy(), START, tmp_path, faults=faults, store=store,
        open_store=opener, threads=2, skew=skews[0], app_settings=APP_SETTINGS, tuning=TUNING,
        discovery="resource_graph",
    ) as app:  # fmt: skip
        app.add_instance("instance-2", skews[1])
        workers = app.collide(
            RacePlan(seed, threads_rate=0.1, instances_rate=0.1, manual_rate=0.1, max_races=2)
        )
        deliver_chaotically(app, rng, counts)
        app.host.run_until(END)
        verdict = judge(app, workers)
        injected = app.sim.faults_injected() + counts + Counter(workers.races)
        injected.update(
            f"external_{outcome.split(':')[0].replace(' ', '_')}"
            for outcome in app.sim.aks.external_starts().values()
        )
    # The issue asks for these figures on the output (`pytest -s` shows them).
    print(  # noqa: T201
        f"seed {seed} ({backend}): faults {dict(sorted(injected.items()))}; "
        f"skews {[int(s.total_seconds()) for s in skews]} s; starts {verdict.starts}, "
        f"double starts {len(verdict.doubles)}, late starts {len(verdict.late)}, "
        f"expired but ran {len(verdict.expired_but_ran)}, behind and not paused "
        f"{len(verdict.behind_unpaused)}, operator 5xx {len(verdict.operator_errors)}"
    )
    for kind in ("lost_start", "storm", "slow", "threads", "instances", "manual", "lost_event"):
        assert injected[kind] > 0, f"seed {seed} injected no {kind}"
    assert injected["external_started"] > 0, app.sim.aks.external_starts()
    assert not verdict.doubles, f"AKS began an upgrade twice: {verdict.doubles}"
    assert not verdict.late, (
        f"AKS began an upgrade outside a window or in the freeze: {verdict.late}"
    )
    assert not verdict.expired_but_ran, f"ledger expired, AKS ran it: {verdict.expired_but_ran}"
    assert not verdict.behind_unpaused, f"behind, cluster not paused: {verdict.behind_unpaused}"
    assert not verdict.operator_errors, f"an operator got a 5xx: {verdict.operator_errors}"
