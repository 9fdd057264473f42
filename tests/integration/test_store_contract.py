"""The store's contract, run against both backends: SQLite and Azure Table Storage (Azurite).

Every behaviour the service relies on is a test here, parametrized over the
backends, so the two can never drift apart. Concurrency tests give each of
20 threads its own store object (its own SQLite connection, its own Table
Storage client) on the same backing storage, like 20 Function instances,
and release them at once with a barrier. Time is always passed in.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest

from patchpilot.adapters.store import (
    AlreadyClaimed,
    Claim,
    ClaimLostError,
    OperationError,
    OperationKey,
    RecordNotFoundError,
    RowStore,
    Store,
    StoreUnavailableError,
    TableNames,
    keys,
    load_history,
    open_sqlite_store,
    open_table_store,
)
from patchpilot.adapters.store.records import MAX_CLOCK_SKEW
from patchpilot.domain.history import Failure, InFlight, Pause, Reached
from patchpilot.errors import InvalidInputError
from tests.integration import azurite as azurite_module
from tests.integration.azurite import Azurite, running

T0 = dt.datetime(2025, 11, 22, 1, 30, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
TTL = dt.timedelta(minutes=30)
WORKERS = 20
CLUSTER = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg-prod"
    "/providers/microsoft.containerservice/managedclusters/prod-1"
)
KEY = OperationKey(CLUSTER, "win22", "node_image", "AKSWindows-2022-containerd-20348.4405.251112")
HOSTILE = [
    CLUSTER,
    "a#b?c\\d/e",
    "quote'and\"double",
    "percent%20and+plus&amp=",
    "tilde~bang!!2F!",
    "tabs\tand\nnewlines\r\x01\x1f\x7f\x85\x9f",
    "unicode ✓ 漢字 é 🚀",
    " leading and trailing ",
    ".",
    "x" * 2000,
    "x" * 1999 + "y",
    "/" * 600,
]

T = TypeVar("T")
StoreFactory = Callable[[], Store]


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    """One Azurite for this module's Table Storage tests."""
    with running() as emulator:
        yield emulator


