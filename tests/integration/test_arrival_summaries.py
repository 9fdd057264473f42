"""Each pool's newest arrivals in one row: a tally reads a row per pool, however old the cluster.

Over a year of weekly images a cluster's progress partition fills to the
retention cap; gate tallies read from it made a reconcile's reads grow with
history (bench/state_scale.py --part year). These tests hold the summary to
the arrival rows it caches: the same arrivals, bounded, the earliest report
winning, rebuilt when missing, exact under racing writers.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.row_counts import CountingRows
from patchpilot.adapters.store import open_sqlite_store
from patchpilot.adapters.store.arrivals import KEPT, Subject, summary_key
from patchpilot.adapters.store.codec import cluster_partition
from patchpilot.adapters.store.rowstore import RowStore
from patchpilot.adapters.store.sqlite import SqliteRows
from patchpilot.domain.history import Reached
from patchpilot.service.retention import sweep_store

CLUSTER = (
    "/subscriptions/s/resourcegroups/rg/providers/microsoft.containerservice/managedclusters/c1"
)
AT = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
WEEK = dt.timedelta(days=7)
SUBJECTS: list[Subject] = [(None, "kubernetes"), ("linux", "node_image"), ("win", "node_image")]


def image(week: int) -> str:
    return f"AKSUbuntu-2204gen2containerd-2025{week:02d}.01.0"


def record_a_year(store: RowStore) -> None:
    """52 weekly images on two pools, a Kubernetes patch a month: far past the cap."""
    for week in range(52):
        store.record_reached(CLUSTER, "linux", "node_image", image(week), AT + week * WEEK)
        store.record_reached(CLUSTER, "win", "node_image", f"win-{week}", AT + week * WEEK)
        if week % 4 == 0:
            store.record_reached(CLUSTER, None, "kubernetes", f"1.33.{week}", AT + week * WEEK)


def test_the_summary_holds_the_newest_arrivals_of_each_pool_as_the_rows_say(
    tmp_path: Path,
) -> None:
    store = open_sqlite_store(tmp_path / "state.db")
    record_a_year(store)

    kept = store.list_arrivals(CLUSTER, SUBJECTS)

    every = {(r.pool, r.kind, r.target): r for r in store.list_reached(CLUSTER)}
    newest_linux = sorted((r for r in every.values() if r.pool == "linux"), key=lambda r: r.at)[
        -KEPT:
    ]
    assert [r for r in kept if r.pool == "linux"] == newest_linux
    assert len([r for r in kept if r.pool == "win"]) == KEPT
    assert [r.target for r in kept if r.pool is None] == [f"1.33.{w}" for w in range(0, 52, 4)]
    assert all(every[(r.pool, r.kind, r.target)] == r for r in kept)


def test_a_tally_reads_one_row_per_pool_after_a_year_as_after_a_week(tmp_path: Path) -> None:
    rows = SqliteRows(tmp_path / "state.db")
    store = RowStore(rows)
    store.record_reached(CLUSTER, "linux", "node_image", image(0), AT)
    store.record_reached(CLUSTER, "win", "node_image", "win-0", AT)
    counting = CountingRows(rows).install()

    store.list_arrivals(CLUSTER, SUBJECTS)  # the cluster's own summary is built once here
    first = counting.tally.copy()
    store.list_arrivals(CLUSTER, SUBJECTS)
    after_a_week = counting.tally.since(first)
    record_a_year(store)
    before = counting.tally.copy()
    store.list_arrivals(CLUSTER, SUBJECTS)
    after_a_year = counting.tally.since(before)

    assert after_a_week.requests == after_a_year.requests == len(SUBJECTS)
    assert after_a_year.read == len(SUBJECTS)
    assert len(store.list_reached(CLUSTER)) > 100  # what a partition scan would have read


def test_an_earlier_report_wins_and_a_late_one_changes_nothing(tmp_path: Path) -> None:
    store = open_sqlite_store(tmp_path / "state.db")
    store.record_reached(CLUSTER, "linux", "node_image", image(1), AT + WEEK)
    store.record_reached(CLUSTER, "linux", "node_image", image(1), AT)
    store.record_reached(CLUSTER, "linux", "node_image", image(1), AT + 2 * WEEK)

    (kept,) = store.list_arrivals(CLUSTER, [("linux", "node_image")])

    assert kept == Reached(CLUSTER, "linux", "node_image", image(1), AT)


def test_a_missing_summary_is_rebuilt_from_the_arrival_rows(tmp_path: Path) -> None:
    """A cluster recorded before summaries existed, or a crash between the two writes."""
    rows = SqliteRows(tmp_path / "state.db")
    store = RowStore(rows)
    record_a_year(store)
    partition = cluster_partition(CLUSTER)
    for pool, kind in SUBJECTS:
        row = rows.get("ppprogress", partition, summary_key(pool, kind))
        assert row is not None
        rows.delete("ppprogress", partition, row.key, row.etag)

    rebuilt = store.list_arrivals(CLUSTER, SUBJECTS)
    store.record_reached(CLUSTER, "linux", "node_image", image(60), AT + 60 * WEEK)

    assert len([r for r in rebuilt if r.pool == "linux"]) == KEPT
    kept = [r.target for r in store.list_arrivals(CLUSTER, [("linux", "node_image")])]
    assert kept == [image(w) for w in range(52 - KEPT + 1, 52)] + [image(60)]


def test_racing_writers_lose_no_arrival(tmp_path: Path) -> None:
    stores = [open_sqlite_store(tmp_path / "state.db") for _ in range(6)]

    def write(index: int) -> None:
        for week in range(index, KEPT, len(stores)):
            stores[index].record_reached(
                CLUSTER, "linux", "node_image", image(week), AT + week * WEEK
            )

    with ThreadPoolExecutor(len(stores)) as pool:
        list(pool.map(write, range(len(stores))))

    kept = stores[0].list_arrivals(CLUSTER, [("linux", "node_image")])
    assert [r.target for r in kept] == [image(w) for w in range(KEPT)]


def test_retention_and_every_arrival_reader_leave_summaries_alone(tmp_path: Path) -> None:
    store = open_sqlite_store(tmp_path / "state.db")
    record_a_year(store)
    summaries = store.list_arrivals(CLUSTER, SUBJECTS)

    reached = store.list_reached(CLUSTER)
    later = AT + 60 * WEEK
    assert sweep_store(store, store.retention("g1"), later).swept.laps == 1  # one whole pass

    assert {r.kind for r in reached} == {"kubernetes", "node_image"}
    assert len(reached) == 52 * 2 + 13
    assert len(store.list_reached(CLUSTER)) == 2 * KEPT + 13  # the cap, per pool and kind
    assert store.list_arrivals(CLUSTER, SUBJECTS) == summaries
