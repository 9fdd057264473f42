"""A store aged by two simulated years, and patching goes on (issue 14).

Patch Pilot runs unattended for years, and its store only grows unless
something removes what is no longer needed. Two simulated years through the
whole app would take far longer than a test may, so the two years are made
week by week on one virtual clock, with the real app wherever it is the app
that writes:

- AKS releases a node image in each of six Linux image families every week
  (the simulator's catalog, one region), and the sweep timer runs once a week
  through the local host, so the region's catalog picture grows as it would;
- each week every pool "was upgraded" to that week's image (the simulator's
  pools are moved, as AKS would have), and the store gets what that week's
  upgrades leave behind, written at that week's time through the Store API:
  ledger claims, starts and outcomes, ring progress, seen event ids;
- an operator's pause a week through `POST /api/pauses` with an
  `Idempotency-Key` (a pause that ends by itself, and the key's record);
- a month's Windows image watch opened and closed, and a poison message.

Then AKS releases one more image in every family and the app runs on its own
for a few days: every pool of every ring must reach it, and no invocation may
have failed in two years. On the store of 3cd61bc this fails: the region's
catalog picture passes the store's 32,000-character cap after about 1.8
years, and from then on every sweep and reconcile in the region raises
``ValueError``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from patchpilot.adapters.store import Claim, OperationKey, Store
from patchpilot.domain.node_images import NodeImageVersion, parse_node_image
from patchpilot.domain.policy import parse_policy
from patchpilot.localhost.harness import Harness, running_app
from patchpilot.runtime import RECONCILE_QUEUE
from patchpilot.sim.pace import Pace

SUB: Final = "00000000-0000-0000-0000-000000000000"
REGION: Final = "westeurope"
# Six Linux families, as a fleet that runs Ubuntu 22.04 and 24.04, Azure Linux 2 and 3,
# Arm64 and FIPS pools has; AKS ships a new image for each about weekly.
FAMILIES: Final = (
    "AKSUbuntu-2204gen2containerd",
    "AKSUbuntu-2404gen2containerd",
    "AKSAzureLinux-V2gen2",
    "AKSAzureLinux-V3gen2",
    "AKSUbuntu-2204gen2arm64containerd",
    "AKSUbuntu-2204gen2fipscontainerd",
)
WINDOWS: Final = "AKSWindows-2022-containerd"
START: Final = dt.datetime(2024, 1, 6, 0, 0, tzinfo=dt.UTC)  # a Saturday
WEEK: Final = dt.timedelta(weeks=1)
WEEKS: Final = 104
# The image that comes after two years, and how long the app has to roll it through the rings.
FINAL_RELEASE: Final = START + (WEEKS + 1) * WEEK
PATCH_DAYS: Final = 4
RINGS: Final = (("dev", 0), ("staging", 1), ("prod", 1))
ALL_DAY: Final = {
    "schedule": {"daily": {"intervalDays": 1}},
    "durationHours": 24,
    "startTime": "00:00",
}
KUBERNETES: Final = "1.33.2"


def image(family: str, week: int) -> NodeImageVersion:
    """The image AKS released in `family` in week `week` (0: the one pools start on)."""
    day = (START + week * WEEK).date()
    return parse_node_image(f"{family}-{day:%Y%m}.{day:%d}.0")


def released(week: int) -> str:
    return (START + week * WEEK).date().isoformat()


def fleet() -> dict[str, Any]:
    """One cluster per ring, each with a pool of every family, in one region."""
    images = {
        family: [image(family, 0).version]
        + [
            {"version": image(family, w).version, "released": released(w)}
            for w in range(1, WEEKS + 2)
        ]
        for family in FAMILIES
    }
    clusters = [
        {
            "id": cluster_id(ring),
            "location": REGION,
            "tags": {"env": ring},
            "kubernetes_version": KUBERNETES,
            "auto_upgrade_channel": "none",
            "node_os_upgrade_channel": "None",
            "maintenance_configurations": {
                "aksManagedNodeOSUpgradeSchedule": {"maintenanceWindow": ALL_DAY}
            },
            "pools": [
                {
                    "name": f"pool{index}",
                    "os": "Linux",
                    "mode": "System" if index == 0 else "User",
                    "version": KUBERNETES,
                    "node_image": str(image(family, 0)),
                    "count": 1,
                }
                for index, family in enumerate(FAMILIES)
            ],
        }
        for ring, _ in RINGS
    ]
    catalog = {REGION: {"kubernetes": [{"version": KUBERNETES}], "node_images": images}}
    return {"catalog": catalog, "clusters": clusters}


def cluster_id(ring: str) -> str:
    return (
        f"/subscriptions/{SUB}/resourceGroups/rg-{ring}"
        f"/providers/Microsoft.ContainerService/managedClusters/{ring}-1"
    )


POLICY: Final = parse_policy(
    {
        "scopes": [f"/subscriptions/{SUB}"],
        "default_window": ALL_DAY,
        "rings": [
            {"name": ring, "match": {"tags": {"env": ring}}, "soak_days": soak}
            for ring, soak in RINGS
        ],
        "kubernetes": {"channel": "none"},
        "node_images": {"selection": "soaked", "linux": {"enabled": True}},
    }
)


def scratch() -> Path | None:
    """Memory-backed /dev/shm when there is one: two years of writes need not wait on a disk."""
    shm = Path("/dev/shm")  # a private temporary directory is made inside
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


@pytest.fixture
def app() -> Iterator[Harness]:
    settings = {"PATCHPILOT_SWEEP_SCHEDULE": "0 0 * * * *"}  # hourly once the years are made
    with (
        tempfile.TemporaryDirectory(prefix="patchpilot-aged-", dir=scratch()) as work,
        running_app(
            fleet(),
            POLICY,
            START,
            Path(work),
            pace=Pace(seconds_per_node=120),
            app_settings=settings,
            discovery="resource_graph",
        ) as harness,
    ):
        yield harness


def upgrade_everything(app: Harness, week: int) -> None:
    """AKS's side of a week: every pool now runs the week's image of its family."""
    with app.sim.aks.transaction():
        for cluster in app.sim.aks.clusters():
            for pool in cluster.pools:
                pool.node_image = image(pool.node_image.family, week)


def leave_a_weeks_records(store: Store, app: Harness, week: int) -> None:
    """What a week of upgrades leaves in the store, written at the week's own times."""
    at = app.clock.now()
    ttl = app.services.tuning.event_ttl
    for cluster in app.sim.aks.clusters():
        for pool in cluster.pools:
            target = str(pool.node_image)
            key = OperationKey(cluster.key, pool.name, "node_image", target)
            claim = store.claim(key, at, dt.timedelta(minutes=30), holder="aged")
            assert isinstance(claim, Claim), f"{key} was claimed before"
            store.mark_started(key, f"op-{week}-{pool.name}", at, claim.etag)
            store.mark_finished(key, "succeeded", at + dt.timedelta(minutes=20))
            store.record_reached(cluster.key, pool.name, "node_image", target, at)
            for phase in ("started", "succeeded"):
                store.seen_event(f"{cluster.key}/{pool.name}/{target}/{phase}", at, ttl)
    if week % 4 == 0:
        month = at.strftime("%Y-%m")
        store.open_watch(month, REGION, WINDOWS, at)
        store.close_watch(month, REGION, WINDOWS, f"{WINDOWS}-20348.{week}.{at:%y%m%d}", at)
        store.record_poison(f"aged-{week}", json.dumps({"cluster": "malformed"}), at)


