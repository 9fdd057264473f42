"""The planner's decisions as the demo saw them, tapped from the telemetry handle.

The service hands every plan it makes (each sweep, each reconcile) to
``Telemetry.record_plan``, which turns each action into a `decision` span
event. The demo needs the same decisions as values, whatever exporter is
configured (none, by default), so :class:`TappedTelemetry` passes each plan
to a :class:`DecisionLog` before recording it as usual. The log keeps:

- the first decision per upgrade that was not blocked: when the rules first
  allowed it (`earliest_allowed_at` in the records);
- the decisions to wait, once per change of status or reason, for the timeline.

Called by the demo runner only; the Function App never imports it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Final

from opentelemetry.trace import Span

from patchpilot.domain.plan import Action, Plan
from patchpilot.telemetry import Telemetry

# A (cluster key, pool or None, kind, target) tuple: the ledger's idempotency key.
UpgradeKey = tuple[str, str | None, str, str]
_INSTANT: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?Z")
# "(ring staging's ... pools are on 202511.17.0, 202512.01.0)": progress, not a new reason.
_RING_PROGRESS: Final = re.compile(r"\(ring [^()]*\)")
# Waits that only reflect one operation at a time per cluster: the running
# upgrade's own start and end lines already tell that story.
_TRANSIENT: Final = (" in progress since ", "blocked: cluster is ")


@dataclass(frozen=True)
class Decision:
    """One planner action at the instant it was planned."""

    at: dt.datetime
    action: Action

    @property
    def cluster_key(self) -> str:
        """The cluster's case-insensitive identity."""
        return self.action.cluster.key

    @property
    def key(self) -> UpgradeKey | None:
        """The upgrade this decision is about; None when the planner named no target."""
        action = self.action
        if action.target is None:
            return None
        return (self.cluster_key, action.pool, action.kind, action.target)


@dataclass
class DecisionLog:
    """What the planner decided over a run: first allowed moments and decisions to wait."""

    first_allowed: dict[UpgradeKey, Decision] = field(default_factory=dict)
    waits: list[Decision] = field(default_factory=list)
    _last: dict[tuple[str, str | None, str], tuple[str, str | None, str]] = field(
        default_factory=dict
    )

    def add(self, plan: Plan) -> None:
        """Take in one plan (a whole fleet's, or one cluster's)."""
        for action in plan.actions:
            decision = Decision(plan.at, action)
            key = decision.key
            if key is not None and action.status != "blocked":
                self.first_allowed.setdefault(key, decision)
            self._note_wait(decision)

    def _note_wait(self, decision: Decision) -> None:
        action = decision.action
        slot = (decision.cluster_key, action.pool, action.kind)
        if action.status == "due":
            self._last.pop(slot, None)
            return
        if any(marker in action.reason for marker in _TRANSIENT):
            return
        reason = _RING_PROGRESS.sub("(ring)", _INSTANT.sub("T", action.reason))
        gist = (action.status, action.target, reason)
        if self._last.get(slot) != gist:
            self._last[slot] = gist
            self.waits.append(decision)


@dataclass(frozen=True)
class TappedTelemetry(Telemetry):
    """The service's telemetry handle, which also hands each plan to a :class:`DecisionLog`."""

    log: DecisionLog = field(default_factory=DecisionLog)

    @classmethod
    def wrapping(cls, base: Telemetry, log: DecisionLog) -> TappedTelemetry:
        """The same tracer and instruments as `base`, with the tap."""
        values = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
        return cls(**values, log=log)

    def record_plan(self, span: Span, plan: Plan) -> None:
        """Log the plan's decisions, then record them on the span as usual."""
        self.log.add(plan)
        super().record_plan(span, plan)
