"""The row primitives the store's rules stand on, on SQLite and on Azurite alike.

Range scans, pages and all-or-none commits are what keep a reconcile's reads
on its own partitions and a ring gate's sum exact; these tests pin the
primitives on both backends so the rules above them can rely on them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchpilot.adapters.store.errors import RowChangedError, RowExistsError
from patchpilot.adapters.store.rows import Row, Rows, Write
from patchpilot.adapters.store.sqlite import SqliteRows
from tests.integration.azurite import Azurite, running


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    """One Azurite for this module."""
    with running() as emulator:
        yield emulator


@pytest.fixture(params=["sqlite", "tables"])
def rows(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Rows, str]]:
    """A backend and a fresh table name in it."""
    table = "r" + uuid.uuid4().hex[:12]
    if request.param == "sqlite":
        backend: Rows = SqliteRows(tmp_path / "rows.db")
    else:
        from patchpilot.adapters.store.tables import TableRows

        emulator: Azurite = request.getfixturevalue("azurite")
        backend = TableRows.from_connection_string(emulator.connection_string)
    yield backend, table
    backend.close()


def keys(found: list[Row]) -> list[tuple[str, str]]:
    return [(row.partition, row.key) for row in found]


def seed(backend: Rows, table: str) -> None:
    for partition in ("a~1", "a~2", "a~~", "b~1", "a"):
        for key in ("m~x", "sum~0", "sum~1", "sum~~", "sum", "t"):
            backend.insert(table, partition, key, {"n": 1})


def test_a_key_prefix_reads_exactly_the_keys_that_start_with_it(rows: tuple[Rows, str]) -> None:
    backend, table = rows
    seed(backend, table)
    found = backend.scan(table, "a~1", key_prefix="sum~")
    assert keys(found) == [("a~1", "sum~0"), ("a~1", "sum~1"), ("a~1", "sum~~")]


def test_a_partition_prefix_reads_exactly_those_partitions(rows: tuple[Rows, str]) -> None:
    backend, table = rows
    seed(backend, table)
    found = backend.scan(table, partition_prefix="a~")
    assert sorted({row.partition for row in found}) == ["a~1", "a~2", "a~~"]
    assert len(found) == 18


def test_pages_walk_the_whole_table_in_key_order_without_repeats(
    rows: tuple[Rows, str],
) -> None:
    backend, table = rows
    seed(backend, table)
    seen: list[tuple[str, str]] = []
    after: tuple[str, str] | None = None
    while page := backend.page(table, after=after, limit=7):
        assert len(page) <= 7
        seen += keys(page)
        after = seen[-1]
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen)) == 30
    one = backend.page(table, partition="b~1", limit=100)
    assert {row.partition for row in one} == {"b~1"}
    assert len(one) == 6


def test_a_commit_applies_every_write_or_none(rows: tuple[Rows, str]) -> None:
    backend, table = rows
    etag = backend.insert(table, "p", "sum", {"n": 1})
    gone = backend.insert(table, "p", "old", {"n": 1})
    etags = backend.commit(
        table,
        "p",
        [Write("m", {"n": 2}), Write("sum", {"n": 3}, etag), Write("old", None, gone)],
    )
    assert etags[0]
    assert etags[1]
    assert etags[2] is None
    assert backend.get(table, "p", "old") is None
    after = backend.get(table, "p", "sum")
    assert after is not None
    assert after.props["n"] == 3
    with pytest.raises(RowChangedError):
        # The sum moved on: the member row must not change either.
        backend.commit(table, "p", [Write("m2", {"n": 9}), Write("sum", {"n": 4}, etag)])
    assert backend.get(table, "p", "m2") is None
    with pytest.raises(RowExistsError):
        backend.commit(table, "p", [Write("m", {"n": 5}), Write("new", {"n": 5})])
    assert backend.get(table, "p", "new") is None
    member = backend.get(table, "p", "m")
    assert member is not None
    assert member.props["n"] == 2


def test_a_value_filter_sends_only_the_rows_that_match(rows: tuple[Rows, str]) -> None:
    backend, table = rows
    for key, state in (("a", "failed"), ("b", "succeeded"), ("c", "started"), ("d", "failed")):
        backend.insert(table, "p", key, {"state": state, "n": 1})
    backend.insert(table, "q", "e", {"state": "failed"})
    found = backend.scan(table, "p", where=("state", ("failed", "started")))
    assert keys(found) == [("p", "a"), ("p", "c"), ("p", "d")]
    assert backend.scan(table, "p", where=("state", ("expired",))) == []
