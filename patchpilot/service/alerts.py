"""Azure Monitor alerts as gates: a fired alert pauses its scope, its resolution lifts the pause.

`POST /api/alerts` hands the payload to :func:`handle_alert`. The scope an
alert stops is found two ways, and both apply:

- its target resource IDs: each managed cluster inside the policy's scopes
  (or a resource under one, such as an agent pool) gets a cluster pause;
- the policy's `alerts:` section: the ring a rule maps to (`rules`), and
  every ring that lists the rule as a health gate (`gates`), get a ring pause.

An alert that maps to nothing, or a payload that is not a common-schema
alert, is refused and changes nothing. Each pause's `by` is
``alert:<rule>``, and a record per alert instance (snapshot kind
:data:`KIND`, keyed by :attr:`AlertNotice.key`) lists its pauses, so the
Resolved notification lifts exactly those, and only those: a Resolved with no
record of its instance lifts nothing, since other instances of the same rule
(another dimension, another resource) may still be firing on the same scopes.
Notifications may repeat or arrive out of order: a repeated Fired adds
nothing, a Resolved before its Fired makes the late Fired a no-op.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Final, Literal

from patchpilot.adapters.store import PauseRecord
from patchpilot.domain.alerts import AlertNotice, alert_actor, parse_alert
from patchpilot.domain.history import PauseScope
from patchpilot.domain.plan import iso
from patchpilot.domain.resource_ids import ClusterId, in_scopes, parse_cluster_id
from patchpilot.errors import InvalidInputError
from patchpilot.service.deps import Services
from patchpilot.service.operator.errors import MalformedError, UnknownAlertError
from patchpilot.service.operator.pauses import pause_json
from patchpilot.service.operator.requester import Operator, operator_span

KIND: Final = "alert"
_log = logging.getLogger(__name__)
_CLUSTER_PREFIX = re.compile(
    r"^(.*?/providers/Microsoft\.ContainerService/managedClusters/[^/]+)(?:/.*)?$", re.IGNORECASE
)
Verdict = Literal["paused", "already_paused", "resumed", "nothing_to_lift", "stale"]


@dataclass(frozen=True)
class AlertOutcome:
    """What one notification did, and the pauses it made or lifted."""

    verdict: Verdict
    notice: AlertNotice
    pauses: tuple[PauseRecord, ...] = ()
    scopes: tuple[tuple[PauseScope, str | None], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The API's answer body."""
        return {
            "verdict": self.verdict,
            "alert_id": self.notice.alert_id,
            "rule": self.notice.rule,
            "condition": self.notice.condition,
            "pauses": [pause_json(p) for p in self.pauses],
            "scopes": [{"scope": scope, "target": target} for scope, target in self.scopes],
        }


def handle_alert(
    services: Services, payload: object, now: dt.datetime, *, caller: Operator | None = None
) -> AlertOutcome:
    """Pause on Fired, lift on Resolved; a malformed or unmapped alert changes nothing.

    `caller` is the credential that delivered the notification (the alert
    function's key, or Azure Monitor's token with the alert role), traced
    beside the rule; the pauses' `by` stays the rule, which is what acted.
    """
    try:
        notice = parse_alert(payload)
    except InvalidInputError as exc:
        raise MalformedError(exc.detail, source=exc.source, path=exc.path) from exc
    scopes = _scopes(services, notice)
    if not scopes:
        raise UnknownAlertError(
            f"alert rule {notice.rule!r} maps to nothing: none of its targets is a managed "
            "cluster inside the policy's scopes, and the policy's alerts section names no "
            "ring for it"
        )
    operator = Operator(alert_actor(notice.rule), "alert")
    delivered_by = caller.actor if caller is not None else None
    with operator_span(
        services,
        "alert",
        operator,
        alert_id=notice.alert_id,
        condition=notice.condition,
        delivered_by=delivered_by,
    ):
        if notice.fired:
            return _fire(services, notice, scopes, now)
        return _resolve(services, notice, scopes, now)


def _scopes(services: Services, notice: AlertNotice) -> tuple[tuple[PauseScope, str | None], ...]:
    """The clusters and rings this alert stops, in a stable order."""
    found: dict[tuple[PauseScope, str | None], None] = {}
    for target in notice.target_ids:
        cluster = _cluster_of(target)
        if cluster is not None and in_scopes(cluster, services.policy.scopes):
            found[("cluster", cluster.key)] = None
    for ring in services.policy.alerts.rings_for(notice.names):
        found[("ring", ring)] = None
    return tuple(found)


