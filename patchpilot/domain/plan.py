"""The planner's answer: actions with a status and a reason, and findings.

A :class:`Plan` is what `patchpilot plan` prints, what `GET /api/plan`
returns and what the reconcile worker executes (its `due` actions, in order).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from patchpilot.domain.history import Kind
from patchpilot.domain.resource_ids import ClusterId

Status = Literal["due", "scheduled", "blocked"]


@dataclass(frozen=True)
class Action:
    """One upgrade of a control plane (pool None) or a pool, and why it is in this state."""

    cluster: ClusterId
    pool: str | None
    kind: Kind
    current: str
    target: str | None
    status: Status
    not_before: dt.datetime | None
    reason: str
    ring: str | None = None
    window_end: dt.datetime | None = None
    # The last time gate (soak, Patch Tuesday offset) a due or scheduled action passed, if
    # any: with the window, when the rules first allowed it. Not part of the JSON contract.
    allowed_from: dt.datetime | None = None
    # Where the allowed window a due or scheduled action falls in began (not_before may be
    # later: now, or a gate): the start guard keeps the clock skew from both ends.
    # Not part of the JSON contract.
    window_start: dt.datetime | None = None
    # The earlier ring a blocked action waits for (its ring gate), None for any other block:
    # what the critical path follows. Not part of the JSON contract.
    waits_on: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The contract's JSON shape (DESIGN.md, CLI)."""
        return {
            "cluster": str(self.cluster),
            "pool": self.pool,
            "kind": self.kind,
            "current": self.current,
            "target": self.target,
            "status": self.status,
            "not_before": iso(self.not_before),
            "window_end": iso(self.window_end),
            "ring": self.ring,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Finding:
    """Something a person should know that is not an upgrade: an overlap, a risk."""

    cluster: ClusterId
    pool: str | None
    code: str
    message: str

    def to_json(self) -> dict[str, Any]:
        """JSON form for `plan --json` and the status API."""
        return {
            "cluster": str(self.cluster),
            "pool": self.pool,
            "code": self.code,
            "message": self.message,
        }


@dataclass(frozen=True)
class OnPath:
    """A cluster whose window sets when a later ring can move: when it reaches the target."""

    cluster: str
    ring: str
    window: str
    target: str | None
    reaches: dt.datetime

    def to_json(self) -> dict[str, Any]:
        """JSON form inside a :class:`RingPath`."""
        return {
            "cluster": self.cluster,
            "ring": self.ring,
            "window": self.window,
            "target": self.target,
            "reaches": iso(self.reaches),
        }


@dataclass(frozen=True)
class RingPath:
    """What one ring waits for on one gate subject (Kubernetes or an image family), and until when.

    `earliest` is the first moment a pool of the ring can start, None when it
    waits for something with no set end (a pause, a failure, a hold, an
    operation in progress). `on_path` names the
    clusters of earlier rings whose windows set that moment, and
    `weekly_saves_days` what the ring would gain if each of them had a
    window at least weekly (computed with the planner's own window search).
    """

    ring: str
    subject: str
    pending: int
    waits_for: str
    earliest: dt.datetime | None
    on_path: tuple[OnPath, ...] = ()
    weekly_saves_days: float | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form for `plan --json` and the status API (`critical_path`)."""
        return {
            "ring": self.ring,
            "subject": self.subject,
            "pending": self.pending,
            "waits_for": self.waits_for,
            "earliest": iso(self.earliest),
            "on_path": [step.to_json() for step in self.on_path],
            "weekly_saves_days": self.weekly_saves_days,
        }


@dataclass(frozen=True)
class Plan:
    """Every action and finding for a fleet at one instant, and the rings' critical path.

    `paths` is filled for a whole-fleet plan shown to people
    (:func:`patchpilot.domain.critical_path.with_paths`); a reconcile's plan leaves it empty.
    """

    at: dt.datetime
    actions: tuple[Action, ...]
    findings: tuple[Finding, ...] = ()
    paths: tuple[RingPath, ...] = ()

    def counts(self) -> dict[str, int]:
        """How many actions have each status (for traces and summaries)."""
        counted = Counter(action.status for action in self.actions)
        return {status: counted.get(status, 0) for status in ("due", "scheduled", "blocked")}

    def due(self) -> tuple[Action, ...]:
        """The actions to start now, in execution order."""
        return tuple(action for action in self.actions if action.status == "due")

    def to_json(self) -> dict[str, Any]:
        """The contract's JSON: `at`, `actions`, plus `findings`, `critical_path`, `counts`."""
        return {
            "at": iso(self.at),
            "actions": [action.to_json() for action in self.actions],
            "findings": [finding.to_json() for finding in self.findings],
            "critical_path": [path.to_json() for path in self.paths],
            "counts": self.counts(),
        }


def iso(moment: dt.datetime | None) -> str | None:
    """UTC ISO 8601 with a `Z`, as the contract requires."""
    if moment is None:
        return None
    text = moment.astimezone(dt.UTC).isoformat()
    return text.replace("+00:00", "Z")
