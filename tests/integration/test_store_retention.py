"""Retention on both backends: each kind goes after its lifetime, nothing goes before it.

Records are written through the store's own methods (and the service's for
idempotency answers), aged by passing later instants, and swept by
:class:`Retention` over the same rows. A counting wrapper around the real
backend checks the budget; another rewrites a row between the pass's read
and its delete, as a concurrent writer would.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from patchpilot.adapters.store import (
    Claim,
    OperationError,
    OperationKey,
    Outcome,
    RowStore,
    TableNames,
    keys,
)
from patchpilot.adapters.store.history import REQUESTS, load_history
from patchpilot.adapters.store.retention import (
    ALERT,
    IDEMPOTENCY,
    REQUEST,
    SEGMENT_NAMES,
    Cursor,
    Retention,
    RetentionPolicy,
    Swept,
)
from patchpilot.adapters.store.rows import Props, Row, Rows
from patchpilot.domain.history import Requested
from patchpilot.service import alerts
from patchpilot.service.operator import idempotency
from tests.integration.azurite import Azurite, running

T0 = dt.datetime(2025, 1, 6, 2, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
TTL = dt.timedelta(minutes=30)
CLUSTER = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg-dev"
    "/providers/microsoft.containerservice/managedclusters/dev-1"
)
OTHER = CLUSTER.replace("dev-1", "dev-2")
IMAGE = "AKSUbuntu-2204gen2containerd-2025{:02d}.{:02d}.0"
FAR = 10**6  # a budget no test state reaches: one pass is one whole lap


@dataclass
class Backend:
    """The real rows of one backend, the store over them, and retention over the same rows."""

    rows: Rows
    names: TableNames

    @property
    def store(self) -> RowStore:
        return RowStore(self.rows, self.names)

    def retention(self, rows: Rows | None = None) -> Retention:
        return Retention(rows or self.rows, self.names)

    def sweep(self, now: dt.datetime) -> Swept:
        """One whole lap at `now`."""
        swept, _ = self.retention().run(now, budget=FAR)
        assert swept.laps == 1
        return swept


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    with running() as emulator:
        yield emulator


@pytest.fixture(params=["sqlite", "tables"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    rows: Rows
    if request.param == "sqlite":
        from patchpilot.adapters.store.sqlite import SqliteRows

        rows, names = SqliteRows(tmp_path / "state.db"), TableNames()
    else:
        from patchpilot.adapters.store.tables import TableRows

        emulator: Azurite = request.getfixturevalue("azurite")
        rows = TableRows.from_connection_string(emulator.connection_string)
        names = TableNames.prefixed("r" + uuid.uuid4().hex[:12])
    try:
        yield Backend(rows, names)
    finally:
        rows.close()


def key(target: str, pool: str | None = "system", cluster: str = CLUSTER) -> OperationKey:
    return OperationKey(cluster, pool, "kubernetes" if pool is None else "node_image", target)


def start(store: RowStore, op: OperationKey, at: dt.datetime) -> None:
    """Claim and start one upgrade at `at`."""
    claim = store.claim(op, at, TTL, holder="w")
    assert isinstance(claim, Claim)
    store.mark_started(op, "op-1", at, claim.etag)


def finish(store: RowStore, op: OperationKey, outcome: Outcome, at: dt.datetime) -> None:
    """Claim, start and finish one upgrade at `at`."""
    start(store, op, at)
    error = OperationError("UpgradeFailed", "drain blocked") if outcome == "failed" else None
    store.mark_finished(op, outcome, at, error)


# One row per kind, each a case: write an old record and a young one, sweep at NOW,
# and the old is gone while the young stays.

NOW = T0 + 400 * DAY
Check = Callable[[], bool]


def ledger_case(store: RowStore) -> tuple[Check, Check]:
    old, young = key(IMAGE.format(1, 1)), key(IMAGE.format(1, 2))
    finish(store, old, "succeeded", NOW - 91 * DAY)
    finish(store, young, "succeeded", NOW - 89 * DAY)
    return (lambda: store.get(old) is not None), (lambda: store.get(young) is not None)


def retired_failure_case(store: RowStore) -> tuple[Check, Check]:
    old, young = key(IMAGE.format(1, 1)), key(IMAGE.format(1, 2))
    for op, at in ((old, NOW - 91 * DAY), (young, NOW - 89 * DAY)):
        finish(store, op, "failed", at - DAY)
        store.mark_finished(op, "expired", at)
    return (lambda: store.get(old) is not None), (lambda: store.get(young) is not None)


def resolved_failure_case(store: RowStore) -> tuple[Check, Check]:
    old, young = key(IMAGE.format(1, 1)), key(IMAGE.format(1, 2))
    for op, at in ((old, NOW - 91 * DAY), (young, NOW - 89 * DAY)):
        finish(store, op, "failed", at)
        store.record_reached(op.cluster, op.pool, op.kind, op.target, at + DAY)
    return (lambda: store.get(old) is not None), (lambda: store.get(young) is not None)


def lease_case(store: RowStore) -> tuple[Check, Check]:
    minutes = dt.timedelta(minutes=10)
    store.acquire_lease(CLUSTER, "crashed", NOW - DAY - 2 * minutes, minutes)
    store.acquire_lease(OTHER, "crashed", NOW - DAY, minutes)
    return (lambda: store.get_lease(CLUSTER) is not None), (
        lambda: store.get_lease(OTHER) is not None
    )


def event_case(backend: Backend) -> tuple[Check, Check]:
    week = 7 * DAY
    backend.store.seen_event("old-event", NOW - week - DAY, week)
    backend.store.seen_event("young-event", NOW - week + DAY, week)
    return _row_present(backend, backend.names.events, "old-event", "seen"), _row_present(
        backend, backend.names.events, "young-event", "seen"
    )


def _row_present(backend: Backend, table: str, partition: str, key: str) -> Check:
    return lambda: backend.rows.get(table, partition, key) is not None


def pause_case(store: RowStore) -> tuple[Check, Check]:
    store.add_pause("fleet", "freeze", "ops", T0, until=NOW - 31 * DAY, pause_id="old")
    store.add_pause("fleet", "freeze", "ops", T0, until=NOW - 29 * DAY, pause_id="young")
    return _pause_present(store, "old"), _pause_present(store, "young")


def open_ended_pause_case(store: RowStore) -> tuple[Check, Check]:
    store.add_pause("ring", "hold prod", "ops", T0, target="prod", pause_id="forever")
    store.add_pause("fleet", "freeze", "ops", T0, until=NOW - 31 * DAY, pause_id="old")
    return _pause_present(store, "old"), _pause_present(store, "forever")


def _pause_present(store: RowStore, pause_id: str) -> Check:
    return lambda: any(p.id == pause_id for p in store.list_pauses(NOW, include_expired=True))


def watch_case(store: RowStore) -> tuple[Check, Check]:
    # NOW is 2026-02: 2025-01 is thirteen months back, 2025-02 twelve.
    store.open_watch("2025-01", "westeurope", "AKSWindows-2022-containerd", T0)
    store.open_watch("2025-02", "westeurope", "AKSWindows-2022-containerd", T0)
    return (lambda: bool(store.list_watches("2025-01"))), (
        lambda: bool(store.list_watches("2025-02"))
    )


def poison_case(backend: Backend) -> tuple[Check, Check]:
    backend.store.record_poison("old-message", "{}", NOW - 31 * DAY)
    backend.store.record_poison("young-message", "{}", NOW - 29 * DAY)
    table = backend.names.poison
    return _row_present(backend, table, "poison", "old-message"), _row_present(
        backend, table, "poison", "young-message"
    )


def idempotency_case(store: RowStore) -> tuple[Check, Check]:
    for name, at in (("old", NOW - 49 * dt.timedelta(hours=1)), ("young", NOW - 23 * DAY / 24)):
        idempotency.remember(
            store, "pauses", name, "digest", answer={"id": name}, now=at, caller="test"
        )
    return _snapshot_present(store, IDEMPOTENCY, "pauses:old"), _snapshot_present(
        store, IDEMPOTENCY, "pauses:young"
    )


def resolved_alert_case(store: RowStore) -> tuple[Check, Check]:
    for name, at in (("old", NOW - 31 * DAY), ("young", NOW - 29 * DAY)):
        _alert_record(store, name, "resolved", [], at)
    return _snapshot_present(store, ALERT, "old"), _snapshot_present(store, ALERT, "young")


def firing_alert_case(store: RowStore) -> tuple[Check, Check]:
    # Both fired long ago; an operator lifted the first one's pause, the second's holds.
    store.add_pause("cluster", "alert", "alert:r", T0, target=CLUSTER, pause_id="held")
    _alert_record(store, "lifted", "fired", ["gone"], T0)
    _alert_record(store, "holding", "fired", ["gone", "held"], T0)
    return _snapshot_present(store, ALERT, "lifted"), _snapshot_present(store, ALERT, "holding")


def _alert_record(
    store: RowStore, name: str, state: str, pauses: list[str], at: dt.datetime
) -> None:
    """A record as service/alerts.py's `_save` writes it."""
    record = {
        "state": state,
        "rule": "r",
        "pauses": pauses,
        "fired_at": at.isoformat(),
        "resolved_at": at.isoformat() if state == "resolved" else None,
    }
    store.put_snapshot(ALERT, name, json.dumps(record), at)


