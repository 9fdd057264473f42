"""What already happened, passed to the planner as plain data.

The service layer reads these records from the store (ring progress, failed
operations, pauses, operations in flight, upgrades people asked for);
offline planning passes an empty :class:`History`. Cluster identities are
:attr:`ClusterId.key` strings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from patchpilot.domain.fields import Fields
from patchpilot.domain.resource_ids import ascii_key

if TYPE_CHECKING:
    from patchpilot.domain.gates import GateKey, Tally

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
        return self.target is not None and ascii_key(self.target) == cluster


@dataclass(frozen=True)
class InFlight:
    """An operation that was started and has not finished."""

    cluster: str
    pool: str | None
    kind: Kind
    target: str
    started_at: dt.datetime


@dataclass(frozen=True)
class Requested:
    """An upgrade a person asked for (`POST /api/upgrades`) that waits for its window.

    The planner puts it in place of its own choice for that control plane
    (pool None) or pool, under every rule except the policy's channel, until
    the cluster or pool reaches `target`. For node images `target` is the full
    image name.
    """

    cluster: str
    pool: str | None
    kind: Kind
    target: str
    by: str
    reason: str
    at: dt.datetime
    until: dt.datetime | None = None

    def active(self, now: dt.datetime) -> bool:
        """True until `until`: a request that could not run by then is dropped, not kept forever."""
        return self.until is None or now < self.until

    @property
    def subject(self) -> str:
        """One request per cluster, pool and kind: a later one replaces an earlier one."""
        return f"{self.cluster}|{self.pool or ''}|{self.kind}"

    def to_json(self) -> dict[str, Any]:
        """The stored form (UTC ISO 8601 times)."""
        return {
            "cluster": self.cluster,
            "pool": self.pool,
            "kind": self.kind,
            "target": self.target,
            "by": self.by,
            "reason": self.reason,
            "at": self.at.astimezone(dt.UTC).isoformat(),
            "until": self.until.astimezone(dt.UTC).isoformat() if self.until else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Requested:
        """Read the stored form back; :class:`InvalidInputError` when it is not one."""
        fields = Fields.of(data, source="upgrade request")
        fields.only("cluster", "pool", "kind", "target", "by", "reason", "at", "until")
        pool = fields.raw("pool", None)
        if pool is not None and not isinstance(pool, str):
            raise fields.error("pool", "expected a pool name or null")
        at = _aware(fields.text("at"))
        until = _aware(fields.text("until")) if fields.has("until") else None
        kind = fields.text("kind", choices=("kubernetes", "node_image"))
        return cls(
            cluster=fields.text("cluster"),
            pool=pool or None,
            kind="kubernetes" if kind == "kubernetes" else "node_image",
            target=fields.text("target"),
            by=fields.text("by"),
            reason=fields.text("reason"),
            at=at,
            until=until,
        )


def _aware(text: str) -> dt.datetime:
    """A stored instant (written in UTC; a bare one is read as UTC)."""
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class History:
    """Everything the planner needs to know about the past."""

    reached: tuple[Reached, ...] = ()
    failures: tuple[Failure, ...] = ()
    pauses: tuple[Pause, ...] = ()
    in_flight: tuple[InFlight, ...] = ()
    requests: tuple[Requested, ...] = ()
    # The stored ring gates (sums over each earlier ring's members, kept by the
    # store). None: sum them from the fleet given to the planner, as offline plans do.
    gates: Mapping[GateKey, Tally] | None = None
    # Why stored gates cannot be trusted yet (being rebuilt after a policy change):
    # every ring with an earlier ring then waits, saying this.
    gates_hold: str | None = None
