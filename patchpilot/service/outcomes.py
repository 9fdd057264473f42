"""What a use case did, as a value: the trigger logs it, tests assert on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from patchpilot.domain.resource_ids import ClusterId

EventVerdict = Literal["enqueued", "duplicate", "ignored", "refused"]


@dataclass(frozen=True)
class EventOutcome:
    """How one Event Grid event was handled, and why."""

    verdict: EventVerdict
    reason: str
    cluster: ClusterId | None = None
    event_type: str | None = None


@dataclass(frozen=True)
class ReconcileOutcome:
    """What one reconcile did: the actions it started and when it looks again."""

    cluster: ClusterId
    started: tuple[str, ...] = ()
    settled: tuple[str, ...] = ()
    waiting: str | None = None
    requeued_after_seconds: float | None = None


@dataclass(frozen=True)
class SweepOutcome:
    """What one sweep saw and enqueued."""

    observed: int
    enqueued: tuple[ClusterId, ...] = ()
    unobserved: tuple[str, ...] = ()
    notices: int = 0
    images_found: tuple[str, ...] = field(default_factory=tuple)
    # Clusters missing from several complete listings: removed from the store and the gates.
    forgotten: tuple[str, ...] = ()
    # Subscriptions fanned out to their own shard messages (the timer, with several).
    shards: tuple[str, ...] = ()
