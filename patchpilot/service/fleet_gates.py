"""Approve Fleet Manager gates when Patch Pilot's own gates allow: on their events and on a timer.

A gate event (``FleetGateCreated``, ``...Updated``, ``...Deleted`` from the
fleet's system topic) is a hint, as AKS's events are: the gate is read again
through ARM and judged from what Patch Pilot knows of the clusters behind it
(:func:`patchpilot.domain.fleet_gates.decide_gate`: their pauses, fleet and
ring pauses included, firing alerts, freezes, failed upgrades, the ring
before theirs, and their windows if the policy says so). An allowed gate is
approved; a blocked one is recorded with why, and the timer
(:func:`follow_gates`) judges it again every five minutes until it can be
approved or is gone. Once an hour the timer also lists each policy fleet's
pending gates (:func:`listing_due`), so a lost event costs at most an hour,
never an approval. In shadow mode (``PATCHPILOT_MODE=shadow``) a gate that
would be approved is recorded ``shadow`` and left for a person: no ARM write.
An approval publishes ``FleetGateApproved``.

Only fleets in the policy's ``fleet_gates.fleets`` are touched. Each gate is
judged under a lease of its own (one instance at a time), from a fresh read,
and approved with ``If-Match`` on that read's ETag: duplicates, retries and
other instances find it approved (or ``Completed``) and do nothing more. A
gate that cannot be judged (ARM or the store fails) stays blocked, with the
error as its reason: fail closed.

Records are snapshots of kind :data:`KIND`, keyed by the gate's ID, with a
lifetime in :mod:`patchpilot.adapters.store.retention`; :func:`gate_status`
is what the status page shows of them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from patchpilot.adapters.publisher import Notice
from patchpilot.adapters.store import load_own_history
from patchpilot.domain.errors import UnhandledEventError
from patchpilot.domain.fleet_gates import (
    GATE_DELETED,
    FleetGate,
    GateDecision,
    GateTarget,
    MemberFacts,
    clusters_behind,
    decide_gate,
    parse_gate_event,
)
from patchpilot.domain.fleet_ids import FleetId, parse_fleet_id
from patchpilot.domain.plan import iso
from patchpilot.errors import InvalidInputError, PatchPilotError
from patchpilot.service.deps import FleetGateApi, Services
from patchpilot.service.errors import NoFleetClientError
from patchpilot.service.reconcile.gates import load_gates
from patchpilot.service.shadow import in_shadow
from patchpilot.service.snapshots import load_cluster

# The snapshot kind of gate records (retention.py names the same kind).
KIND: Final = "fleetgate"
# Long enough for one judgement (a few ARM reads and one PATCH under the retry deadline).
LEASE: Final = dt.timedelta(minutes=3)
# The follow-up timer's period (functions/fleet_events.py), and how often it also lists.
FOLLOW_EVERY: Final = dt.timedelta(minutes=5)
LISTING: Final = dt.timedelta(hours=1)
# The notice an approval publishes (patchpilot.adapters.publisher.EVENT_TYPES).
APPROVED_NOTICE: Final = "FleetGateApproved"
OPEN: Final = ("pending", "blocked")
GateVerdict = Literal[
    "approved",
    "blocked",
    "completed",
    "deleted",
    "ignored",
    "refused",
    "busy",
    "skipped",
    "shadow",
]
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateOutcome:
    """What became of one gate event or judgement, and why."""

    verdict: GateVerdict
    reason: str
    gate: str | None = None


def fleet_api(services: Services) -> FleetGateApi:
    """The process's Fleet Manager client (``Services.fleet_gates``; the composition root's)."""
    if services.fleet_gates is None:
        raise NoFleetClientError(
            "this process has no Fleet Manager client (Services.fleet_gates)",
            code="NoFleetClient",
            status=None,
        )
    return services.fleet_gates


def handle_gate_event(services: Services, payload: object, now: dt.datetime) -> GateOutcome:
    """One gate event: judge the gate again (approve or record the block), or close its record."""
    try:
        event = parse_gate_event(payload)
    except UnhandledEventError as exc:
        return GateOutcome("ignored", str(exc))
    except InvalidInputError as exc:
        _log.warning("refused malformed gate event: %s", exc)
        return GateOutcome("refused", str(exc))
    gate = event.gate
    if not services.policy.fleet_gates.allows(gate.fleet):
        return GateOutcome("ignored", f"fleet {gate.fleet} is not in the policy's fleet_gates")
    if event.type == GATE_DELETED:
        return _close(services, gate, "deleted", "its update run was deleted", now)
    return judge(services, fleet_api(services), gate.fleet, gate.name, now)


def follow_gates(services: Services, now: dt.datetime) -> list[GateOutcome]:
    """Judge every open gate again: those recorded blocked and every policy fleet's pending ones."""
    if not services.policy.fleet_gates.fleets:
        return []
    api = fleet_api(services)
    recorded = {record["gate"]: record for record in _records(services) if record["state"] in OPEN}
    outcomes = []
    for fleet_id in services.policy.fleet_gates.fleets:
        fleet = parse_fleet_id(fleet_id)
        names = {r["name"] for r in recorded.values() if r["fleet"] == str(fleet)}
        if listing_due(now):
            names |= _pending_names(api, fleet)
        outcomes += [judge(services, api, fleet, name, now) for name in sorted(names)]
    return outcomes