def request_case(store: RowStore) -> tuple[Check, Check]:
    # Requests are kept per subscription (``request~<subscription>``), once in one partition.
    kinds = (f"{REQUEST}~00000000-0000-0000-0000-000000000000", REQUEST)
    checks = []
    for kind, until in zip(kinds, (NOW - dt.timedelta(minutes=1), NOW + DAY), strict=True):
        wanted = Requested(CLUSTER, "system", "node_image", "img", "ops", "why", T0, until)
        store.put_snapshot(kind, wanted.subject, json.dumps(wanted.to_json()), T0)
        checks.append(_snapshot_present(store, kind, wanted.subject))
    return checks[0], checks[1]


def _snapshot_present(store: RowStore, kind: str, name: str) -> Check:
    return lambda: store.get_snapshot(kind, name) is not None


CASES = [
    pytest.param(ledger_case, "ledger", id="a finished upgrade goes 90 days after it finished"),
    pytest.param(retired_failure_case, "ledger", id="a retired failure goes 90 days after"),
    pytest.param(resolved_failure_case, "ledger", id="a resolved failure goes 90 days after"),
    pytest.param(lease_case, "leases", id="a crashed worker's lease goes a day past expiry"),
    pytest.param(event_case, "events", id="a seen event goes after its ttl"),
    pytest.param(pause_case, "pauses", id="an ended pause goes 30 days after its end"),
    pytest.param(open_ended_pause_case, "pauses", id="a pause without an end stays"),
    pytest.param(watch_case, "watches", id="watches older than 12 months go"),
    pytest.param(poison_case, "poison", id="a poison message goes after 30 days"),
    pytest.param(idempotency_case, IDEMPOTENCY, id="an idempotency answer goes after 48 hours"),
    pytest.param(resolved_alert_case, ALERT, id="a resolved alert's record goes after 30 days"),
    pytest.param(firing_alert_case, ALERT, id="a firing alert's record stays while it pauses"),
    pytest.param(request_case, REQUEST, id="an upgrade request goes once inactive"),
]


