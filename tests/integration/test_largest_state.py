"""The largest state Azure allows fits the store's values, and reads back as written.

Table Storage holds at most 64 KiB in one string property (32,000 characters
here, `MAX_SNAPSHOT_CHARS`). The largest cluster AKS allows (100 node pools,
50 tags of the longest names and values, three maintenance configurations),
a region catalog of many image families, and a ring gate sum at every bound
must each be stored and read back, on Table Storage's rules, not only SQLite's.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchpilot.adapters.store import Store, open_sqlite_store
from patchpilot.adapters.store.rowstore import MAX_SNAPSHOT_CHARS
from patchpilot.domain.fleet import RegionCatalog, parse_fleet
from patchpilot.domain.gates import (
    KUBERNETES,
    SHOWN_FAILURES,
    SUM_TARGETS,
    Arrivals,
    Tally,
)
from patchpilot.domain.policy import parse_policy
from patchpilot.service.snapshots import (
    REGIONS,
    load_cluster,
    merge_catalog,
    save_clusters,
)
from tests.factories import cluster, policy_doc, pool

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
WINDOW = {
    "schedule": {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Saturday"}},
    "durationHours": 6,
    "utcOffset": "+01:00",
    "startTime": "02:00",
    "startDate": "2025-01-04",
    "notAllowedDates": [
        {"start": f"2026-{m:02d}-01", "end": f"2026-{m:02d}-03"} for m in range(1, 13)
    ],
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_sqlite_store(tmp_path / "state.db")
    yield opened
    opened.close()


def test_the_largest_cluster_azure_allows_is_stored_and_read_back(store: Store) -> None:
    pools = [pool(f"p{n:02d}abcdefghi"[:12], version="1.32.6") for n in range(100)]
    tags = {f"{n:02d}" + "k" * 510: "v" * 256 for n in range(49)} | {"env": "prod"}
    doc = cluster(
        "c" * 63,
        "prod",
        pools=pools,
        tags=tags,
        maintenance_configurations={
            name: {"maintenanceWindow": WINDOW}
            for name in ("default", "aksManagedAutoUpgradeSchedule")
        }
        | {"aksManagedNodeOSUpgradeSchedule": {"maintenanceWindow": WINDOW}},
    )
    state = parse_fleet({"clusters": [doc]}).clusters[0]
    policy = parse_policy(policy_doc())
    save_clusters(store, [state], NOW, policy=policy)
    back = load_cluster(store, state.key)
    assert back is not None
    assert back.pools == state.pools
    assert back.maintenance == state.maintenance
    assert policy.ring_of(back.tags) == policy.ring_of(state.tags)


def test_a_region_with_many_image_families_stays_within_one_value(store: Store) -> None:
    families = {
        f"AKSUbuntu-22{n:02d}gen2containerd": [
            f"2025{m:02d}.{d:02d}.0" for m in (1, 2, 3, 4, 5, 6) for d in (1, 8, 15, 22, 28)
        ]
        for n in range(40)
    }
    region = {"kubernetes": [{"version": "1.32.6"}], "node_images": families}
    catalog = parse_fleet({"catalog": {"westeurope": region}, "clusters": []})
    observed: dict[str, RegionCatalog] = {"westeurope": catalog.region("westeurope")}
    merge_catalog(store, observed, NOW)
    body = store.get_snapshot(REGIONS, "westeurope")
    assert body is not None
    assert len(body) <= MAX_SNAPSHOT_CHARS
    kept = json.loads(body)["node_images"]
    assert all(len(images) >= 2 for images in kept.values())
    # The newest image of every family survives the trim.
    assert all(any(e["version"] == "202506.28.0" for e in images) for images in kept.values())


def test_a_gate_sum_at_every_bound_fits_and_reads_back(store: Store) -> None:
    versions = [f"1.{minor}.{patch}" for minor in range(30, 38) for patch in range(8)]
    reached = {v: Arrivals(1000, NOW) for v in versions[:SUM_TARGETS]}
    failures = {
        f"/subscriptions/x/{'c' * 200}{n}||1.32.9": "m" * 300 for n in range(SHOWN_FAILURES)
    }
    tally = Tally(1000, reached, dict.fromkeys(versions[:SUM_TARGETS], 10), 12, failures)
    assert len(json.dumps(tally.to_json())) <= MAX_SNAPSHOT_CHARS
    gate = ("dev", KUBERNETES)
    store.set_contributions("/subscriptions/x/c", {gate: tally}, "g")
    assert store.read_gates([gate], "g")[gate] == tally
