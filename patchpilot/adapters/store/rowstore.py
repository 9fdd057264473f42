"""The store's rules, written once over the row primitives of either backend.

Every decision that must hold under concurrency is one atomic primitive:
a claim, a lease or a seen event is an insert-if-absent; taking over an
expired claim or lease is a replace conditional on the ETag read a moment
before. Of many racing writers exactly one wins; the others re-read and
report what they found. Each write carries a random token, so when the SDK
retries a write whose first attempt did land (the reply was lost), the
"conflict" it then sees is recognised as our own write, not someone else's.

Table layout (partition / row key, chosen for the access patterns):

- ledger: cluster / pool~kind~target: point reads per key, one query per cluster.
- leases: cluster / ``lease``: point reads and writes only.
- pauses: ``pause`` / id for fleet and ring pauses, ``pause~<subscription>`` / id
  for cluster pauses: a plan reads the shared partition and its own subscription's.
- events: event id / ``seen``: point reads and writes only.
- progress: cluster / pool~kind~target: like the ledger.
- watches: month / region~family: the timer and the sweep read one month.
- poison: ``poison`` / message id: counted whole.
- snapshots: kind / key: the last observed picture of each cluster (kind
  ``cluster~<subscription>``, point reads, one query per subscription) and region.
- gates: ring gate sums and their members (:mod:`.gate_rows`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from types import TracebackType
from typing import Final

from patchpilot.adapters.store import codec, keys
from patchpilot.adapters.store.arrivals import Arrivals, Subject, is_summary
from patchpilot.adapters.store.errors import (
    ClaimLostError,
    RecordNotFoundError,
    RowChangedError,
    RowExistsError,
    StoreContentionError,
)
from patchpilot.adapters.store.gate_rows import GateRows
from patchpilot.adapters.store.names import TableNames
from patchpilot.adapters.store.records import (
    ACTIVE_STATES,
    OUTCOMES,
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
    as_scope,
    positive,
    utc,
)
from patchpilot.adapters.store.retention import Retention
from patchpilot.adapters.store.rows import Row, Rows, Value
from patchpilot.domain.gates import GateKey, Tally
from patchpilot.domain.history import Kind, PauseScope, Reached

# Read-modify-write loops give up after this many lost races and report
# contention (a temporary error) rather than spin.
_ATTEMPTS: Final = 5
# Table Storage keeps at most 64 KiB in one string property (UTF-16).
MAX_SNAPSHOT_CHARS: Final = 32_000


def _token() -> str:
    return uuid.uuid4().hex


class RowStore:
    """The :class:`~patchpilot.adapters.store.interface.Store` over any :class:`Rows` backend."""

    def __init__(self, rows: Rows, names: TableNames | None = None) -> None:
        self._rows = rows
        self._names = names or TableNames()
        self._gates = GateRows(rows, self._names.gates)
        self._arrivals = Arrivals(rows, self._names.progress)

    def __enter__(self) -> RowStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def clock_offset(self) -> dt.timedelta | None:
        """How far the storage service's clock is from this process's (None: no service clock)."""
        return self._rows.clock_offset()

    def retention(self, generation: str | None = None) -> Retention:
        """The bounded cleanup over these rows, with the default lifetimes.

        With the ring gates' current `generation`, older generations' gate rows go too.
        """
        return Retention(self._rows, self._names, generation=generation)

    def close(self) -> None:
        """Release the backend's connections."""
        self._rows.close()

    # The operations ledger.

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
        """Claim one upgrade exactly once; see the Store protocol for the crash-safety story."""
        now = utc(now, "now")
        fresh = Operation(
            key=key,
            state="in_progress",
            claimed_at=now,
            expires_at=now + positive(ttl, "ttl"),
            updated_at=now,
            attempts=1,
            holder=holder,
            token=_token(),
            etag="",
            actor=actor,
            reason=reason,
        )
        table = self._names.ledger
        partition, row_key = codec.operation_keys(key)
        for _ in range(_ATTEMPTS):
            try:
                etag = self._rows.insert(table, partition, row_key, codec.operation_props(fresh))
                return Claim(replace(fresh, etag=etag))
            except RowExistsError:
                row = self._rows.get(table, partition, row_key)
            # Retention removed a long-finished record between the insert and the read.
            if row is not None:
                return self._take_over(row, fresh, now)
        raise StoreContentionError(f"the ledger row of {key} kept changing during a claim")

    def _take_over(self, row: Row, fresh: Operation, now: dt.datetime) -> Claim | AlreadyClaimed:
        existing = codec.operation_from(row)
        if existing.token == fresh.token:
            return Claim(existing)
        if not existing.claimable(now):
            return AlreadyClaimed(existing)
        taker = replace(fresh, attempts=existing.attempts + 1)
        table = self._names.ledger
        try:
            etag = self._rows.replace(
                table, row.partition, row.key, codec.operation_props(taker), row.etag
            )
            return Claim(replace(taker, etag=etag), previous=existing)
        except RowChangedError:
            latest = self._rows.get(table, row.partition, row.key)
        if latest is None:
            raise StoreContentionError(f"the ledger row of {fresh.key} vanished during a takeover")
        current = codec.operation_from(latest)
        if current.token == taker.token:
            return Claim(current, previous=existing)
        return AlreadyClaimed(current)

    def mark_started(
        self, key: OperationKey, operation_id: str | None, now: dt.datetime, etag: str
    ) -> Operation:
        """Record ARM's acceptance, only if the claim at `etag` is still this worker's."""
        now = utc(now, "now")
        row = self._ledger_row(key)
        claimed = codec.operation_from(row)
        if row.etag != etag or claimed.state != "in_progress":
            raise ClaimLostError(f"the claim on {key} moved on: it is {claimed.state} now")
        started = replace(
            claimed, state="started", started_at=now, updated_at=now, operation_id=operation_id
        )
        table = self._names.ledger
        try:
            new_etag = self._rows.replace(
                table, row.partition, row.key, codec.operation_props(started), etag
            )
        except RowChangedError as exc:
            latest = self._ledger_row(key)
            current = codec.operation_from(latest)
            # Our own write, retried by the SDK after its reply was lost.
            if current.token == claimed.token and current.state == "started":
                return current
            raise ClaimLostError(f"the claim on {key} was taken over: {current.state}") from exc
        return replace(started, etag=new_etag)

    def mark_finished(
        self,
        key: OperationKey,
        outcome: Outcome,
        now: dt.datetime,
        error: OperationError | None = None,
        *,
        token: str | None = None,
    ) -> Operation:
        """Record AKS's outcome; a repeated or late outcome leaves the first one in place.

        With `token`, only while the record is still that claim's: a worker
        never retires or fails a record another worker took over since.
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, got {outcome!r}")
        now = utc(now, "now")
        for _ in range(_ATTEMPTS):
            row = self._ledger_row(key)
            current = codec.operation_from(row)
            if token is not None and current.token != token:
                raise ClaimLostError(f"the claim on {key} was taken over: it is {current.state}")
            finished = _finished(current, outcome, now, error)
            if finished is None:
                return current
            try:
                etag = self._rows.replace(
                    self._names.ledger,
                    row.partition,
                    row.key,
                    codec.operation_props(finished),
                    row.etag,
                )
                return replace(finished, etag=etag)
            except RowChangedError:
                continue
        raise StoreContentionError(f"the ledger row of {key} kept changing; try again")

    def get(self, key: OperationKey) -> Operation | None:
        """The ledger record of one key, or None."""
        partition, row_key = codec.operation_keys(key)
        row = self._rows.get(self._names.ledger, partition, row_key)
        return None if row is None else codec.operation_from(row)

    def list_operations(
        self,
        cluster: str | None = None,
        since: dt.datetime | None = None,
        states: frozenset[OperationState] | None = None,
    ) -> tuple[Operation, ...]:
        """Ledger records, oldest claim first, filtered by cluster, last change and state.

        The states filter is sent to the backend: a cluster's partition keeps
        months of finished records, and a reconcile reads none of them.
        """
        partition = None if cluster is None else codec.cluster_partition(cluster)
        where = None if states is None else ("state", tuple(sorted(states)))
        rows = self._rows.scan(self._names.ledger, partition, where=where)
        ops = (codec.operation_from(row) for row in rows)
        floor = None if since is None else utc(since, "since")
        chosen = [
            op
            for op in ops
            if (cluster is None or op.key.cluster == cluster)
            and (floor is None or op.updated_at >= floor)
            and (states is None or op.state in states)
        ]
        return tuple(sorted(chosen, key=lambda op: (op.claimed_at, str(op.key))))

    def _ledger_row(self, key: OperationKey) -> Row:
        partition, row_key = codec.operation_keys(key)
        row = self._rows.get(self._names.ledger, partition, row_key)
        if row is None:
            raise RecordNotFoundError(f"the ledger holds no {key}")
        return row

    # Leases.

    def acquire_lease(
        self, cluster: str, holder: str, now: dt.datetime, duration: dt.timedelta
    ) -> Lease | None:
        """Take the cluster's lease if it is free, expired or already this holder's."""
        now = utc(now, "now")
        lease = Lease(cluster, holder, now, now + positive(duration, "duration"), _token(), "")
        table = self._names.leases
        partition, row_key = codec.lease_keys(cluster)
        for _ in range(_ATTEMPTS):
            try:
                etag = self._rows.insert(table, partition, row_key, codec.lease_props(lease))
                return replace(lease, etag=etag)
            except RowExistsError:
                row = self._rows.get(table, partition, row_key)
            # Released between our insert and our read: try the insert again.
            if row is not None:
                return self._take_lease(row, lease, now)
        raise StoreContentionError(f"the lease of {cluster} kept changing; try again")

    def _take_lease(self, row: Row, lease: Lease, now: dt.datetime) -> Lease | None:
        current = codec.lease_from(row)
        if current.token == lease.token:
            return current
        # Held by another acquisition, whatever its holder's name: threads of one worker
        # share a name, and nobody re-enters by it.
        if current.held_at(now):
            return None
        table = self._names.leases
        try:
            etag = self._rows.replace(
                table, row.partition, row.key, codec.lease_props(lease), row.etag
            )
            return replace(lease, etag=etag)
        except RowChangedError:
            latest = self._rows.get(table, row.partition, row.key)
        if latest is not None and codec.token_of(latest) == lease.token:
            return codec.lease_from(latest)
        return None

    def renew_lease(self, lease: Lease, now: dt.datetime, duration: dt.timedelta) -> Lease | None:
        """Extend a lease nobody took since (same token); an expired one too, if untouched."""
        now = utc(now, "now")
        renewed = replace(lease, expires_at=now + positive(duration, "duration"))
        table = self._names.leases
        partition, row_key = codec.lease_keys(lease.cluster)
        row = self._rows.get(table, partition, row_key)
        if row is None or codec.token_of(row) != lease.token:
            return None
        try:
            etag = self._rows.replace(
                table, partition, row_key, codec.lease_props(renewed), row.etag
            )
        except RowChangedError:
            return None
        return replace(renewed, etag=etag)

    def release_lease(self, lease: Lease) -> bool:
        """Delete the lease only if it is still this acquisition's (its token), renewed or not."""
        table = self._names.leases
        partition, row_key = codec.lease_keys(lease.cluster)
        # Unrenewed (most reconciles start nothing): one conditional delete, no read.
        if self._rows.delete(table, partition, row_key, lease.etag):
            return True
        row = self._rows.get(table, partition, row_key)
        if row is None or codec.token_of(row) != lease.token:
            return False
        return self._rows.delete(table, partition, row_key, row.etag)

    def get_lease(self, cluster: str) -> Lease | None:
        """The cluster's lease record, expired or not."""
        partition, row_key = codec.lease_keys(cluster)
        row = self._rows.get(self._names.leases, partition, row_key)
        return None if row is None else codec.lease_from(row)

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
        """Store a new pause under a fresh id, or under `pause_id` if none has it yet.

        With `pause_id` the insert is the atomic decision: of racing writers one
        pause is made, and the others get it back unchanged.
        """
        chosen = pause_id or uuid.uuid4().hex
        pause = PauseRecord(chosen, as_scope(scope), reason, by, now, target, until)
        table = self._names.pauses
        partition = codec.pause_partition(pause.scope, target)
        try:
            self._rows.insert(table, partition, pause.id, codec.pause_props(pause))
        except RowExistsError:
            row = self._rows.get(table, partition, chosen)
            if pause_id is None or row is None:
                raise
            return codec.pause_from(row)
        return pause

    def list_pauses(
        self, now: dt.datetime, *, include_expired: bool = False, cluster: str | None = None
    ) -> tuple[PauseRecord, ...]:
        """Pauses in creation order, active ones only unless asked.

        With `cluster`, only those that can cover it: fleet and ring pauses and
        the cluster pauses of its subscription (two partition queries).
        """
        table = self._names.pauses
        if cluster is None:
            rows = self._rows.scan(table)
        else:
            own = codec.pause_partition("cluster", cluster)
            rows = self._rows.scan(table, codec.PAUSES_PARTITION) + self._rows.scan(table, own)
        pauses = [codec.pause_from(row) for row in rows]
        shown = [p for p in pauses if include_expired or p.active(now)]
        return tuple(sorted(shown, key=lambda p: (p.created_at, p.id)))

    def delete_pause(self, pause_id: str) -> bool:
        """Remove one pause; False when there was none with that id."""
        table = self._names.pauses
        row = self._rows.get(table, codec.PAUSES_PARTITION, pause_id)
        if row is None:
            # A cluster pause: its partition is its subscription's; a resume is rare.
            row = next((r for r in self._rows.scan(table) if r.key == pause_id), None)
        if row is None:
            return False
        return self._rows.delete(table, row.partition, pause_id, row.etag)

    # Seen events.

    def seen_event(self, event_id: str, now: dt.datetime, ttl: dt.timedelta) -> bool:
        """Insert-if-absent on the id; an expired entry is renewed by exactly one caller."""
        now = utc(now, "now")
        token = _token()
        props: dict[str, Value] = {
            "event_id": event_id,
            "expires_at": now + positive(ttl, "ttl"),
            "token": token,
        }
        table = self._names.events
        partition, row_key = codec.event_keys(event_id)
        for _ in range(_ATTEMPTS):
            try:
                self._rows.insert(table, partition, row_key, props)
                return True
            except RowExistsError:
                row = self._rows.get(table, partition, row_key)
            if row is not None:
                return self._renew_event(row, props, now)
        raise StoreContentionError(f"the seen event {event_id!r} kept changing; try again")

    def _renew_event(self, row: Row, props: dict[str, Value], now: dt.datetime) -> bool:
        if codec.token_of(row) == props["token"]:
            return True
        if codec.event_expires(row) > now:
            return False
        table = self._names.events
        try:
            self._rows.replace(table, row.partition, row.key, props, row.etag)
            return True
        except RowChangedError:
            latest = self._rows.get(table, row.partition, row.key)
        return latest is not None and codec.token_of(latest) == props["token"]

    def forget_events(self, now: dt.datetime) -> int:
        """Delete the seen ids whose ttl has passed; each only if nobody renewed it meanwhile."""
        now = utc(now, "now")
        table = self._names.events
        stale = [row for row in self._rows.scan(table) if codec.event_expires(row) <= now]
        return sum(self._rows.delete(table, row.partition, row.key, row.etag) for row in stale)

    # Ring progress.

    def record_reached(
        self, cluster: str, pool: str | None, kind: Kind, target: str, at: dt.datetime
    ) -> Reached:
        """Record arrival at a target; an earlier report (events arrive out of order) wins."""
        key = OperationKey(cluster, pool, kind, target)
        reached = Reached(key.cluster, key.pool, key.kind, key.target, utc(at, "at"))
        table = self._names.progress
        partition, row_key = codec.reached_keys(key)
        props = codec.reached_props(reached)
        for _ in range(_ATTEMPTS):
            try:
                self._rows.insert(table, partition, row_key, props)
                break
            except RowExistsError:
                row = self._rows.get(table, partition, row_key)
            if row is None:
                continue
            known = codec.reached_from(row)
            if known.at <= reached.at:
                reached = known
                break
            try:
                self._rows.replace(table, partition, row_key, props, row.etag)
                break
            except RowChangedError:
                continue
        else:
            raise StoreContentionError(f"the progress of {key} kept changing; try again")
        # Also when the row was there: a crash between the two writes is repaired here.
        self._arrivals.add(reached)
        return reached

    def get_reached(self, key: OperationKey) -> Reached | None:
        """When a cluster or pool reached one target, or None: one point read."""
        partition, row_key = codec.reached_keys(key)
        row = self._rows.get(self._names.progress, partition, row_key)
        return None if row is None else codec.reached_from(row)

    def list_arrivals(self, cluster: str, subjects: Iterable[Subject]) -> tuple[Reached, ...]:
        """The newest arrivals of these (pool, kind)s of one cluster: one row each."""
        return self._arrivals.read(cluster, subjects)

    def forget_progress(self, cluster: str) -> int:
        """Delete a gone cluster's progress rows, each at the etag read."""
        table = self._names.progress
        rows = self._rows.scan(table, codec.cluster_partition(cluster))
        return sum(self._rows.delete(table, row.partition, row.key, row.etag) for row in rows)

    def list_reached(self, cluster: str | None = None) -> tuple[Reached, ...]:
        """Ring progress of one cluster or the fleet, in order of arrival."""
        partition = None if cluster is None else codec.cluster_partition(cluster)
        rows = self._rows.scan(self._names.progress, partition)
        reached = [codec.reached_from(row) for row in rows if not is_summary(row)]
        chosen = [r for r in reached if cluster is None or r.cluster == cluster]
        return tuple(sorted(chosen, key=lambda r: (r.at, r.cluster, r.pool or "", r.target)))

    # The Patch Tuesday watch.

    def open_watch(self, month: str, region: str, family: str, now: dt.datetime) -> ImageWatch:
        """Open the month's watch once; the timer may fire twice."""
        watch = ImageWatch(month, region, family, now)
        table = self._names.watches
        partition, row_key = codec.watch_keys(month, region, family)
        try:
            self._rows.insert(table, partition, row_key, codec.watch_props(watch))
            return watch
        except RowExistsError:
            row = self._rows.get(table, partition, row_key)
        return watch if row is None else codec.watch_from(row)

    def close_watch(
        self, month: str, region: str, family: str, image: str, now: dt.datetime
    ) -> ImageWatch:
        """Record the first image seen for the watch; later sightings leave it."""
        table = self._names.watches
        partition, row_key = codec.watch_keys(month, region, family)
        for _ in range(_ATTEMPTS):
            row = self._rows.get(table, partition, row_key)
            if row is None:
                raise RecordNotFoundError(f"no watch for {family} in {region} for {month}")
            watch = codec.watch_from(row)
            if not watch.open:
                return watch
            closed = replace(watch, image=image, seen_at=now)
            try:
                self._rows.replace(table, partition, row_key, codec.watch_props(closed), row.etag)
                return closed
            except RowChangedError:
                continue
        raise StoreContentionError(f"the watch for {family} in {region} kept changing")

    def list_watches(
        self, month: str | None = None, *, open_only: bool = False
    ) -> tuple[ImageWatch, ...]:
        """Watches of one month (one partition) or all months."""
        rows = self._rows.scan(self._names.watches, month)
        watches = [codec.watch_from(row) for row in rows]
        shown = [w for w in watches if w.open or not open_only]
        return tuple(sorted(shown, key=lambda w: (w.month, w.region, w.family)))

    # Poison messages.

    def record_poison(self, message_id: str, body: str, now: dt.datetime) -> bool:
        """Keep a poison message once, however often the queue hands it over."""
        props: dict[str, Value] = {
            "message_id": message_id,
            "body": codec.clip(body),
            "recorded_at": utc(now, "now"),
        }
        partition, row_key = codec.poison_keys(message_id)
        try:
            self._rows.insert(self._names.poison, partition, row_key, props)
        except RowExistsError:
            return False
        return True

    def count_poison(self) -> int:
        """How many poison messages were kept."""
        return len(self._rows.scan(self._names.poison, codec.POISON_PARTITION))

    # Snapshots: the last observed picture of each cluster and region.

    def put_snapshot(self, kind: str, key: str, body: str, now: dt.datetime) -> None:
        """Keep `body` as the latest snapshot of (kind, key); the last writer wins."""
        if len(body) > MAX_SNAPSHOT_CHARS:
            raise ValueError(
                f"snapshot of {key} is {len(body)} characters; at most {MAX_SNAPSHOT_CHARS}"
            )
        props: dict[str, Value] = {"key": key, "body": body, "observed_at": utc(now, "now")}
        partition, row_key = kind, keys.escape(key)
        # Any writer may win, so a lost race just tries again, longer than for claims.
        for _ in range(_ATTEMPTS * 4):
            try:
                self._rows.insert(self._names.snapshots, partition, row_key, props)
                return
            except RowExistsError:
                row = self._rows.get(self._names.snapshots, partition, row_key)
            if row is None:
                continue
            try:
                self._rows.replace(self._names.snapshots, partition, row_key, props, row.etag)
                return
            except RowChangedError:
                continue
        raise StoreContentionError(f"snapshot {kind}/{key} kept changing")

    def get_snapshot(self, kind: str, key: str) -> str | None:
        """The latest snapshot body of (kind, key), or None."""
        row = self._rows.get(self._names.snapshots, kind, keys.escape(key))
        return None if row is None else str(row.props["body"])

    def list_snapshots(self, kind: str) -> tuple[tuple[str, str], ...]:
        """Every (key, body) snapshot of one kind, by key."""
        rows = self._rows.scan(self._names.snapshots, kind)
        found = ((str(row.props["key"]), str(row.props["body"])) for row in rows)
        return tuple(sorted(found))

    def list_snapshots_under(self, kind_prefix: str) -> tuple[tuple[str, str], ...]:
        """Every (key, body) snapshot of the kinds starting with `kind_prefix` (one range query)."""
        rows = self._rows.scan(self._names.snapshots, partition_prefix=kind_prefix)
        found = ((str(row.props["key"]), str(row.props["body"])) for row in rows)
        return tuple(sorted(found))

    def delete_snapshot(self, kind: str, key: str) -> bool:
        """Remove one snapshot; False when there was none."""
        row = self._rows.get(self._names.snapshots, kind, keys.escape(key))
        if row is None:
            return False
        return self._rows.delete(self._names.snapshots, kind, row.key, row.etag)

    # Ring gates: sums over each ring's members (see gate_rows).

    def read_gates(self, gates: Iterable[GateKey], generation: str) -> dict[GateKey, Tally]:
        """The stored sums of these gates; a gate with no members is absent."""
        return self._gates.read(gates, generation)

    def set_contributions(
        self,
        cluster: str,
        tallies: Mapping[GateKey, Tally] | Callable[[], Mapping[GateKey, Tally]],
        generation: str,
        *,
        inputs: str | None = None,
    ) -> int:
        """Make the cluster's tallies in the gates exactly these; how many gates changed."""
        return self._gates.set(cluster, tallies, generation, inputs=inputs)


def _finished(
    op: Operation, outcome: Outcome, now: dt.datetime, error: OperationError | None
) -> Operation | None:
    """The record after an outcome, or None when the outcome changes nothing."""
    if op.state in ACTIVE_STATES:
        return replace(op, state=outcome, finished_at=now, updated_at=now, error=error)
    if op.state == "failed" and outcome == "expired":
        # Retiring a failure keeps its error and time for the audit trail.
        return replace(op, state="expired", updated_at=now)
    return None