def pause_for_an_hour(app: Harness, week: int) -> None:
    """An operator's short pause of dev, retried once with the same Idempotency-Key."""
    until = (app.clock.now() + dt.timedelta(hours=1)).isoformat()
    body = json.dumps({"scope": "cluster", "target": cluster_id("dev"), "reason": "change review",
                       "until": until}).encode()  # fmt: skip
    for _ in range(2):
        answer = app.host.http("POST", "/api/pauses", body=body,
                               headers={"Idempotency-Key": f"review-{week}"})  # fmt: skip
        assert answer.status_code in {200, 201}, answer.get_body()


def drop_queued(app: Harness) -> None:
    """The years are made by hand: nothing a weekly sweep enqueued is left to run later."""
    queue = app.host.queues[RECONCILE_QUEUE]
    while batch := queue.receive(now=app.clock.now(), limit=64, lock=dt.timedelta(days=1)):
        for delivery in batch:
            queue.delete(delivery)


def age(app: Harness) -> None:
    """Two years, a week at a time, each at noon of its release day."""
    store = app.services.store
    for week in range(1, WEEKS + 1):
        app.clock.advance_to(START + week * WEEK + dt.timedelta(hours=12))
        upgrade_everything(app, week)
        leave_a_weeks_records(store, app, week)
        app.host.fire_timer("sweep")
        drop_queued(app)
        pause_for_an_hour(app, week)


def test_two_years_of_history_and_catalog_do_not_stop_the_next_rollout(app: Harness) -> None:
    age(app)

    app.clock.advance_to(FINAL_RELEASE)
    app.host.run_until(FINAL_RELEASE + dt.timedelta(days=PATCH_DAYS))

    behind = [
        f"{cluster.id.name}/{pool.name}: {pool.node_image}"
        for cluster in app.sim.aks.clusters()
        for pool in cluster.pools
        if pool.node_image != image(pool.node_image.family, WEEKS + 1)
    ]
    failures = app.host.failures
    assert not behind, f"{len(behind)} pools never got the new image: {behind[:3]}; {failures[:1]}"
    assert not failures, f"{len(failures)} invocations failed, first: {failures[0]}"