def _pending_names(api: FleetGateApi, fleet: FleetId) -> set[str]:
    """The fleet's pending gates by name; none when the fleet cannot be listed now."""
    try:
        return {gate.name for gate in api.pending_gates(fleet)}
    except PatchPilotError as exc:
        # One fleet that cannot be listed never stops the others; recorded gates still go.
        _log.warning("could not list the gates of %s: %s", fleet, exc)
        return set()


def listing_due(now: dt.datetime) -> bool:
    """Whether this firing lists the fleets' pending gates: the first firing of each hour.

    Gates recorded open are judged on every firing (a lifted block is
    approved within five minutes); the listing only catches gates whose
    event was lost, so once an hour is enough: 24 reads a day per fleet
    instead of 288. Stateless, so any instance's timer decides alike.
    """
    return now.timestamp() % LISTING.total_seconds() < FOLLOW_EVERY.total_seconds()


def judge(
    services: Services, api: FleetGateApi, fleet: FleetId, name: str, now: dt.datetime
) -> GateOutcome:
    """Read the gate and its run, decide, approve or record the block: one instance at a time."""
    gate_id = f"{fleet}/gates/{name}"
    lease = services.store.acquire_lease(f"{KIND}|{gate_id}", services.holder, now, LEASE)
    if lease is None:
        return GateOutcome("busy", "another instance is judging this gate", gate_id)
    try:
        return _judge_held(services, api, fleet, name, now)
    except PatchPilotError as exc:
        # Fail closed: what could not be judged stays blocked, the error as its reason.
        reason = f"blocked: could not judge the gate ({exc}); the next check tries again"
        _log.warning("gate %s: %s", gate_id, reason)
        _save(services, _bare(fleet, name), "blocked", reason, now)
        return GateOutcome("blocked", reason, gate_id)
    finally:
        services.store.release_lease(lease)


def _judge_held(
    services: Services, api: FleetGateApi, fleet: FleetId, name: str, now: dt.datetime
) -> GateOutcome:
    gate = api.get_gate(fleet, name)
    if gate is None:
        return _close(services, _bare(fleet, name), "deleted", "the gate is gone", now)
    if gate.gate_type != "Approval":
        return GateOutcome("ignored", f"a {gate.gate_type} gate completes by itself", gate.id)
    if gate.state != "Pending":
        verdict: GateVerdict = "completed" if gate.state == "Completed" else "skipped"
        return _close(services, gate, verdict, f"the gate is {gate.state}", now)
    run = api.get_update_run(fleet, gate.target.update_run)
    if run is None:
        return _close(services, gate, "deleted", "its update run is gone", now)
    held, _ = clusters_behind(gate, run)
    decision = decide_gate(gate, run, _facts(services, held, now), services.policy, now)
    if not decision.approve:
        _save(services, gate, "blocked", decision.reason, now)
        _log.info("gate %s %s", gate.id, decision.reason)
        return GateOutcome("blocked", decision.reason, gate.id)
    return _approve(services, api, gate, decision, now, held=tuple(held))


