"""Retention: how long each stored kind lives, and one bounded pass that removes the rest.

Table Storage has no TTL, so without this every ledger record, arrival,
watch, poison message, idempotency answer, alert record, pause and request
would stay forever. :class:`RetentionPolicy` says how long each kind is
worth keeping (and why); :class:`Retention` walks the tables a page at a
time with :meth:`Rows.page`, table by table and around again, and deletes
what has outlived its use. One call of :meth:`Retention.run` reads at most
`budget` rows and hands back a :class:`Cursor` to start the next call from,
so a run costs a fixed number of store requests however large the state
(the service keeps the cursor: :mod:`patchpilot.service.retention`).

Every delete is conditional on the ETag the row was read at (a partition's
expired rows go in one entity group transaction): a row someone rewrote
since (a renewed seen event, a replaced snapshot, a claim taken over) is
left for a later pass to judge again. A row this module does not recognise
(its keys are not the ones its properties give, or they do not parse) is
never deleted: other kinds may share a table (gate rows, new snapshot
kinds), and retention only removes what it understands.

What never goes: `in_progress` and `started` claims (AKS or a worker still
owns them), failures not yet resolved (the planner blocks on them; see
:func:`patchpilot.adapters.store.history.unresolved_failures`), the arrival
that resolves a failure still in the ledger, pauses without an end, and an
alert's record while any pause it made is still in place. Cluster and
region snapshots, posture and gate rows have retention rules of their own,
kept where they are written.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from patchpilot.adapters.store import codec, keys
from patchpilot.adapters.store.errors import RowChangedError
from patchpilot.adapters.store.names import TableNames
from patchpilot.adapters.store.records import ACTIVE_STATES, OperationKey, utc
from patchpilot.adapters.store.rows import MAX_BATCH, Row, Rows, Write
from patchpilot.domain.history import Requested
from patchpilot.errors import InvalidInputError

# Snapshot kinds this pass reads (written by service/operator/idempotency.py, service/alerts.py and
# service/operator/manual.py; tests check the names still agree).
IDEMPOTENCY: Final = "idempotency"
ALERT: Final = "alert"
REQUEST: Final = "request"
# Written by service/sweep.py (clusters it forgot) and service/reconcile/gates.py
# (generation marks).
FORGOTTEN: Final = "forgotten"
GATE_BUILT: Final = "gatebuilt"
GATE_COMPLETE: Final = "gatecomplete"
# Written by service/fleet_gates.py: one record per Fleet Manager gate it judged.
FLEET_GATE: Final = "fleetgate"
# Written by service/reconcile/starts.py in shadow mode: what would have started
# (service/shadow.py).
SHADOW: Final = "shadow"
# Written by service/aks_maintenance.py: AKS's announced maintenance per cluster, kept until
# the body's `keep_until` (a week past the last announced span's end, or its last word).
AKS_MAINTENANCE: Final = "aksmaint"
# Table Storage answers a query with at most 1,000 entities ("Query Timeout and Pagination").
MAX_PAGE: Final = 1000
_DAY: Final = dt.timedelta(days=1)
# What a row's decoding may raise when the row is not what its table usually holds.
_UNREADABLE: Final = (ValueError, TypeError, KeyError, InvalidInputError)


def _positive(span: dt.timedelta, name: str) -> None:
    if span <= dt.timedelta(0):
        raise InvalidInputError(f"retention {name} must be positive, got {span}")


def _at_least_one(count: int, name: str) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidInputError(
            f"retention {name} must be a whole number of at least 1, got {count!r}"
        )


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each stored kind lives after it stopped mattering."""

    # A quarter of finished upgrades answers "what happened last release?" in status and audits.
    ledger: dt.timedelta = dt.timedelta(days=90)
    # The gates compare recent targets; 16 arrivals are four months of weekly node images.
    progress: int = 16
    # A year of Patch Tuesday watches backs the time-to-patch figures; older months are history.
    watch_months: int = 12
    # Long enough to read and replay a poison message after a holiday.
    poison: dt.timedelta = dt.timedelta(days=30)
    # recall() ignores an answer past idempotency.KEEP (24 h); a second day covers skewed clocks.
    idempotency: dt.timedelta = dt.timedelta(hours=48)
    # Azure Monitor keeps an alert 30 days and retries a webhook for about a minute, so no
    # late Fired of a resolved instance (the record makes it stale) comes after a month.
    alert: dt.timedelta = dt.timedelta(days=30)
    # An ended pause stays visible (include_expired) for a month, then it is only clutter.
    pause: dt.timedelta = dt.timedelta(days=30)
    # A lease a crashed worker left behind: a day past its expiry nobody can still hold it.
    lease: dt.timedelta = _DAY
    # A forgotten cluster's finding stays on the status page a month, long enough to notice.
    forgotten: dt.timedelta = dt.timedelta(days=30)
    # A shadow decision backs the shadow report: a quarter, as the ledger, covers three
    # Patch Tuesdays and the trial a team runs before it turns writes on.
    shadow: dt.timedelta = dt.timedelta(days=90)
    # A Fleet gate's record, a month after its last check: an open one is rewritten by every
    # check (five minutes), so only a gate long approved, completed or gone reaches it.
    fleet_gate: dt.timedelta = dt.timedelta(days=30)
    # Rows per query; Table Storage's own maximum.
    page: int = MAX_PAGE

    def __post_init__(self) -> None:
        for name in (
            "ledger",
            "poison",
            "idempotency",
            "alert",
            "pause",
            "lease",
            "forgotten",
            "shadow",
        ):
            _positive(getattr(self, name), name)
        for name in ("progress", "watch_months", "page"):
            _at_least_one(getattr(self, name), name)
        if self.page > MAX_PAGE:
            raise InvalidInputError(f"retention page must be at most {MAX_PAGE}, got {self.page}")


