"""The records the store holds: frozen values, validated once, convertible to the domain's.

Every datetime is timezone-aware and held in UTC; a naive one is refused
here, so no backend ever has to guess a zone. Records carry their ``etag``
(the version the store read), which the caller hands back for conditional
writes. Converters (:meth:`Operation.to_failure`, :meth:`PauseRecord.to_pause`
...) build the planner's :mod:`patchpilot.domain.history` values.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Final, Literal, get_args

from patchpilot.domain.history import Failure, InFlight, Kind, Pause, PauseScope
from patchpilot.errors import InvalidInputError

OperationState = Literal["in_progress", "started", "succeeded", "failed", "expired"]
Outcome = Literal["succeeded", "failed", "expired"]

KINDS: Final = frozenset(get_args(Kind))
SCOPES: Final = frozenset(get_args(PauseScope))
STATES: Final = frozenset(get_args(OperationState))
OUTCOMES: Final = frozenset(get_args(Outcome))
# States that hold the cluster busy in the planner's eyes.
ACTIVE_STATES: Final[frozenset[OperationState]] = frozenset({"in_progress", "started"})
# The most two instances' clocks may differ (docs/reliability.md, "Clocks"). An expiry
# written by one clock is honoured this much longer by every other, so a lease or a claim
# is never taken over early by a clock that runs ahead; the start guard keeps this margin
# from both ends of a window. Azure's hosts keep NTP time to well under a second.
MAX_CLOCK_SKEW: Final = dt.timedelta(minutes=5)
# Narrowing tables: text read from a row becomes a Literal without a cast.
_KIND_NAMES: Final[dict[str, Kind]] = {"kubernetes": "kubernetes", "node_image": "node_image"}
_SCOPE_NAMES: Final[dict[str, PauseScope]] = {
    "fleet": "fleet",
    "ring": "ring",
    "cluster": "cluster",
}
_STATE_NAMES: Final[dict[str, OperationState]] = {
    "in_progress": "in_progress",
    "started": "started",
    "succeeded": "succeeded",
    "failed": "failed",
    "expired": "expired",
}
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def utc(value: dt.datetime, name: str = "time") -> dt.datetime:
    """The same instant in UTC; a naive datetime is a programming error, never local time."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    moment = value.astimezone(dt.UTC)
    # Backends hand back datetime subclasses; a plain datetime compares and prints the same.
    return dt.datetime(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
        tzinfo=dt.UTC,
    )


def maybe_utc(value: dt.datetime | None, name: str = "time") -> dt.datetime | None:
    """:func:`utc` for optional fields."""
    return None if value is None else utc(value, name)


def positive(span: dt.timedelta, name: str) -> dt.timedelta:
    """Refuse a zero or negative duration: a TTL or lease of no length protects nothing."""
    if span <= dt.timedelta(0):
        raise ValueError(f"{name} must be positive, got {span}")
    return span


def as_kind(value: str) -> Kind:
    """Narrow stored or given text to a :data:`Kind`, refusing anything else."""
    kind = _KIND_NAMES.get(value)
    if kind is not None:
        return kind
    raise InvalidInputError(f"kind must be one of {sorted(KINDS)}, got {value!r}")


def as_state(value: str) -> OperationState:
    """Narrow stored text to an :data:`OperationState`."""
    state = _STATE_NAMES.get(value)
    if state is not None:
        return state
    raise InvalidInputError(f"state must be one of {sorted(STATES)}, got {value!r}")


def as_scope(value: str) -> PauseScope:
    """Narrow stored or given text to a :data:`PauseScope`."""
    scope = _SCOPE_NAMES.get(value)
    if scope is not None:
        return scope
    raise InvalidInputError(f"scope must be one of {sorted(SCOPES)}, got {value!r}")


