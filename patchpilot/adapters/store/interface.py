"""What the service layer needs of the state store: one Protocol, two backends.

The service's reconcile, event and timer use cases depend on :class:`Store`
only; the Function App opens Azure Table Storage, local runs open SQLite
(:func:`patchpilot.adapters.store.open_sqlite_store`). The store never reads
the clock: every method that needs "now" takes it, so the virtual clock of the
simulator and the tests drive it. Every datetime is timezone-aware UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from patchpilot.adapters.store.records import (
    AlreadyClaimed,
    Claim,
    ImageWatch,
    Lease,
    Operation,
    OperationError,
    OperationKey,
    OperationState,
    Outcome,
    PauseRecord,
)
from patchpilot.adapters.store.retention import Retention
from patchpilot.domain.gates import GateKey, Tally
from patchpilot.domain.history import Kind, PauseScope, Reached


class Store(Protocol):
    """The operations ledger, cluster leases, pauses, seen events, ring progress and watches."""

    # The operations ledger: exactly-once effect (DESIGN.md, invariant 3).

    def claim(
        self,
        key: OperationKey,
        now: dt.datetime,
        ttl: dt.timedelta,
        *,
        holder: str = "",
        actor: str | None = None,
        reason: str | None = None,
    ) -> Claim | AlreadyClaimed:
        """Claim the right to start one upgrade, atomically: at most one caller ever gets it.

        Crash safety: the claim is written *before* the ARM call. If the holder
        dies before :meth:`mark_started` (before calling ARM, or after ARM
        accepted but before the ledger heard of it), the record stays
        `in_progress` until `now + ttl`; then exactly one later claimer takes
        it over (a conditional write on the record's ETag) and gets a
        :class:`Claim` whose `previous` is set (`taken_over`). That caller
        MUST re-observe AKS before acting: if the cluster or pool is already
        upgrading to the target it records `mark_started(key, None, ...)`; if
        it is at the target, `mark_finished(key, "succeeded", ...)`; only
        otherwise does it call ARM. So an upgrade that did start is
        recognised and never started twice. A `started` record is never
        taken over by time (the reconcile finishes it from what AKS reports);
        a `failed` one only after an operator retires it
        (`mark_finished(key, "expired", ...)`).
        """
        ...

    def mark_started(
        self, key: OperationKey, operation_id: str | None, now: dt.datetime, etag: str
    ) -> Operation:
        """Record that ARM accepted the upgrade; :class:`ClaimLostError` if the claim moved on."""
        ...

    def mark_finished(
        self,
        key: OperationKey,
        outcome: Outcome,
        now: dt.datetime,
        error: OperationError | None = None,
        *,
        token: str | None = None,
    ) -> Operation:
        """Record AKS's outcome; repeats are no-ops (the first outcome wins).

        `failed` -> `expired` is the one change after an outcome: an operator
        retires a failure so the target may be claimed again. With `token`
        (a claim's), :class:`ClaimLostError` if another claim took the record over.
        """
        ...

    def get(self, key: OperationKey) -> Operation | None:
        """The ledger record of one key, or None."""
        ...

    def list_operations(
        self,
        cluster: str | None = None,
        since: dt.datetime | None = None,
        states: frozenset[OperationState] | None = None,
    ) -> tuple[Operation, ...]:
        """Ledger records, oldest claim first: of one cluster, changed since, in some states."""
        ...

    # Leases: at most one worker acts on a cluster (DESIGN.md, invariant 2).

    def acquire_lease(
        self, cluster: str, holder: str, now: dt.datetime, duration: dt.timedelta
    ) -> Lease | None:
        """Take the cluster's lease; None while another acquisition's lease is unexpired.

        A lease is its token: a caller with the same `holder` name (another
        thread of the same worker) is refused like any other. `holder` only
        names the worker on status pages. Expiry is honoured for
        `MAX_CLOCK_SKEW` beyond `expires_at`, for clocks that run ahead.
        """
        ...

    def renew_lease(self, lease: Lease, now: dt.datetime, duration: dt.timedelta) -> Lease | None:
        """Extend a lease still held by its token to `now + duration`; None when it was lost."""
        ...

    def release_lease(self, lease: Lease) -> bool:
        """Give a lease back (renewed or not); False when it was taken over or released."""
        ...

    def get_lease(self, cluster: str) -> Lease | None:
        """The cluster's lease record, expired or not, for status pages."""
        ...

    # Pauses.

    def add_pause(
        self,
        scope: PauseScope,
        reason: str,
        by: str,
        now: dt.datetime,
        *,
        target: str | None = None,
        until: dt.datetime | None = None,
        pause_id: str | None = None,
    ) -> PauseRecord:
        """Store a new pause and return it with its id.

        With `pause_id`, at most one pause ever has it: a second add returns the
        first pause unchanged (one failure makes one pause, whoever reports it).
        """
        ...

    def list_pauses(
        self, now: dt.datetime, *, include_expired: bool = False, cluster: str | None = None
    ) -> tuple[PauseRecord, ...]:
        """Pauses in creation order; those whose `until` has passed only on request.

        With `cluster`: only fleet and ring pauses and its subscription's cluster pauses.
        """
        ...

    def delete_pause(self, pause_id: str) -> bool:
        """Remove a pause (a resume); False when no pause had that id."""
        ...

    # Seen event ids: Event Grid delivers at least once.

    def seen_event(self, event_id: str, now: dt.datetime, ttl: dt.timedelta) -> bool:
        """True the first time an id is seen (atomically); again once its ttl has passed."""
        ...

    def forget_events(self, now: dt.datetime) -> int:
        """Delete seen ids whose ttl has passed (Table Storage has no TTL); how many."""
        ...

    # Ring progress.

    def record_reached(
        self, cluster: str, pool: str | None, kind: Kind, target: str, at: dt.datetime
    ) -> Reached:
        """Record that a cluster (pool None) or pool reached a target; the earliest time wins."""
        ...

    def get_reached(self, key: OperationKey) -> Reached | None:
        """When a cluster or pool reached one target, or None: one point read."""
        ...

    def list_reached(self, cluster: str | None = None) -> tuple[Reached, ...]:
        """Ring progress, of one cluster or of the fleet."""
        ...

    def list_arrivals(
        self, cluster: str, subjects: Iterable[tuple[str | None, Kind]]
    ) -> tuple[Reached, ...]:
        """The newest arrivals (16) of these (pool, kind)s of one cluster (pool None: its own).

        One row each, however long the cluster's history: what ring gate tallies read.
        """
        ...

    # The Patch Tuesday watch for Windows images.

    def open_watch(self, month: str, region: str, family: str, now: dt.datetime) -> ImageWatch:
        """Open the month's watch (idempotent: an existing watch is returned unchanged)."""
        ...

    def close_watch(
        self, month: str, region: str, family: str, image: str, now: dt.datetime
    ) -> ImageWatch:
        """Record the image that ended the watch; the first close wins."""
        ...

    def list_watches(
        self, month: str | None = None, *, open_only: bool = False
    ) -> tuple[ImageWatch, ...]:
        """Watches of one month or of all months."""
        ...

    # Poison messages: reconcile messages the queue gave up on.

    def record_poison(self, message_id: str, body: str, now: dt.datetime) -> bool:
        """Keep a poison message for status; True the first time its id is recorded."""
        ...

    def count_poison(self) -> int:
        """How many poison messages were recorded."""
        ...

    # Snapshots: the last observed picture of the fleet, between invocations.

    def put_snapshot(self, kind: str, key: str, body: str, now: dt.datetime) -> None:
        """Keep `body` as the latest snapshot of (kind, key); the last writer wins."""
        ...

    def get_snapshot(self, kind: str, key: str) -> str | None:
        """The latest snapshot body of (kind, key), or None: one read, not a scan of the kind."""
        ...

    def list_snapshots(self, kind: str) -> tuple[tuple[str, str], ...]:
        """Every (key, body) snapshot of one kind, sorted by key."""
        ...

    def list_snapshots_under(self, kind_prefix: str) -> tuple[tuple[str, str], ...]:
        """Every (key, body) snapshot of the kinds that start with `kind_prefix`, by key."""
        ...

    def delete_snapshot(self, kind: str, key: str) -> bool:
        """Remove one snapshot; False when there was none."""
        ...

    # Ring gates (DESIGN.md invariant 5): sums over each ring's members.

    def read_gates(self, gates: Iterable[GateKey], generation: str) -> dict[GateKey, Tally]:
        """The stored sums of these gates, one query each; a gate with no members is absent."""
        ...

    def set_contributions(
        self,
        cluster: str,
        tallies: Mapping[GateKey, Tally] | Callable[[], Mapping[GateKey, Tally]],
        generation: str,
        *,
        inputs: str | None = None,
    ) -> int:
        """Make the cluster's tallies exactly these (others removed); how many gates changed.

        `generation` is the ring membership's fingerprint: entries of another
        generation are dropped from the cluster's index (never subtracted).
        `inputs` fingerprints what the tallies are computed from: when the
        index holds the same, nothing changed, and a callable `tallies` is
        not even called (the cluster's progress is not read).

        Atomic per gate: the member's row and its shard's sum move in one
        transaction, so racing writers and crashes never count a member twice.
        """
        ...

    # Clocks (docs/reliability.md): expiries one instance writes, others read.

    def clock_offset(self) -> dt.timedelta | None:
        """The storage service's clock minus this process's at the last write, or None.

        Table Storage answers every write with its own `Date`; SQLite has no
        clock of its own. A start is refused while this is beyond half the
        tolerated skew: two such clocks could then differ by more than it.
        """
        ...

    def retention(self, generation: str | None = None) -> Retention:
        """The bounded cleanup over this store's rows (see ``adapters.store.retention``)."""
        ...

    def forget_progress(self, cluster: str) -> int:
        """Delete a gone cluster's ring progress (one partition); how many rows."""
        ...

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...