@pytest.mark.parametrize(("case", "kind"), CASES)
def test_a_record_past_its_lifetime_goes_and_one_within_it_stays(
    backend: Backend, case: Callable[..., tuple[Check, Check]], kind: str
) -> None:
    takes_backend = case in (event_case, poison_case)
    old, young = case(backend if takes_backend else backend.store)
    assert old()
    assert young()

    swept = backend.sweep(NOW)

    assert (old(), young()) == (False, True)
    assert swept.deleted[kind] == 1
    assert swept.total_deleted == 1


def test_unresolved_failures_and_active_claims_are_never_removed(backend: Backend) -> None:
    store = backend.store
    failed, stale, started = key("1.31.2", None), key(IMAGE.format(1, 1)), key(IMAGE.format(1, 2))
    finish(store, failed, "failed", T0)
    # The cluster went on to another target: the failure of this one is still unresolved.
    store.record_reached(CLUSTER, None, "kubernetes", "1.31.3", T0 + DAY)
    store.claim(stale, T0, TTL, holder="died")
    start(store, started, T0)

    swept = backend.sweep(T0 + 730 * DAY)

    assert swept.deleted["ledger"] == 0
    assert {op.state for op in store.list_operations()} == {"failed", "in_progress", "started"}
    history = load_history(store, T0 + 730 * DAY)
    assert [f.target for f in history.failures] == ["1.31.2"]


