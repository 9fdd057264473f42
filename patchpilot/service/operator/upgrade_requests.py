"""What a person asks of `POST /api/upgrades`, and the answer: plain values, JSON both ways.

The HTTP layer reads an :class:`UpgradeRequest` from the body
(`patchpilot.api.bodies`); the manual upgrade use case
(`patchpilot.service.operator.manual`) answers with an :class:`UpgradeAnswer`, which
the idempotency record keeps as JSON and gives back on a retry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from patchpilot.domain.history import Kind
from patchpilot.domain.plan import iso
from patchpilot.domain.resource_ids import ClusterId

Outcome = Literal["started", "scheduled", "already_started", "already_done", "shadowed"]


@dataclass(frozen=True)
class UpgradeRequest:
    """One upgrade a person asks for; `version` None means what the plan would choose."""

    cluster: ClusterId
    pool: str | None
    kind: Kind
    version: str | None = None
    force: bool = False
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The request as understood (for the idempotency fingerprint and the trace)."""
        return {
            "cluster": self.cluster.key,
            "pool": self.pool,
            "kind": self.kind,
            "version": self.version,
            "force": self.force,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class UpgradeAnswer:
    """What became of the request: started now, scheduled, or already in the ledger."""

    outcome: Outcome
    cluster: str
    pool: str | None
    kind: Kind
    current: str
    target: str
    planned_at: dt.datetime | None
    window_end: dt.datetime | None
    forced: bool
    requested_by: str
    reason: str
    operation: dict[str, Any] | None = None
    replayed: bool = False

    def to_json(self) -> dict[str, Any]:
        """The API's answer body."""
        return {
            "outcome": self.outcome,
            "cluster": self.cluster,
            "pool": self.pool,
            "kind": self.kind,
            "current": self.current,
            "target": self.target,
            "planned_at": iso(self.planned_at),
            "window_end": iso(self.window_end),
            "forced": self.forced,
            "requested_by": self.requested_by,
            "reason": self.reason,
            "operation": self.operation,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UpgradeAnswer:
        """An answer kept by :mod:`~patchpilot.service.operator.idempotency`, marked as replayed."""
        return cls(
            outcome=data["outcome"],
            cluster=data["cluster"],
            pool=data["pool"],
            kind=data["kind"],
            current=data["current"],
            target=data["target"],
            planned_at=_instant(data["planned_at"]),
            window_end=_instant(data["window_end"]),
            forced=data["forced"],
            requested_by=data["requested_by"],
            reason=data["reason"],
            operation=data["operation"],
            replayed=True,
        )


def _instant(text: object) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if isinstance(text, str) else None
