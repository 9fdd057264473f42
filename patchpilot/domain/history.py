"""What already happened, passed to the planner as plain data.

The service layer reads these records from the store (ring progress, failed
operations, pauses, operations in flight); offline planning passes an empty
:class:`History`. Cluster identities are :attr:`ClusterId.key` strings.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

Kind = Literal["kubernetes", "node_image"]
PauseScope = Literal["fleet", "ring", "cluster"]


@dataclass(frozen=True)
class Reached:
    """A cluster (pool None) or pool reached a target at a time."""

    cluster: str
    pool: str | None
    kind: Kind
    target: str
    at: dt.datetime


@dataclass(frozen=True)
class Failure:
    """An upgrade that failed and has not been cleared by an operator."""

    cluster: str
    pool: str | None
    kind: Kind
    target: str
    at: dt.datetime
    message: str


@dataclass(frozen=True)
class Pause:
    """A stop on a scope: the whole fleet, one ring (by name) or one cluster (by key)."""

    scope: PauseScope
    reason: str
    target: str | None = None
    by: str = "unknown"
    until: dt.datetime | None = None

    def covers(self, cluster: str, ring: str | None, now: dt.datetime) -> bool:
        """True when the pause is in force for this cluster at `now`."""
        if self.until is not None and self.until <= now:
            return False
        if self.scope == "fleet":
            return True
        if self.scope == "ring":
            return ring is not None and ring == self.target
        return self.target is not None and self.target.lower() == cluster


@dataclass(frozen=True)
class InFlight:
    """An operation that was started and has not finished."""

    cluster: str
    pool: str | None
    kind: Kind
    target: str
    started_at: dt.datetime


@dataclass(frozen=True)
class History:
    """Everything the planner needs to know about the past."""

    reached: tuple[Reached, ...] = ()
    failures: tuple[Failure, ...] = ()
    pauses: tuple[Pause, ...] = ()
    in_flight: tuple[InFlight, ...] = ()