def _approve(
    services: Services,
    api: FleetGateApi,
    gate: FleetGate,
    decision: GateDecision,
    now: dt.datetime,
    *,
    held: tuple[str, ...],
) -> GateOutcome:
    if in_shadow(services):
        # Shadow mode makes no ARM write: the gate stays for a person, the record says so.
        reason = f"shadow mode: would have {decision.reason}"
        _save(services, gate, "shadow", reason, now)
        return GateOutcome("shadow", reason, gate.id)
    api.approve(gate)
    _save(services, gate, "approved", decision.reason, now, approved_at=now)
    _log.info("approved gate %s: %s", gate.id, decision.reason)
    services.publisher.publish(Notice(APPROVED_NOTICE, gate.id, _notice(gate, decision, held), now))
    return GateOutcome("approved", decision.reason, gate.id)


def _notice(gate: FleetGate, decision: GateDecision, held: tuple[str, ...]) -> dict[str, Any]:
    """The ``FleetGateApproved`` notice's data: which gate, where in its run, and why."""
    target = gate.target
    return {
        "gate": gate.id,
        "fleet": str(gate.fleet),
        "update_run": target.update_run,
        "stage": target.stage,
        "group": target.group,
        "timing": target.timing,
        "clusters": list(held),
        "reason": decision.reason,
    }


def _facts(services: Services, held: Iterable[str], now: dt.datetime) -> list[MemberFacts]:
    """What the store knows of each cluster behind the gate: its picture and its own past."""
    facts = []
    for cluster in held:
        state = load_cluster(services.store, cluster)
        if state is None:
            facts.append(MemberFacts(cluster, None))
            continue
        own = load_own_history(services.store, cluster, now)
        gates, hold = load_gates(services.store, services.policy, [state])
        facts.append(MemberFacts(cluster, state, replace(own, gates=gates, gates_hold=hold)))
    return facts


# Records ---------------------------------------------------------------------------------


def _bare(fleet: FleetId, name: str) -> FleetGate:
    """A gate known by its ID only (it could not be read)."""
    return FleetGate(fleet, name, "Approval", "Pending", GateTarget("", "Before"))


def _close(
    services: Services, gate: FleetGate, verdict: GateVerdict, why: str, now: dt.datetime
) -> GateOutcome:
    previous = _record(services, gate.id)
    # An approval Patch Pilot made stays its record when Fleet reports the gate Completed.
    state = "approved" if previous and previous["state"] == "approved" else verdict
    reason = previous["reason"] if state == "approved" and previous else why
    _save(services, gate, state, reason, now)
    return GateOutcome(verdict, why, gate.id)


def _save(
    services: Services,
    gate: FleetGate,
    state: str,
    reason: str,
    now: dt.datetime,
    *,
    approved_at: dt.datetime | None = None,
) -> None:
    previous = _record(services, gate.id) or {}
    target = gate.target
    record = {
        "gate": gate.id,
        "fleet": str(gate.fleet),
        "name": gate.name,
        "display_name": gate.display_name or previous.get("display_name", ""),
        "update_run": target.update_run or previous.get("update_run", ""),
        "stage": target.stage or previous.get("stage"),
        "group": target.group or previous.get("group"),
        "timing": target.timing if target.update_run else previous.get("timing"),
        "state": state,
        "reason": reason,
        "since": previous.get("since", iso(now)) if previous.get("state") == state else iso(now),
        "first_seen": previous.get("first_seen", iso(now)),
        "checked_at": iso(now),
        "approved_at": iso(approved_at) if approved_at else previous.get("approved_at"),
    }
    services.store.put_snapshot(KIND, gate.id, json.dumps(record), now)


def _record(services: Services, gate_id: str) -> dict[str, Any] | None:
    body = services.store.get_snapshot(KIND, gate_id)
    return None if body is None else dict(json.loads(body))


def _records(services: Services) -> list[dict[str, Any]]:
    return [dict(json.loads(body)) for _, body in services.store.list_snapshots(KIND)]


# What the status page shows of each gate record (docs/api.md, the FleetGate schema).
STATUS_FIELDS: Final = (
    "gate",
    "fleet",
    "name",
    "display_name",
    "update_run",
    "stage",
    "group",
    "timing",
    "state",
    "reason",
    "since",
    "first_seen",
    "checked_at",
    "approved_at",
)


def gate_status(services: Services) -> list[dict[str, Any]]:
    """Every gate record for the status page: open ones first, each group by when checked."""
    records = sorted(_records(services), key=lambda r: (r["state"] not in OPEN, r["checked_at"]))
    return [{name: record.get(name) for name in STATUS_FIELDS} for record in records]