def test_progress_keeps_the_newest_16_per_pool_and_kind(backend: Backend) -> None:
    store = backend.store
    for week in range(20):
        at = T0 + week * 7 * DAY
        store.record_reached(CLUSTER, "system", "node_image", f"img-{week:02d}", at)
        store.record_reached(CLUSTER, "win", "node_image", f"img-{week:02d}", at)
    for minor in range(3):
        store.record_reached(CLUSTER, None, "kubernetes", f"1.3{minor}.0", T0)

    swept = backend.sweep(T0 + 200 * DAY)

    left = store.list_reached(CLUSTER)
    system = [r.target for r in left if r.pool == "system"]
    assert system == [f"img-{week:02d}" for week in range(4, 20)]
    assert len([r for r in left if r.pool == "win"]) == 16
    assert len([r for r in left if r.pool is None]) == 3
    assert swept.deleted["progress"] == 8


def test_a_group_cut_by_a_page_is_compacted_whole_on_the_next(backend: Backend) -> None:
    store = backend.store
    pools = [f"pool{n}" for n in range(5)]
    for pool in pools:
        for week in range(20):
            store.record_reached(CLUSTER, pool, "node_image", f"img-{week:02d}", T0 + week * DAY)
    retention = Retention(backend.rows, backend.names, RetentionPolicy(page=30))

    swept, _ = retention.run(T0 + 200 * DAY, budget=FAR)

    assert swept.deleted["progress"] == 5 * 4
    left = store.list_reached(CLUSTER)
    assert {pool: sum(r.pool == pool for r in left) for pool in pools} == dict.fromkeys(pools, 16)


def test_runs_whose_budget_ends_inside_a_group_still_compact_it_whole(
    backend: Backend,
) -> None:
    store = backend.store
    pools = [f"pool{n}" for n in range(6)]
    for pool in pools:
        for week in range(20):
            store.record_reached(CLUSTER, pool, "node_image", f"img-{week:02d}", T0 + week * DAY)
    cursor: Cursor | None = None
    laps = 0
    for _ in range(100):
        swept, cursor = backend.retention().run(T0 + 200 * DAY, budget=57, cursor=cursor)
        laps += swept.laps
        if laps:
            break

    left = store.list_reached(CLUSTER)
    assert {pool: sum(r.pool == pool for r in left) for pool in pools} == dict.fromkeys(pools, 16)


def test_an_arrival_that_resolves_a_failure_in_the_ledger_stays_with_it(
    backend: Backend,
) -> None:
    store = backend.store
    failed = key("img-00")
    finish(store, failed, "failed", T0 - DAY)
    for week in range(18):
        store.record_reached(CLUSTER, "system", "node_image", f"img-{week:02d}", T0 + week * DAY)

    backend.sweep(T0 + 30 * DAY)  # the failure is younger than 90 days: it stays

    targets = [r.target for r in store.list_reached(CLUSTER)]
    assert "img-00" in targets
    assert "img-01" not in targets
    assert load_history(store, T0 + 30 * DAY).failures == ()
    backend.sweep(T0 + 120 * DAY)  # the resolved failure goes, then its arrival may
    backend.sweep(T0 + 120 * DAY)
    assert store.get(failed) is None
    assert len(store.list_reached(CLUSTER)) == 16


class Counting:
    """The real rows, counting every row a read hands back."""

    def __init__(self, rows: Rows) -> None:
        self._rows = rows
        self.read = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._rows, name)

    def page(
        self,
        table: str,
        *,
        partition: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int = 1000,
    ) -> list[Row]:
        found = self._rows.page(table, partition=partition, after=after, limit=limit)
        self.read += len(found)
        return found

    def get(self, table: str, partition: str, key: str) -> Row | None:
        self.read += 1
        return self._rows.get(table, partition, key)