@dataclass(frozen=True)
class Cursor:
    """Where the next pass starts: a segment (a table, or one snapshot kind) and a row in it."""

    segment: str
    after: tuple[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {"segment": self.segment, "after": list(self.after) if self.after else None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cursor:
        """Read the stored form back; anything else starts over (a cursor is only a hint)."""
        segment = data.get("segment")
        after = data.get("after")
        if not isinstance(segment, str) or segment not in SEGMENT_NAMES:
            return cls(SEGMENT_NAMES[0])
        if (
            isinstance(after, list)
            and len(after) == 2
            and all(isinstance(part, str) for part in after)
        ):
            return cls(segment, (after[0], after[1]))
        return cls(segment)


@dataclass(frozen=True)
class Swept:
    """What one pass did: rows read, rows deleted per kind, whole laps finished."""

    examined: int
    deleted: Mapping[str, int]
    laps: int = 0

    @property
    def total_deleted(self) -> int:
        """Rows deleted, all kinds together."""
        return sum(self.deleted.values())


@dataclass(frozen=True)
class _Segment:
    """One stretch of the walk: a table, one partition of it, or the partitions of one kind.

    A kind (`kind`) is its own partition and every partition ``<kind>~...``
    (requests are kept per subscription): the walk starts at the kind's
    first key and ends at the first row of another kind.
    """

    name: str
    table: Callable[[TableNames], str]
    partition: str | None = None
    kind: str | None = None

    def start(self) -> tuple[str, str] | None:
        """Where the segment's rows begin (strictly after this)."""
        return None if self.kind is None else (self.kind, "")

    def holds(self, row: Row) -> bool:
        """True while the walk is still inside the segment."""
        return self.kind is None or row.partition.startswith(self.kind)

    def owns(self, row: Row) -> bool:
        """True when the row is of the segment's kind (not one that merely starts alike)."""
        kind = self.kind
        return kind is None or row.partition == kind or row.partition.startswith(kind + "~")


SEGMENTS: Final = (
    _Segment("ledger", lambda n: n.ledger),
    _Segment("progress", lambda n: n.progress),
    _Segment("leases", lambda n: n.leases),
    _Segment("events", lambda n: n.events),
    _Segment("pauses", lambda n: n.pauses),
    _Segment("watches", lambda n: n.watches),
    _Segment("poison", lambda n: n.poison, codec.POISON_PARTITION),
    _Segment(IDEMPOTENCY, lambda n: n.snapshots, kind=IDEMPOTENCY),
    _Segment(ALERT, lambda n: n.snapshots, kind=ALERT),
    _Segment(REQUEST, lambda n: n.snapshots, kind=REQUEST),
    _Segment(FORGOTTEN, lambda n: n.snapshots, kind=FORGOTTEN),
    _Segment(GATE_BUILT, lambda n: n.snapshots, kind=GATE_BUILT),
    _Segment(GATE_COMPLETE, lambda n: n.snapshots, kind=GATE_COMPLETE),
    _Segment(FLEET_GATE, lambda n: n.snapshots, kind=FLEET_GATE),
    _Segment(SHADOW, lambda n: n.snapshots, kind=SHADOW),
    _Segment(AKS_MAINTENANCE, lambda n: n.snapshots, kind=AKS_MAINTENANCE),
    _Segment("gates", lambda n: n.gates),
)
SEGMENT_NAMES: Final = tuple(segment.name for segment in SEGMENTS)


class _OutOfBudgetError(Exception):
    """A point read would pass the run's budget: stop before this row."""


@dataclass
class _Reads:
    """The run's budget of rows read, spent by pages and by point reads alike."""

    rows: Rows
    left: int
    examined: int = 0

    def get(self, table: str, partition: str, key: str) -> Row | None:
        if self.left < 1:
            raise _OutOfBudgetError
        self.spend(1)
        return self.rows.get(table, partition, key)

    def spend(self, count: int) -> None:
        """Count `count` rows read."""
        self.left -= count
        self.examined += count


@dataclass
class _Pass:
    """The state of one run: the clock, the budget and what it deleted."""

    now: dt.datetime
    reads: _Reads
    deleted: Counter[str] = field(default_factory=Counter)
    judged: int = 0
    # Rows this page leaves beyond the newest K of their (cluster, pool, kind).
    surplus: set[tuple[str, str]] = field(default_factory=set)
    # Ids of every pause, once a firing alert's record needed them.
    pause_ids: frozenset[str] | None = None


class _Deletes:
    """Expired rows of one table, deleted a partition at a time at the etags they were read at.

    Rows of one partition go in one entity group transaction (at most
    :data:`MAX_BATCH`): one request instead of one per row. If any of them
    changed since it was read, the transaction deletes nothing and each row
    is deleted alone, so only the rewritten one stays.
    """

    def __init__(self, rows: Rows, table: str) -> None:
        self._rows = rows
        self._table = table
        self._pending: list[Row] = []
        self._deleted = 0

    def add(self, row: Row) -> None:
        if self._pending and (
            self._pending[0].partition != row.partition or len(self._pending) == MAX_BATCH
        ):
            self._commit()
        self._pending.append(row)

    def flush(self) -> int:
        """Delete what is pending; how many rows this object deleted in all."""
        self._commit()
        return self._deleted

    def _commit(self) -> None:
        pending, self._pending = self._pending, []
        if len(pending) > 1:
            writes = [Write(row.key, None, row.etag) for row in pending]
            try:
                self._rows.commit(self._table, pending[0].partition, writes)
                self._deleted += len(pending)
                return
            except RowChangedError:
                pass  # one of them was rewritten: each row alone, below
        for row in pending:
            self._deleted += self._rows.delete(self._table, row.partition, row.key, row.etag)


class Retention:
    """Bounded passes over the store that delete what has outlived its lifetime."""

    def __init__(
        self,
        rows: Rows,
        names: TableNames | None = None,
        policy: RetentionPolicy | None = None,
        *,
        generation: str | None = None,
    ) -> None:
        self._rows = rows
        self._names = names or TableNames()
        self._policy = policy or RetentionPolicy()
        # The ring gates' current generation: sums and marks of any other are removed.
        # None: gate rows are left alone (the caller does not know the policy).
        self._generation = generation
        self._rules: dict[str, Callable[[Row, _Pass], bool]] = {
            "ledger": self._ledger_done,
            "progress": self._progress_done,
            "leases": self._lease_done,
            "events": self._event_done,
            "pauses": self._pause_done,
            "watches": self._watch_done,
            "poison": self._poison_done,
            IDEMPOTENCY: self._idempotency_done,
            ALERT: self._alert_done,
            REQUEST: self._request_done,
            FORGOTTEN: self._forgotten_done,
            GATE_BUILT: self._old_generation_kind,
            GATE_COMPLETE: self._old_generation_key,
            FLEET_GATE: self._fleet_gate_done,
            SHADOW: self._shadow_done,
            AKS_MAINTENANCE: self._aks_maintenance_done,
            "gates": self._old_gate_row,
        }

    @property
    def policy(self) -> RetentionPolicy:
        """The lifetimes this pass applies."""
        return self._policy

    def run(
        self, now: dt.datetime, *, budget: int, cursor: Cursor | None = None
    ) -> tuple[Swept, Cursor]:
        """Read at most `budget` rows from `cursor` on, delete the expired, say where to go on.

        The walk goes segment by segment and wraps around; it stops when the
        budget is spent or after one whole lap, whichever comes first.
        """
        _at_least_one(budget, "budget")
        state = _Pass(utc(now, "now"), _Reads(self._rows, budget))
        start = cursor or Cursor(SEGMENT_NAMES[0])
        index = SEGMENT_NAMES.index(start.segment) if start.segment in SEGMENT_NAMES else 0
        after, first, laps = start.after, index, 0
        while state.reads.left > 0:
            segment = SEGMENTS[index]
            # Half of what is left stays for the point reads this page's rows may need.
            asked = min(self._policy.page, max(1, state.reads.left // 2))
            page, ended = self._page(segment, after, asked, state)
            if page is None:
                break
            done, stopped = self._sweep(segment, page, state)
            after = done or after
            if stopped:
                break
            if ended:
                index, after = (index + 1) % len(SEGMENTS), None
                if index == 0:
                    laps += 1
                if index == first:
                    break
        swept = Swept(
            state.reads.examined, {name: state.deleted[name] for name in SEGMENT_NAMES}, laps
        )
        return swept, Cursor(SEGMENT_NAMES[index], after)

    def _page(
        self, segment: _Segment, after: tuple[str, str] | None, limit: int, state: _Pass
    ) -> tuple[list[Row] | None, bool]:
        """The segment's next rows (None: stop the run here), and whether they are its last."""
        table = segment.table(self._names)
        found = self._rows.page(
            table, partition=segment.partition, after=after or segment.start(), limit=limit
        )
        state.reads.spend(len(found))
        inside = [row for row in found if segment.holds(row)]
        ended = len(found) < limit or len(inside) < len(found)
        if segment.name == "progress" and not ended:
            # A group cut by the page's end is judged whole on the next page instead. One
            # group filling a page the budget shrank waits for the next run's full page.
            whole = _without_last_group(inside)
            if not whole and state.judged > 0 and limit < self._policy.page:
                return None, False
            inside = whole or inside
        if segment.name == "progress":
            state.surplus = _surplus(inside, self._policy.progress)
        return inside, ended

    def _sweep(
        self, segment: _Segment, page: list[Row], state: _Pass
    ) -> tuple[tuple[str, str] | None, bool]:
        """Judge each row in order; the last row judged, and whether the budget ran out first."""
        rule = self._rules[segment.name]
        deletes = _Deletes(self._rows, segment.table(self._names))
        done: tuple[str, str] | None = None
        try:
            for row in page:
                try:
                    expired = segment.owns(row) and rule(row, state)
                except _OutOfBudgetError:
                    if state.judged > 0:
                        return done, True
                    # A row needing more reads than a whole run has would stop every run
                    # here: it stays, and the walk goes on past it.
                    expired = False
                except _UNREADABLE:
                    # Policy: a row this pass cannot read is not its to judge; it stays.
                    expired = False
                if expired:
                    deletes.add(row)
                state.judged += 1
                done = (row.partition, row.key)
        finally:
            state.deleted[segment.name] += deletes.flush()
        return done, False

    # The rules: True when the row has outlived its lifetime.

    def _ledger_done(self, row: Row, state: _Pass) -> bool:
        op = codec.operation_from(row)
        if codec.operation_keys(op.key) != (row.partition, row.key):
            return False
        if op.state in ACTIVE_STATES or op.updated_at + self._policy.ledger > state.now:
            return False
        if op.state != "failed":
            return True
        # A failure goes only once resolved: its target reached after it failed.
        arrival = state.reads.get(self._names.progress, row.partition, row.key)
        failed_at = op.finished_at or op.updated_at
        return arrival is not None and codec.reached_from(arrival).at >= failed_at

    def _progress_done(self, row: Row, state: _Pass) -> bool:
        if (row.partition, row.key) not in state.surplus:
            return False
        # The arrival that resolves a failure still in the ledger stays with it.
        record = state.reads.get(self._names.ledger, row.partition, row.key)
        return record is None or codec.operation_from(record).state != "failed"

    def _lease_done(self, row: Row, state: _Pass) -> bool:
        lease = codec.lease_from(row)
        if codec.lease_keys(lease.cluster) != (row.partition, row.key):
            return False
        return lease.expires_at + self._policy.lease <= state.now

    def _event_done(self, row: Row, state: _Pass) -> bool:
        event_id = row.props.get("event_id")
        if not isinstance(event_id, str) or codec.event_keys(event_id) != (row.partition, row.key):
            return False
        return codec.event_expires(row) <= state.now

    def _pause_done(self, row: Row, state: _Pass) -> bool:
        pause = codec.pause_from(row)
        if pause.id != row.key or pause.until is None:
            return False
        return pause.until + self._policy.pause <= state.now

    def _watch_done(self, row: Row, state: _Pass) -> bool:
        watch = codec.watch_from(row)
        if codec.watch_keys(watch.month, watch.region, watch.family) != (row.partition, row.key):
            return False
        year, month = (int(part) for part in watch.month.split("-"))
        age = (state.now.year - year) * 12 + state.now.month - month
        return age > self._policy.watch_months

    def _poison_done(self, row: Row, state: _Pass) -> bool:
        message_id = row.props.get("message_id")
        if not isinstance(message_id, str) or codec.poison_keys(message_id) != (
            row.partition,
            row.key,
        ):
            return False
        return _instant(row, "recorded_at") + self._policy.poison <= state.now

    def _idempotency_done(self, row: Row, state: _Pass) -> bool:
        return (
            _snapshot(row) and _instant(row, "observed_at") + self._policy.idempotency <= state.now
        )

    def _alert_done(self, row: Row, state: _Pass) -> bool:
        if not _snapshot(row) or _instant(row, "observed_at") + self._policy.alert > state.now:
            return False
        record = json.loads(str(row.props["body"]))
        if record["state"] == "resolved":
            return True
        # A firing alert's record is how its Resolved finds the pauses it made: it stays
        # while any of them does (a stateful alert may resolve months later).
        if record["state"] != "fired":
            return False
        return not any(self._pause_exists(str(pause), state) for pause in record["pauses"])

    def _pause_exists(self, pause_id: str, state: _Pass) -> bool:
        if state.pause_ids is None:
            state.pause_ids = self._pause_ids(state.reads)
        return pause_id in state.pause_ids

    def _pause_ids(self, reads: _Reads) -> frozenset[str]:
        """Every pause's id, read once per run: a pause's partition is not in its id.

        Cluster pauses live in their subscription's partition, and an alert
        record lists ids only. A pauses table larger than the budget left
        stops the run here, so no record goes on a partial answer.
        """
        ids: set[str] = set()
        after: tuple[str, str] | None = None
        while True:
            if reads.left < 1:
                raise _OutOfBudgetError
            limit = min(MAX_PAGE, reads.left)
            found = self._rows.page(self._names.pauses, after=after, limit=limit)
            reads.spend(len(found))
            ids.update(row.key for row in found)
            if len(found) < limit:
                return frozenset(ids)
            after = (found[-1].partition, found[-1].key)

    def _forgotten_done(self, row: Row, state: _Pass) -> bool:
        return _snapshot(row) and _instant(row, "observed_at") + self._policy.forgotten <= state.now

    def _shadow_done(self, row: Row, state: _Pass) -> bool:
        return _snapshot(row) and _instant(row, "observed_at") + self._policy.shadow <= state.now

    def _aks_maintenance_done(self, row: Row, state: _Pass) -> bool:
        if not _snapshot(row):
            return False
        keep_until = dt.datetime.fromisoformat(json.loads(str(row.props["body"]))["keep_until"])
        return utc(keep_until, "keep_until") <= state.now

    def _fleet_gate_done(self, row: Row, state: _Pass) -> bool:
        return (
            _snapshot(row) and _instant(row, "observed_at") + self._policy.fleet_gate <= state.now
        )

    def _old_generation_kind(self, row: Row, state: _Pass) -> bool:
        """A shard's mark of a generation (kind ``gatebuilt~<generation>``) no longer current."""
        generation = row.partition.partition("~")[2]
        return self._generation is not None and _snapshot(row) and generation != self._generation

    def _old_generation_key(self, row: Row, state: _Pass) -> bool:
        """A generation's completion mark (keyed by the generation) no longer current."""
        key = row.props.get("key")
        return self._generation is not None and _snapshot(row) and key != self._generation

    def _old_gate_row(self, row: Row, state: _Pass) -> bool:
        """A gate sum or member row of another generation (``gate~<generation>~...``)."""
        parts = row.partition.split(keys.SEPARATOR)
        if self._generation is None or len(parts) < 4 or parts[0] != "gate":
            return False  # index rows (``member~...``) are kept exact by their writers
        return parts[1] != self._generation

    def _request_done(self, row: Row, state: _Pass) -> bool:
        if not _snapshot(row):
            return False
        request = Requested.from_json(json.loads(str(row.props["body"])))
        return not request.active(state.now)


def _instant(row: Row, name: str) -> dt.datetime:
    value = row.props.get(name)
    if not isinstance(value, dt.datetime):
        raise ValueError(f"the row lacks the time {name!r}")
    return utc(value, name)


def _snapshot(row: Row) -> bool:
    """True when the row is a snapshot as put_snapshot writes it (keyed by its own `key`)."""
    key = row.props.get("key")
    return isinstance(key, str) and keys.escape(key) == row.key


def _group(row: Row) -> tuple[str, str]:
    """The (cluster, pool~kind) an arrival row belongs to, from its keys."""
    return row.partition, row.key.rsplit(keys.SEPARATOR, 1)[0]


def _without_last_group(rows: list[Row]) -> list[Row]:
    """The rows before the last group's first (none when one group fills them all)."""
    if not rows:
        return rows
    last = _group(rows[-1])
    cut = len(rows)
    while cut > 0 and _group(rows[cut - 1]) == last:
        cut -= 1
    return rows[:cut]


def _surplus(rows: Iterable[Row], keep: int) -> set[tuple[str, str]]:
    """Arrivals past the newest `keep` of their cluster, pool and kind, among `rows`.

    Safe on any subset of the table: a row with `keep` newer rows in the
    subset has at least as many in the whole group.
    """
    groups: dict[tuple[str, str | None, str], list[tuple[dt.datetime, str, str]]] = defaultdict(
        list
    )
    for row in rows:
        try:
            reached = codec.reached_from(row)
            key = OperationKey(reached.cluster, reached.pool, reached.kind, reached.target)
            if codec.reached_keys(key) != (row.partition, row.key):
                continue
        except _UNREADABLE:
            continue
        groups[(reached.cluster, reached.pool, reached.kind)].append(
            (reached.at, row.partition, row.key)
        )
    surplus: set[tuple[str, str]] = set()
    for arrivals in groups.values():
        arrivals.sort(reverse=True)
        surplus.update((partition, key) for _, partition, key in arrivals[keep:])
    return surplus
