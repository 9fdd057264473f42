"""Ring gate sums in the store, on SQLite and Azurite: exact under races, bounded in reads.

A sum that counts a member twice opens a gate early; one that loses a member
opens it without that member's evidence. So: many writers at once, the same
cluster written again, members leaving, and a new generation of ring
membership that starts from nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from patchpilot.adapters.store import Store, TableNames, open_sqlite_store, open_table_store
from patchpilot.domain.gates import Arrivals, Tally
from tests.integration.azurite import Azurite, running

GATE = ("dev", "AKSUbuntu-2204gen2containerd")
IMAGE = "AKSUbuntu-2204gen2containerd-202511.17.0"
AT = dt.datetime(2025, 11, 22, tzinfo=dt.UTC)
GEN = "g1"


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    with running() as emulator:
        yield emulator


@pytest.fixture(params=["sqlite", "tables"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Store]]:
    """Eight store objects on one backing storage (eight workers)."""
    opened: list[Store]
    if request.param == "sqlite":
        opened = [open_sqlite_store(tmp_path / "state.db") for _ in range(8)]
    else:
        emulator: Azurite = request.getfixturevalue("azurite")
        names = TableNames.prefixed("g" + uuid.uuid4().hex[:12])
        opened = [
            open_table_store(connection_string=emulator.connection_string, names=names)
            for _ in range(8)
        ]
    yield opened
    for store in opened:
        store.close()


def member(pools: int, reached: bool) -> Tally:
    arrivals = {IMAGE: Arrivals(pools, AT)} if reached else {}
    return Tally(pools, arrivals, {"202511.17.0": pools})


PREFIX = "/subscriptions/s/resourcegroups/rg/providers/microsoft.containerservice"


def cluster(n: int) -> str:
    return f"{PREFIX}/managedclusters/c{n}"


def test_forty_clusters_written_by_eight_workers_at_once_sum_exactly(stores: list[Store]) -> None:
    def write(n: int) -> None:
        store = stores[n % len(stores)]
        store.set_contributions(cluster(n), {GATE: member(2, reached=n % 4 != 0)}, GEN)
        # A repeat (a retried invocation) changes nothing.
        store.set_contributions(cluster(n), {GATE: member(2, reached=n % 4 != 0)}, GEN)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(40)))
    total = stores[0].read_gates([GATE], GEN)[GATE]
    assert total.members == 80
    assert total.reached[IMAGE].count == 60
    assert IMAGE not in total.soaked_targets()


def test_members_that_reach_or_leave_move_the_sum_and_open_the_gate(stores: list[Store]) -> None:
    store = stores[0]
    for n in range(3):
        store.set_contributions(cluster(n), {GATE: member(1, reached=n != 2)}, GEN)
    assert IMAGE not in store.read_gates([GATE], GEN)[GATE].soaked_targets()
    store.set_contributions(cluster(2), {}, GEN)  # the laggard is deleted
    assert store.read_gates([GATE], GEN)[GATE].soaked_targets() == {IMAGE: AT}
    store.set_contributions(cluster(3), {GATE: member(1, reached=False)}, GEN)
    assert IMAGE not in store.read_gates([GATE], GEN)[GATE].soaked_targets()
    store.set_contributions(cluster(3), {GATE: member(1, reached=True)}, GEN)
    gate = store.read_gates([GATE], GEN)[GATE]
    assert gate.members == 3
    assert gate.soaked_targets() == {IMAGE: AT}


def test_a_new_generation_starts_empty_and_the_old_one_is_left_behind(stores: list[Store]) -> None:
    store = stores[0]
    store.set_contributions(cluster(1), {GATE: member(1, reached=True)}, GEN)
    assert store.read_gates([GATE], "g2") == {}
    store.set_contributions(cluster(1), {GATE: member(1, reached=False)}, "g2")
    assert store.read_gates([GATE], "g2")[GATE].members == 1
    # Unchanged since: the old generation's sums are no longer maintained, never doubled.
    assert store.read_gates([GATE], GEN)[GATE].members == 1
