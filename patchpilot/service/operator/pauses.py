"""Pause and resume by hand: `POST /api/pauses`, `GET /api/pauses`, `DELETE /api/pauses/{id}`.

A pause stops every new upgrade in its scope (the whole fleet, one ring, one
cluster) until it expires or someone deletes it; upgrades already running
finish. Who asked, with which role, is stored as the pause's `by`
(:attr:`~patchpilot.service.operator.requester.Operator.actor`) and traced with the
reason; so is who resumed, in the trace and the log (the store forgets a
deleted pause).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from patchpilot.adapters.store import PauseRecord
from patchpilot.domain.history import PauseScope
from patchpilot.domain.plan import iso
from patchpilot.errors import InvalidInputError
from patchpilot.service.deps import Services
from patchpilot.service.operator import idempotency
from patchpilot.service.operator.clusters import cluster_id, known_cluster
from patchpilot.service.operator.errors import NotFoundError
from patchpilot.service.operator.requester import Operator, operator_span
from patchpilot.service.snapshots import load_fleet_snapshot

_log = logging.getLogger(__name__)
ROUTE = "pauses"


@dataclass(frozen=True)
class PauseRequest:
    """What a person asked to pause, why, and until when (None: until resumed)."""

    scope: PauseScope
    target: str | None
    reason: str
    until: dt.datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The request as understood (for the idempotency fingerprint)."""
        return {
            "scope": self.scope,
            "target": self.target,
            "reason": self.reason,
            "until": iso(self.until),
        }


def add_pause(
    services: Services,
    request: PauseRequest,
    operator: Operator,
    now: dt.datetime,
    *,
    idempotency_key: str | None = None,
) -> PauseRecord:
    """Store the pause (who asked is its `by`); a retried key returns the first pause."""
    digest = idempotency.fingerprint(request.to_json())
    if idempotency_key is not None:
        kept = idempotency.recall(
            services.store, ROUTE, idempotency_key, digest, now, caller=operator.name
        )
        if kept is not None:
            return pause_from_json(kept)
    target = _target(services, request)
    if request.until is not None and request.until <= now:
        raise InvalidInputError(f"until {iso(request.until)} is not in the future", path="until")
    with operator_span(
        services, "pause", operator, scope=request.scope, target=target, reason=request.reason
    ) as span:
        pause = services.store.add_pause(
            request.scope, request.reason, operator.actor, now, target=target, until=request.until
        )
        span.set_attribute("patchpilot.pause_id", pause.id)
    _log.warning("%s paused %s %s: %s", operator, request.scope, target or "", request.reason)
    if idempotency_key is not None:
        idempotency.remember(
            services.store,
            ROUTE,
            idempotency_key,
            digest,
            answer=pause_json(pause),
            now=now,
            caller=operator.name,
        )
    return pause


def list_pauses(services: Services, now: dt.datetime) -> tuple[PauseRecord, ...]:
    """The pauses in force now, oldest first."""
    return services.store.list_pauses(now)


def remove_pause(
    services: Services,
    pause_id: str,
    operator: Operator,
    now: dt.datetime,
    reason: str | None = None,
) -> PauseRecord:
    """Delete one pause (a resume); :class:`NotFoundError` when no pause has that id.

    `reason` is the resumer's (`?reason=`); the trace keeps it beside the
    pause's own reason and who made the pause, since the store forgets both.
    """
    pause = next(
        (p for p in services.store.list_pauses(now, include_expired=True) if p.id == pause_id),
        None,
    )
    with operator_span(
        services,
        "resume",
        operator,
        pause_id=pause_id,
        reason=reason,
        paused_for=pause.reason if pause is not None else None,
        paused_by=pause.by if pause is not None else None,
    ):
        if pause is None or not services.store.delete_pause(pause_id):
            raise NotFoundError(f"no pause has id {pause_id!r}", code="PauseNotFound")
    _log.warning(
        "%s resumed %s %s (pause %s by %s): %s",
        operator,
        pause.scope,
        pause.target or "",
        pause.id,
        pause.by,
        reason or "no reason given",
    )
    return pause


def pause_json(pause: PauseRecord) -> dict[str, Any]:
    """A pause as the API shows it."""
    return {
        "id": pause.id,
        "scope": pause.scope,
        "target": pause.target,
        "reason": pause.reason,
        "by": pause.by,
        "created_at": iso(pause.created_at),
        "until": iso(pause.until),
    }


def pause_from_json(data: dict[str, Any]) -> PauseRecord:
    """A pause from :func:`pause_json` (a remembered answer)."""
    until = data.get("until")
    return PauseRecord(
        id=data["id"],
        scope=data["scope"],
        reason=data["reason"],
        by=data["by"],
        created_at=dt.datetime.fromisoformat(data["created_at"]),
        target=data.get("target"),
        until=dt.datetime.fromisoformat(until) if until else None,
    )


def _target(services: Services, request: PauseRequest) -> str | None:
    """The stored target: none for the fleet, the ring's name, or the cluster's key."""
    if request.scope == "fleet":
        if request.target is not None:
            raise InvalidInputError("a fleet pause has no target", path="target")
        return None
    if request.target is None:
        raise InvalidInputError(f"a {request.scope} pause needs a target", path="target")
    if request.scope == "ring":
        names = [ring.name for ring in services.policy.rings]
        if request.target not in names:
            raise InvalidInputError(
                f"{request.target!r} is not a ring of the policy ({', '.join(names)})",
                path="target",
            )
        return request.target
    cluster = cluster_id(request.target, path="target")
    fleet = load_fleet_snapshot(services.store)
    return known_cluster(fleet, cluster, services.policy.scopes).key