@pytest.fixture(params=["sqlite", "tables"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens store objects that share one backing storage (a file, or tables of one run)."""
    opened: list[Store] = []
    if request.param == "sqlite":
        path = tmp_path / "state.db"

        def make() -> Store:
            return open_sqlite_store(path)
    else:
        emulator: Azurite = request.getfixturevalue("azurite")
        names = TableNames.prefixed("t" + uuid.uuid4().hex[:12])

        def make() -> Store:
            return open_table_store(connection_string=emulator.connection_string, names=names)

    def track() -> Store:
        store = make()
        opened.append(store)
        return store

    yield track
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: StoreFactory) -> Store:
    """A store on fresh, empty storage."""
    return open_store()


def race(open_store: StoreFactory, action: Callable[[Store], T]) -> list[T]:
    """Run `action` on WORKERS store objects at once; their results in worker order."""
    stores = [open_store() for _ in range(WORKERS)]
    barrier = threading.Barrier(WORKERS)

    def run(store: Store) -> T:
        barrier.wait(timeout=30)
        return action(store)

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(run, stores))


def claimed(result: Claim | AlreadyClaimed) -> Claim:
    """The claim, or a failed test saying who held the key."""
    assert isinstance(result, Claim), f"expected a claim, got {result}"
    return result


# The operations ledger.


def test_claim_is_exactly_once_under_20_concurrent_workers(open_store: StoreFactory) -> None:
    results = race(open_store, lambda s: s.claim(KEY, T0, TTL, holder=uuid.uuid4().hex))

    claims = [r for r in results if isinstance(r, Claim)]
    assert len(claims) == 1
    winner = claims[0].operation
    losers = [r for r in results if isinstance(r, AlreadyClaimed)]
    assert len(losers) == WORKERS - 1
    assert {loser.existing.token for loser in losers} == {winner.token}
    assert winner.state == "in_progress"
    assert winner.attempts == 1
    assert not claims[0].taken_over


def test_a_claim_blocks_every_other_claim_until_its_ttl(store: Store) -> None:
    first = claimed(store.claim(KEY, T0, TTL, holder="a", actor="alice", reason="CVE fix"))

    again = store.claim(KEY, T0 + TTL - MINUTE, TTL, holder="b")

    assert isinstance(again, AlreadyClaimed)
    existing = again.existing
    assert existing.key == KEY
    assert (existing.holder, existing.actor, existing.reason) == ("a", "alice", "CVE fix")
    assert existing.claimed_at == T0
    assert existing.expires_at == T0 + TTL
    assert existing.etag == first.etag


def test_an_expired_claim_is_taken_over_exactly_once_under_concurrency(
    open_store: StoreFactory,
) -> None:
    store = open_store()
    dead = claimed(store.claim(KEY, T0, TTL, holder="died")).operation
    later = T0 + TTL + MAX_CLOCK_SKEW + MINUTE

    results = race(open_store, lambda s: s.claim(KEY, later, TTL, holder=uuid.uuid4().hex))

    claims = [r for r in results if isinstance(r, Claim)]
    assert len(claims) == 1
    takeover = claims[0]
    assert takeover.taken_over
    assert takeover.previous is not None
    assert takeover.previous.token == dead.token
    assert takeover.operation.attempts == 2
    assert takeover.operation.claimed_at == later
    assert sum(isinstance(r, AlreadyClaimed) for r in results) == WORKERS - 1


def test_a_started_operation_is_never_taken_over_even_long_after_its_ttl(store: Store) -> None:
    claim = claimed(store.claim(KEY, T0, TTL))
    store.mark_started(KEY, "https://arm/operations/1", T0 + MINUTE, claim.etag)

    later = store.claim(KEY, T0 + 100 * TTL, TTL)

    assert isinstance(later, AlreadyClaimed)
    assert later.existing.state == "started"


def test_mark_started_records_the_arm_operation(store: Store) -> None:
    claim = claimed(store.claim(KEY, T0, TTL))

    started = store.mark_started(KEY, "https://arm/operations/1", T0 + MINUTE, claim.etag)

    assert started.state == "started"
    assert started.operation_id == "https://arm/operations/1"
    assert started.started_at == T0 + MINUTE
    assert store.get(KEY) == started


def test_the_holder_of_a_taken_over_claim_cannot_mark_it_started(store: Store) -> None:
    stale = claimed(store.claim(KEY, T0, TTL, holder="slow"))
    claimed(store.claim(KEY, T0 + 2 * TTL, TTL, holder="new"))

    with pytest.raises(ClaimLostError):
        store.mark_started(KEY, "op-slow", T0 + 2 * TTL, stale.etag)

    current = store.get(KEY)
    assert current is not None
    assert (current.state, current.holder, current.operation_id) == ("in_progress", "new", None)


def test_mark_finished_records_the_outcome_and_a_repeat_changes_nothing(store: Store) -> None:
    claim = claimed(store.claim(KEY, T0, TTL))
    store.mark_started(KEY, "op-1", T0 + MINUTE, claim.etag)
    error = OperationError("UpgradeFailed", "drain blocked by PodDisruptionBudget web-pdb")

    failed = store.mark_finished(KEY, "failed", T0 + 10 * MINUTE, error)
    repeat = store.mark_finished(KEY, "succeeded", T0 + 20 * MINUTE)

    assert failed.state == "failed"
    assert failed.error == error
    assert failed.finished_at == T0 + 10 * MINUTE
    assert repeat == failed
    assert store.get(KEY) == failed


def test_a_failed_target_can_be_claimed_again_only_after_it_is_retired(store: Store) -> None:
    claim = claimed(store.claim(KEY, T0, TTL))
    store.mark_finished(KEY, "failed", T0 + MINUTE, OperationError("UpgradeFailed", "pdb"))
    assert isinstance(store.claim(KEY, T0 + 100 * TTL, TTL), AlreadyClaimed)

    retired = store.mark_finished(KEY, "expired", T0 + 2 * MINUTE)
    again = claimed(store.claim(KEY, T0 + 3 * MINUTE, TTL))

    assert retired.state == "expired"
    assert retired.error == OperationError("UpgradeFailed", "pdb")
    assert again.previous is not None
    assert again.previous.state == "expired"
    assert again.operation.attempts == 2
    assert again.operation.error is None
    assert claim.operation.token != again.operation.token


def test_finishing_an_operation_never_claimed_is_an_error(store: Store) -> None:
    with pytest.raises(RecordNotFoundError):
        store.mark_finished(KEY, "succeeded", T0)
    assert store.get(KEY) is None


def test_list_operations_filters_by_cluster_time_and_state(store: Store) -> None:
    other = OperationKey(CLUSTER.replace("prod-1", "prod-2"), None, "kubernetes", "1.33.2")
    early = claimed(store.claim(KEY, T0, TTL))
    store.mark_started(KEY, "op-1", T0 + MINUTE, early.etag)
    claimed(store.claim(other, T0 + 5 * MINUTE, TTL))

    everything = store.list_operations()
    of_prod_1 = store.list_operations(cluster=CLUSTER)
    recent = store.list_operations(since=T0 + 2 * MINUTE)
    started = store.list_operations(states=frozenset({"started"}))

    assert [op.key for op in everything] == [KEY, other]
    assert [op.key for op in of_prod_1] == [KEY]
    assert [op.key for op in recent] == [other]
    assert [op.key for op in started] == [KEY]


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.claim(KEY, T0.replace(tzinfo=None), TTL), id="claim"),
        pytest.param(
            lambda s: s.acquire_lease(CLUSTER, "w", T0.replace(tzinfo=None), TTL), id="lease"
        ),
        pytest.param(lambda s: s.seen_event("e", T0.replace(tzinfo=None), TTL), id="event"),
        pytest.param(
            lambda s: s.add_pause("fleet", "r", "me", T0, until=T0.replace(tzinfo=None)),
            id="pause",
        ),
    ],
)
def test_naive_datetimes_are_refused(store: Store, call: Callable[[Store], object]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call(store)


def test_zero_ttl_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="positive"):
        store.claim(KEY, T0, dt.timedelta(0))


# Leases.


def test_only_one_of_20_concurrent_workers_gets_the_lease(open_store: StoreFactory) -> None:
    results = race(open_store, lambda s: s.acquire_lease(CLUSTER, uuid.uuid4().hex, T0, TTL))

    leases = [lease for lease in results if lease is not None]
    assert len(leases) == 1
    assert leases[0].expires_at == T0 + TTL


def test_an_expired_lease_goes_to_exactly_one_of_20_workers(open_store: StoreFactory) -> None:
    open_store().acquire_lease(CLUSTER, "died", T0, TTL)
    later = T0 + TTL + MAX_CLOCK_SKEW

    results = race(open_store, lambda s: s.acquire_lease(CLUSTER, uuid.uuid4().hex, later, TTL))

    assert sum(lease is not None for lease in results) == 1


def test_a_held_lease_refuses_others_until_it_expires(store: Store) -> None:
    lease = store.acquire_lease(CLUSTER, "a", T0, TTL)
    assert lease is not None

    # A clock up to MAX_CLOCK_SKEW ahead of the holder's must not take it early.
    assert store.acquire_lease(CLUSTER, "b", T0 + TTL + MAX_CLOCK_SKEW - MINUTE, TTL) is None
    taken = store.acquire_lease(CLUSTER, "b", T0 + TTL + MAX_CLOCK_SKEW, TTL)

    assert taken is not None
    assert taken.holder == "b"
    assert store.renew_lease(lease, T0 + TTL + MAX_CLOCK_SKEW, TTL) is None
    assert not store.release_lease(lease)
    assert store.get_lease(CLUSTER) == taken


def test_renewal_extends_a_lease_and_release_frees_it(store: Store) -> None:
    lease = store.acquire_lease(CLUSTER, "a", T0, TTL)
    assert lease is not None

    renewed = store.renew_lease(lease, T0 + 20 * MINUTE, TTL)
    assert renewed is not None
    assert renewed.expires_at == T0 + 20 * MINUTE + TTL
    assert store.acquire_lease(CLUSTER, "b", T0 + TTL + MINUTE, TTL) is None
    # The lease is its acquisition's token: any copy of it renews and releases it.
    assert store.renew_lease(lease, T0 + 21 * MINUTE, TTL) is not None

    assert store.release_lease(renewed)
    assert not store.release_lease(renewed)
    assert store.get_lease(CLUSTER) is None
    assert store.acquire_lease(CLUSTER, "b", T0 + 22 * MINUTE, TTL) is not None


def test_a_held_lease_refuses_its_own_holder_name_too(store: Store) -> None:
    # Threads of one worker share a holder name; only the acquisition's token holds it.
    first = store.acquire_lease(CLUSTER, "worker-1", T0, TTL)
    again = store.acquire_lease(CLUSTER, "worker-1", T0 + MINUTE, TTL)

    assert first is not None
    assert again is None
    assert store.renew_lease(first, T0 + 2 * MINUTE, TTL) is not None


def test_a_claim_is_not_taken_over_within_the_tolerated_clock_skew(store: Store) -> None:
    claimed(store.claim(KEY, T0, TTL, holder="slow clock"))

    early = store.claim(KEY, T0 + TTL + MAX_CLOCK_SKEW - MINUTE, TTL, holder="fast clock")
    late = store.claim(KEY, T0 + TTL + MAX_CLOCK_SKEW, TTL, holder="fast clock")

    assert isinstance(early, AlreadyClaimed)
    assert isinstance(late, Claim)
    assert late.taken_over


def test_finishing_with_a_claims_token_fails_once_another_claim_took_over(store: Store) -> None:
    stale = claimed(store.claim(KEY, T0, TTL, holder="slow")).operation
    fresh = claimed(store.claim(KEY, T0 + 2 * TTL, TTL, holder="new")).operation

    with pytest.raises(ClaimLostError):
        store.mark_finished(KEY, "expired", T0 + 2 * TTL, token=stale.token)
    retired = store.mark_finished(KEY, "expired", T0 + 2 * TTL, token=fresh.token)

    assert retired.state == "expired"


def test_a_pause_with_an_id_is_made_once_whoever_adds_it(open_store: StoreFactory) -> None:
    results = race(
        open_store,
        lambda s: s.add_pause("cluster", "pool failed", "x", T0, target=CLUSTER, pause_id="f-1"),
    )

    assert {pause.id for pause in results} == {"f-1"}
    assert len({pause.by for pause in results}) == 1
    assert [p.id for p in open_store().list_pauses(T0)] == ["f-1"]


# Pauses.


def test_the_store_knows_how_far_its_service_clock_is_from_ours(
    store: Store, request: pytest.FixtureRequest
) -> None:
    store.acquire_lease(CLUSTER, "a", T0, TTL)

    offset = store.clock_offset()

    if "sqlite" in request.node.callspec.id:
        assert offset is None  # a file has no clock of its own
    else:
        # Azurite runs on this machine: its Date header (whole seconds) is our clock.
        assert offset is not None
        assert abs(offset) <= dt.timedelta(seconds=2)


def test_pauses_are_added_listed_and_deleted(store: Store) -> None:
    fleet = store.add_pause("fleet", "incident 42", "alice", T0)
    ring = store.add_pause("ring", "soak longer", "bob", T0 + MINUTE, target="prod")

    assert store.list_pauses(T0 + MINUTE) == (fleet, ring)
    assert store.delete_pause(fleet.id)
    assert not store.delete_pause(fleet.id)
    assert store.list_pauses(T0 + MINUTE) == (ring,)


def test_expired_pauses_are_hidden_unless_asked_for(store: Store) -> None:
    brief = store.add_pause(
        "cluster", "node pool failed", "patchpilot", T0, target=CLUSTER, until=T0 + TTL
    )

    assert store.list_pauses(T0 + TTL - MINUTE) == (brief,)
    assert store.list_pauses(T0 + TTL) == ()
    assert store.list_pauses(T0 + TTL, include_expired=True) == (brief,)


def test_a_stored_pause_converts_to_the_planners_pause(store: Store) -> None:
    record = store.add_pause("cluster", "PDB", "ops", T0, target=CLUSTER, until=T0 + TTL)

    pause = record.to_pause()

    assert pause == Pause("cluster", "PDB", CLUSTER, "ops", T0 + TTL)
    assert pause.covers(CLUSTER, None, T0)


@pytest.mark.parametrize(
    ("scope", "target"),
    [
        pytest.param("fleet", "prod", id="fleet-with-target"),
        pytest.param("ring", None, id="ring-without-target"),
        pytest.param("cluster", "", id="cluster-with-empty-target"),
        pytest.param("galaxy", None, id="unknown-scope"),
    ],
)
def test_malformed_pauses_are_refused(store: Store, scope: str, target: str | None) -> None:
    with pytest.raises(InvalidInputError):
        store.add_pause(scope, "why", "me", T0, target=target)  # type: ignore[arg-type]
    assert store.list_pauses(T0, include_expired=True) == ()


# Seen events.


def test_an_event_id_is_new_once_among_20_concurrent_deliveries(open_store: StoreFactory) -> None:
    results = race(open_store, lambda s: s.seen_event("evt-1", T0, TTL))

    assert results.count(True) == 1


def test_a_seen_event_id_is_new_again_after_its_ttl_and_can_be_forgotten(store: Store) -> None:
    assert store.seen_event("evt-1", T0, TTL)
    assert store.seen_event("evt-2", T0 + TTL, TTL)
    assert not store.seen_event("evt-1", T0 + TTL - MINUTE, TTL)

    assert store.seen_event("evt-1", T0 + TTL, TTL)
    assert not store.seen_event("evt-1", T0 + TTL + MINUTE, TTL)
    assert store.forget_events(T0 + 2 * TTL) == 2
    assert store.seen_event("evt-2", T0 + 2 * TTL, TTL)


# Ring progress, watches, poison messages.


def test_ring_progress_keeps_the_earliest_arrival(store: Store) -> None:
    store.record_reached(CLUSTER, None, "kubernetes", "1.33.2", T0 + TTL)
    store.record_reached(CLUSTER, None, "kubernetes", "1.33.2", T0)
    store.record_reached(CLUSTER, None, "kubernetes", "1.33.2", T0 + 2 * TTL)
    store.record_reached(CLUSTER, "", "kubernetes", "1.33.3", T0 + MINUTE)

    assert store.list_reached() == (
        Reached(CLUSTER, None, "kubernetes", "1.33.2", T0),
        Reached(CLUSTER, None, "kubernetes", "1.33.3", T0 + MINUTE),
    )
    assert store.list_reached(cluster="someone-else") == ()


def test_a_watch_opens_once_and_keeps_the_first_image_seen(store: Store) -> None:
    opened = store.open_watch("2025-11", "westeurope", "AKSWindows-2022-containerd", T0)
    assert (
        store.open_watch("2025-11", "westeurope", "AKSWindows-2022-containerd", T0 + TTL) == opened
    )
    store.open_watch("2025-11", "northeurope", "AKSWindows-2022-containerd", T0)

    closed = store.close_watch(
        "2025-11", "westeurope", "AKSWindows-2022-containerd", "20348.4405.251112", T0 + TTL
    )
    store.close_watch(
        "2025-11", "westeurope", "AKSWindows-2022-containerd", "20348.9999.251120", T0 + 2 * TTL
    )

    assert closed.image == "20348.4405.251112"
    assert closed.seen_at == T0 + TTL
    assert store.list_watches("2025-11") == (
        store.list_watches("2025-11", open_only=True)[0],
        closed,
    )
    assert [w.region for w in store.list_watches(open_only=True)] == ["northeurope"]
    assert store.list_watches("2025-12") == ()
    with pytest.raises(RecordNotFoundError):
        store.close_watch("2025-12", "westeurope", "AKSWindows-2022-containerd", "x", T0)
    with pytest.raises(InvalidInputError, match="2025-11"):
        store.open_watch("2025-13", "westeurope", "AKSWindows-2022-containerd", T0)


def test_poison_messages_are_counted_once_each(store: Store) -> None:
    assert store.count_poison() == 0
    assert store.record_poison("msg-1", '{"cluster": "x"}', T0)
    assert not store.record_poison("msg-1", '{"cluster": "x"}', T0 + MINUTE)
    assert store.record_poison("msg-2", "x" * 100_000, T0)
    assert store.count_poison() == 2


# Keys: any string in, the same string out.


@pytest.mark.parametrize(
    "text", [pytest.param(h, id=f"hostile-{i}") for i, h in enumerate(HOSTILE)]
)
def test_key_escaping_round_trips_and_uses_only_safe_characters(text: str) -> None:
    escaped = keys.escape(text)

    assert len(escaped) <= keys.MAX_PART
    assert not set(escaped) & set("/\\#?%'+~")
    assert all(32 < ord(char) < 127 for char in escaped)
    if "!!" not in escaped:
        assert keys.unescape(escaped) == text


def test_long_key_parts_are_hashed_distinctly_and_joined_unambiguously() -> None:
    long_keys = {keys.escape("x" * 2000), keys.escape("x" * 1999 + "y"), keys.escape("/" * 600)}

    assert len(long_keys) == 3
    assert keys.join("a~b", "c") != keys.join("a", "b~c")
    with pytest.raises(ValueError, match="cannot be reversed"):
        keys.unescape(keys.escape("x" * 2000))


def test_hostile_strings_round_trip_through_every_kind_of_record(store: Store) -> None:
    for text in HOSTILE:
        key = OperationKey(text, text, "node_image", text)
        assert isinstance(store.claim(key, T0, TTL, actor=text, reason=text), Claim)
        assert isinstance(store.claim(key, T0, TTL), AlreadyClaimed)
        stored = store.get(key)
        assert stored is not None
        assert (stored.key, stored.actor, stored.reason) == (key, text, text)
        assert store.acquire_lease(text, text, T0, TTL) is not None
        assert store.get_lease(text) is not None
        assert store.seen_event(text, T0, TTL)
        assert not store.seen_event(text, T0, TTL)
        assert store.record_poison(text, text, T0)
        store.record_reached(text, text, "kubernetes", text, T0)
        store.open_watch("2025-11", text, text, T0)
        store.add_pause("cluster", text, text, T0, target=text)

    assert {op.key.cluster for op in store.list_operations()} == set(HOSTILE)
    assert {op.key for op in store.list_operations(cluster=HOSTILE[1])} == {
        OperationKey(HOSTILE[1], HOSTILE[1], "node_image", HOSTILE[1])
    }
    assert {r.target for r in store.list_reached()} == set(HOSTILE)
    assert {(w.region, w.family) for w in store.list_watches("2025-11")} == {
        (h, h) for h in HOSTILE
    }
    assert {p.target for p in store.list_pauses(T0)} == set(HOSTILE)
    assert store.count_poison() == len(HOSTILE)


# The planner's history.


def test_load_history_gives_the_planner_progress_failures_pauses_and_work_in_flight(
    store: Store,
) -> None:
    def key(cluster: str, target: str = "1.33.2") -> OperationKey:
        return OperationKey(cluster, None, "kubernetes", target)

    now = T0 + 2 * TTL
    store.record_reached("c1", None, "kubernetes", "1.33.2", T0)
    started = claimed(store.claim(key("started"), T0, TTL))
    store.mark_started(key("started"), "op", T0, started.etag)
    claimed(store.claim(key("claimed"), now - MINUTE, TTL))
    claimed(store.claim(key("dead"), T0, TTL))
    pdb = OperationError("UpgradeFailed", "drain blocked by web-pdb")
    for name in ("failed", "resolved", "retired", "succeeded"):
        claimed(store.claim(key(name), T0, TTL))
    store.mark_finished(key("failed"), "failed", T0 + MINUTE, pdb)
    store.mark_finished(key("resolved"), "failed", T0 + MINUTE, pdb)
    store.record_reached("resolved", None, "kubernetes", "1.33.2", T0 + TTL)
    store.mark_finished(key("retired"), "failed", T0 + MINUTE, pdb)
    store.mark_finished(key("retired"), "expired", T0 + TTL)
    store.mark_finished(key("succeeded"), "succeeded", T0 + TTL)
    store.add_pause("ring", "soak", "ops", T0, target="prod")
    store.add_pause("fleet", "over", "ops", T0, until=now)

    history = load_history(store, now)

    assert set(history.reached) == {
        Reached("c1", None, "kubernetes", "1.33.2", T0),
        Reached("resolved", None, "kubernetes", "1.33.2", T0 + TTL),
    }
    message = "UpgradeFailed: drain blocked by web-pdb"
    assert history.failures == (
        Failure("failed", None, "kubernetes", "1.33.2", T0 + MINUTE, message),
    )
    assert history.pauses == (Pause("ring", "soak", "prod", "ops", None),)
    assert set(history.in_flight) == {
        InFlight("started", None, "kubernetes", "1.33.2", T0),
        InFlight("claimed", None, "kubernetes", "1.33.2", now - MINUTE),
    }


# Factories, failures and cold start.


def test_a_store_that_cannot_be_reached_is_a_temporary_error(tmp_path: Path) -> None:
    from azure.data.tables import TableServiceClient

    from patchpilot.adapters.store.tables import TableRows

    dead = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    )
    tables = RowStore(TableRows(TableServiceClient.from_connection_string(dead, retry_total=0)))
    with pytest.raises(StoreUnavailableError) as caught:
        tables.claim(KEY, T0, TTL)
    assert caught.value.retry_after > 0
    with pytest.raises(StoreUnavailableError):
        open_sqlite_store(tmp_path / "missing" / "state.db")


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param({}, id="nothing"),
        pytest.param(
            {"account_url": "https://a.table.core.windows.net"}, id="url-without-credential"
        ),
        pytest.param(
            {"connection_string": "UseDevelopmentStorage=true", "account_url": "https://a"},
            id="both",
        ),
    ],
)
def test_open_table_store_needs_a_connection_string_or_a_url_and_credential(
    arguments: dict[str, str],
) -> None:
    with pytest.raises(ValueError, match="either a connection string"):
        open_table_store(**arguments)  # type: ignore[arg-type]


def test_an_account_url_with_a_managed_identity_opens_without_any_request() -> None:
    from azure.core.credentials import AccessToken

    class Identity:
        """A TokenCredential that must not be asked: opening the store makes no request."""

        def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
            raise AssertionError("opening the store must not fetch a token")

    with open_table_store(
        account_url="https://acct.table.core.windows.net", credential=Identity()
    ) as opened:
        assert isinstance(opened, RowStore)


@pytest.mark.parametrize(
    ("ci", "outcome"),
    [
        pytest.param(None, pytest.skip.Exception, id="locally-skips"),
        pytest.param("true", pytest.fail.Exception, id="in-ci-fails"),
    ],
)
def test_a_missing_azurite_skips_locally_but_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str | None, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(azurite_module, "find_binary", lambda service: None)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)

    with pytest.raises(outcome, match="npm ci"):
        azurite_module.require_binary("table")


def test_importing_the_store_loads_no_azure_sdk() -> None:
    probe = (
        "import sys, patchpilot.adapters.store as s; "
        "loaded = sorted(m for m in sys.modules if m.startswith(('azure', 'sqlite3'))); "
        "print(','.join(loaded))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""


# Snapshots -------------------------------------------------------------------------------


def test_snapshots_keep_the_last_body_per_key_and_kind(store: Store) -> None:
    cluster = (
        "/subscriptions/x/resourcegroups/rg/providers/microsoft.containerservice/managedclusters/a"
    )
    store.put_snapshot("cluster", cluster, '{"v": 1}', T0)
    store.put_snapshot("cluster", cluster, '{"v": 2}', T0 + dt.timedelta(minutes=1))
    store.put_snapshot("region", "westeurope", "{}", T0)
    assert store.list_snapshots("cluster") == ((cluster, '{"v": 2}'),)
    assert store.list_snapshots("region") == (("westeurope", "{}"),)
    assert store.list_snapshots("other") == ()
    assert store.get_snapshot("cluster", cluster) == '{"v": 2}'
    assert store.get_snapshot("region", cluster) is None
    assert store.get_snapshot("other", "westeurope") is None


def test_concurrent_snapshot_writers_leave_one_whole_body(open_store: StoreFactory) -> None:
    bodies = [f'{{"writer": {n}}}' for n in range(8)]

    def write(body: str) -> None:
        open_store().put_snapshot("cluster", "c", body, T0)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, bodies))
    (only_row,) = open_store().list_snapshots("cluster")
    assert only_row[1] in bodies


def test_an_oversized_snapshot_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="at most"):
        store.put_snapshot("cluster", "c", "x" * 40_000, T0)