def fill(store: RowStore) -> int:
    """Expired rows of every kind, failures needing point reads among them; how many."""
    old = T0
    for week in range(4):
        finish(store, key(f"img-{week}"), "failed" if week % 2 else "succeeded", old)
        store.record_reached(CLUSTER, "system", "node_image", f"img-{week}", old + DAY)
    for n in range(6):
        store.seen_event(f"event-{n}", old, DAY)
        store.record_poison(f"message-{n}", "{}", old)
        store.add_pause("fleet", "f", "ops", old, until=old, pause_id=f"pause-{n}")
        idempotency.remember(store, "pauses", f"k{n}", "d", answer={}, now=old, caller="t")
        _alert_record(store, f"alert-{n}", "resolved", [], old)
    store.open_watch("2024-01", "westeurope", "AKSWindows-2022-containerd", old)
    return 4 + 6 * 5 + 1


@pytest.mark.parametrize("budget", [2, 7, 40])
def test_runs_read_at_most_their_budget_and_together_cover_everything(
    backend: Backend, budget: int
) -> None:
    expired = fill(backend.store)
    counting = Counting(backend.rows)
    retention = backend.retention(counting)  # type: ignore[arg-type]
    cursor: Cursor | None = None
    deleted, laps, runs = 0, 0, 0
    while laps < 2:
        counting.read = 0
        swept, cursor = retention.run(T0 + 400 * DAY, budget=budget, cursor=cursor)
        assert counting.read == swept.examined <= budget
        deleted, laps, runs = deleted + swept.total_deleted, laps + swept.laps, runs + 1
        assert runs < 500, "the walk does not move on"

    assert deleted == expired
    assert {op.state for op in backend.store.list_operations()} == set()
    assert backend.store.count_poison() == 0
    assert backend.store.list_snapshots(ALERT) == ()
    assert cursor is not None
    assert cursor.segment in SEGMENT_NAMES


class RewritesAfterRead:
    """The real rows; right after a page hands out `target`, another writer rewrites it."""

    def __init__(self, rows: Rows, target: tuple[str, str]) -> None:
        self._rows = rows
        self._target = target

    def __getattr__(self, name: str) -> object:
        return getattr(self._rows, name)

    def page(
        self,
        table: str,
        *,
        partition: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int = 1000,
    ) -> list[Row]:
        found = self._rows.page(table, partition=partition, after=after, limit=limit)
        for row in found:
            if (row.partition, row.key) == self._target:
                props: Props = dict(row.props)
                self._rows.replace(table, row.partition, row.key, props, row.etag)
        return found


@pytest.mark.parametrize("others", [0, 3], ids=["alone", "in a batch of its partition"])
def test_a_row_rewritten_between_read_and_delete_stays(backend: Backend, others: int) -> None:
    store = backend.store
    for name in ["k", *(f"other-{n}" for n in range(others))]:
        idempotency.remember(store, "pauses", name, "d", answer={}, now=T0, caller="t")
    target = keys.escape("pauses:k")
    racing = RewritesAfterRead(backend.rows, (IDEMPOTENCY, target))

    swept, _ = backend.retention(racing).run(T0 + 3 * DAY, budget=FAR)  # type: ignore[arg-type]

    assert swept.deleted[IDEMPOTENCY] == others
    assert [k for k, _ in store.list_snapshots(IDEMPOTENCY)] == ["pauses:k"]
    assert backend.sweep(T0 + 3 * DAY).deleted[IDEMPOTENCY] == 1  # judged again, at its new etag


def test_rows_retention_does_not_know_are_left_alone(backend: Backend) -> None:
    store = backend.store
    store.put_snapshot("cluster", CLUSTER, "{}", T0)
    store.put_snapshot("region", "westeurope", "{}", T0)
    store.put_snapshot("requestlog", "x", "{}", T0)  # a kind that merely starts alike
    backend.rows.insert(backend.names.progress, "gate~prod~linux", "summary", {"at": T0})
    backend.rows.insert(backend.names.ledger, "not-a-cluster", "x", {"state": "succeeded"})

    swept = backend.sweep(T0 + 1000 * DAY)

    assert swept.total_deleted == 0
    for kind in ("cluster", "region", "requestlog"):
        assert len(store.list_snapshots(kind)) == 1
    assert backend.rows.get(backend.names.progress, "gate~prod~linux", "summary") is not None


def test_the_snapshot_kinds_are_the_ones_the_services_write() -> None:
    assert (IDEMPOTENCY, ALERT, REQUEST) == (idempotency.KIND, alerts.KIND, REQUESTS)
    assert RetentionPolicy().idempotency > idempotency.KEEP