def _pause_id(notice: AlertNotice, scope: PauseScope, target: str | None) -> str:
    """The id of the pause one alert instance makes on one scope."""
    text = f"{notice.key}|{scope}|{target or ''}"
    return "alert-" + hashlib.sha256(text.encode()).hexdigest()[:24]


def _cluster_of(target: str) -> ClusterId | None:
    """The managed cluster a target resource ID is, or sits under; None for anything else."""
    match = _CLUSTER_PREFIX.match(target)
    if match is None:
        return None
    try:
        return parse_cluster_id(match.group(1))
    except InvalidInputError:
        return None


def _fire(
    services: Services,
    notice: AlertNotice,
    scopes: tuple[tuple[PauseScope, str | None], ...],
    now: dt.datetime,
) -> AlertOutcome:
    record = _record(services, notice)
    if record is not None and record["state"] == "resolved":
        resolved = dt.datetime.fromisoformat(record["resolved_at"])
        if resolved >= notice.fired_at:
            return AlertOutcome("stale", notice, scopes=scopes)
    if record is not None and record["state"] == "fired":
        return AlertOutcome("already_paused", notice, _pauses(services, record, now), scopes)
    reason = _reason(notice)
    # Each pause's id is this instance's and the scope's: a repeated or redelivered Fired
    # (a worker died before saving the record) finds its pauses instead of adding more.
    pauses = tuple(
        services.store.add_pause(
            scope, reason, alert_actor(notice.rule), now, target=target,
            pause_id=_pause_id(notice, scope, target),
        )
        for scope, target in scopes
    )  # fmt: skip
    _save(services, notice, "fired", [p.id for p in pauses], now)
    _log.warning("alert %s fired: paused %s", notice.rule, ", ".join(_label(s) for s in scopes))
    return AlertOutcome("paused", notice, pauses, scopes)


def _resolve(
    services: Services,
    notice: AlertNotice,
    scopes: tuple[tuple[PauseScope, str | None], ...],
    now: dt.datetime,
) -> AlertOutcome:
    lifted = _made_by(services, notice, _record(services, notice), scopes, now)
    for pause in lifted:
        services.store.delete_pause(pause.id)
    _save(services, notice, "resolved", [], now)
    if not lifted:
        return AlertOutcome("nothing_to_lift", notice, scopes=scopes)
    _log.warning("alert %s resolved: lifted %d pauses", notice.rule, len(lifted))
    return AlertOutcome("resumed", notice, lifted, scopes)


def _made_by(
    services: Services,
    notice: AlertNotice,
    record: dict[str, Any] | None,
    scopes: tuple[tuple[PauseScope, str | None], ...],
    now: dt.datetime,
) -> tuple[PauseRecord, ...]:
    """The pauses this instance's Fired made: its record's, and those under its own ids.

    Never by rule: another instance of the same rule may still fire on the
    same scopes. Without a record (the Fired is late, never came, or its
    worker died before saving it) only pauses under this instance's ids go.
    """
    ids = {_pause_id(notice, scope, target) for scope, target in scopes}
    if record is None:
        _log.warning("alert %s resolved with no record of %s", notice.rule, notice.alert_id)
    else:
        ids |= set(record["pauses"])
    return tuple(p for p in services.store.list_pauses(now, include_expired=True) if p.id in ids)


def _record(services: Services, notice: AlertNotice) -> dict[str, Any] | None:
    """This instance's record; records kept before keys ignored case sit under the raw ID."""
    body = services.store.get_snapshot(KIND, notice.key)
    if body is None and notice.key != notice.alert_id:
        body = services.store.get_snapshot(KIND, notice.alert_id)
    return None if body is None else dict(json.loads(body))


def _pauses(
    services: Services, record: dict[str, Any], now: dt.datetime
) -> tuple[PauseRecord, ...]:
    ids = set(record["pauses"])
    return tuple(p for p in services.store.list_pauses(now) if p.id in ids)


def _save(
    services: Services, notice: AlertNotice, state: str, pauses: list[str], now: dt.datetime
) -> None:
    record = {
        "state": state,
        "rule": notice.rule,
        "pauses": pauses,
        "fired_at": iso(notice.fired_at),
        "resolved_at": iso(notice.resolved_at or now) if state == "resolved" else None,
    }
    services.store.put_snapshot(KIND, notice.key, json.dumps(record), now)


def _reason(notice: AlertNotice) -> str:
    what = f"{notice.severity} {notice.signal_type} alert fired at {iso(notice.fired_at)}"
    text = f"{what}: {notice.description}" if notice.description else what
    return text if len(text) <= 400 else text[:400] + "..."


def _label(scope: tuple[PauseScope, str | None]) -> str:
    kind, target = scope
    return f"{kind} {target}" if target else kind