def _text(value: str, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{name} must be a non-empty string, got {value!r}")
    return value


@dataclass(frozen=True)
class OperationKey:
    """The idempotency key: one upgrade of one cluster's control plane (pool None) or pool.

    `cluster` is :attr:`ClusterId.key` (lower case), so IDs that differ only in
    case are one key. An empty pool name means the control plane, like None.
    """

    cluster: str
    pool: str | None
    kind: Kind
    target: str

    def __post_init__(self) -> None:
        _text(self.cluster, "cluster")
        _text(self.target, "target")
        if self.kind not in KINDS:
            raise InvalidInputError(f"kind must be one of {sorted(KINDS)}, got {self.kind!r}")
        if self.pool == "":
            object.__setattr__(self, "pool", None)

    def __str__(self) -> str:
        where = f"pool {self.pool}" if self.pool else "control plane"
        return f"{self.kind} upgrade of {self.cluster} {where} to {self.target}"


@dataclass(frozen=True)
class OperationError:
    """Why AKS failed an operation, as AKS put it (`UpgradeFailed`, the PDB it names)."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


@dataclass(frozen=True)
class Operation:
    """One ledger record: the story of one idempotency key.

    `in_progress`: claimed, the ARM call not yet confirmed; it blocks other
    claimers until `expires_at`. `started`: ARM accepted (`operation_id` holds
    the async operation URL or id). `succeeded` / `failed` (with `error`):
    AKS reported the outcome. `expired`: retired by an operator after a
    failure, so the target may be claimed again. `attempts` counts claims,
    takeovers included; `actor` and `reason` say who asked, for manual ones.
    """

    key: OperationKey
    state: OperationState
    claimed_at: dt.datetime
    expires_at: dt.datetime
    updated_at: dt.datetime
    attempts: int
    holder: str
    token: str
    etag: str
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    operation_id: str | None = None
    error: OperationError | None = None
    actor: str | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise InvalidInputError(f"state must be one of {sorted(STATES)}, got {self.state!r}")
        for name in ("claimed_at", "expires_at", "updated_at", "started_at", "finished_at"):
            object.__setattr__(self, name, maybe_utc(getattr(self, name), name))

    def claimable(self, now: dt.datetime) -> bool:
        """True when a new claim may take this record over.

        An `in_progress` record past `expires_at` (and the tolerated clock skew)
        means its holder died before confirming; an `expired` one was retired.
        `started` records are never taken over by time: AKS owns them until it
        reports an outcome.
        """
        if self.state == "expired":
            return True
        return self.state == "in_progress" and self.expires_at + MAX_CLOCK_SKEW <= utc(now, "now")

    def in_flight(self, now: dt.datetime) -> bool:
        """True while the planner must treat the cluster as busy with this operation."""
        if self.state == "started":
            return True
        return self.state == "in_progress" and not self.claimable(now)

    def to_in_flight(self) -> InFlight:
        """The planner's view of an operation in flight."""
        key = self.key
        since = self.started_at or self.claimed_at
        return InFlight(key.cluster, key.pool, key.kind, key.target, since)

    def to_failure(self) -> Failure:
        """The planner's view of a failed operation."""
        key = self.key
        at = self.finished_at or self.updated_at
        message = str(self.error) if self.error else "failed without an error from AKS"
        return Failure(key.cluster, key.pool, key.kind, key.target, at, message)


@dataclass(frozen=True)
class Claim:
    """This worker owns the key now and may act, after re-observing AKS if `previous` is set."""

    operation: Operation
    previous: Operation | None = None

    @property
    def etag(self) -> str:
        """The version to hand to :meth:`Store.mark_started`."""
        return self.operation.etag

    @property
    def taken_over(self) -> bool:
        """True when an earlier holder may have reached ARM: re-observe before calling it."""
        return self.previous is not None


@dataclass(frozen=True)
class AlreadyClaimed:
    """Someone else holds (or finished) this key: do not act; `existing` says what happened."""

    existing: Operation


@dataclass(frozen=True)
class Lease:
    """The right to act on one cluster until `expires_at`, as long as `etag` still matches."""

    cluster: str
    holder: str
    acquired_at: dt.datetime
    expires_at: dt.datetime
    token: str
    etag: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "acquired_at", utc(self.acquired_at, "acquired_at"))
        object.__setattr__(self, "expires_at", utc(self.expires_at, "expires_at"))

    def held_at(self, now: dt.datetime) -> bool:
        """True until the lease runs out on every clock within the tolerated skew."""
        return utc(now, "now") < self.expires_at + MAX_CLOCK_SKEW


@dataclass(frozen=True)
class PauseRecord:
    """A stored pause: the domain's :class:`Pause` plus its id and when it was made."""

    id: str
    scope: PauseScope
    reason: str
    by: str
    created_at: dt.datetime
    target: str | None = None
    until: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise InvalidInputError(f"scope must be one of {sorted(SCOPES)}, got {self.scope!r}")
        if self.scope == "fleet" and self.target is not None:
            raise InvalidInputError("a fleet pause has no target")
        if self.scope != "fleet" and not self.target:
            raise InvalidInputError(f"a {self.scope} pause needs a target (the {self.scope})")
        _text(self.reason, "reason")
        object.__setattr__(self, "created_at", utc(self.created_at, "created_at"))
        object.__setattr__(self, "until", maybe_utc(self.until, "until"))

    def active(self, now: dt.datetime) -> bool:
        """True until `until` (a pause without one lasts until it is deleted)."""
        return self.until is None or utc(now, "now") < self.until

    def to_pause(self) -> Pause:
        """The planner's view of this pause."""
        return Pause(self.scope, self.reason, self.target, self.by, self.until)


@dataclass(frozen=True)
class ImageWatch:
    """The Patch Tuesday watch for one month, region and Windows image family.

    Opened by the Patch Tuesday timer; closed by the sweep when AKS offers an
    image of that month in the region (`image`, `seen_at`).
    """

    month: str
    region: str
    family: str
    opened_at: dt.datetime
    image: str | None = None
    seen_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.month, str) or not _MONTH.fullmatch(self.month):
            raise InvalidInputError(f"month must look like 2025-11, got {self.month!r}")
        _text(self.region, "region")
        _text(self.family, "family")
        object.__setattr__(self, "opened_at", utc(self.opened_at, "opened_at"))
        object.__setattr__(self, "seen_at", maybe_utc(self.seen_at, "seen_at"))

    @property
    def open(self) -> bool:
        """True while the month's image has not been seen."""
        return self.seen_at is None
