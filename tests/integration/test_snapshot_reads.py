"""Saving a cluster's picture reads that picture, not the rest of its subscription's kind.

A reconcile, a settle and a manual upgrade each save one cluster; when
`save_clusters` compared against every stored picture of the kind, each save
read a row per cluster of the subscription (1,000 rows at 1,000 clusters).
The store's rows are counted as the state-scale benchmark counts them
(:class:`bench.row_counts.CountingRows`), so the figure is a backend's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest

from bench.row_counts import CountingRows, Tally
from patchpilot.adapters.store.rowstore import RowStore
from patchpilot.adapters.store.sqlite import SqliteRows
from patchpilot.domain.fleet import ClusterState, parse_fleet
from patchpilot.service.snapshots import cluster_kind, save_clusters
from tests.factories import cluster, policy

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(minutes=15)


def reads_of_one_save(tmp_path: Path, clusters_in_kind: int, *, changed: bool) -> Tally:
    """The store traffic of saving the first of `clusters_in_kind` clusters of one subscription."""
    rows = SqliteRows(tmp_path / f"state-{clusters_in_kind}-{changed}.db")
    store = RowStore(rows)
    rules = policy()
    fleet = parse_fleet(
        {"clusters": [cluster(f"c{n:04d}", "prod") for n in range(clusters_in_kind)]}
    )
    save_clusters(store, fleet.clusters, NOW, policy=rules)
    first: ClusterState = fleet.clusters[0]
    assert len(store.list_snapshots(cluster_kind(first.key))) == clusters_in_kind
    saved = replace(first, provisioning_state="Upgrading") if changed else first
    counting = CountingRows(rows).install()
    try:
        save_clusters(store, [saved], LATER, policy=rules)
    finally:
        counting.uninstall()
    return counting.tally


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param(False, id="unchanged-picture"),
        pytest.param(True, id="changed-picture"),
    ],
)
def test_saving_one_cluster_reads_as_many_rows_beside_one_cluster_as_beside_300(
    tmp_path: Path, changed: bool
) -> None:
    alone = reads_of_one_save(tmp_path, 1, changed=changed)
    crowded = reads_of_one_save(tmp_path, 300, changed=changed)

    assert crowded.read == alone.read
    assert crowded.calls == alone.calls
    # Its own picture, then (changed) the write's etag and its progress rows: a few, not 300.
    assert crowded.read <= 4
    assert crowded.calls["scan"] == 0
