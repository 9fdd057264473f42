"""Reconcile one cluster: take its lease, observe, settle, plan, start at most one action.

Level-triggered: whatever caused the message, the worker re-reads the
cluster, settles operations already in the ledger from AKS's own state, plans
against the last picture of the rest of the fleet, and starts the first due
action (one operation at a time per cluster, invariant 2). Exactly-once
effect (invariant 3) comes from the ledger: an action is claimed before ARM
is called, and a claim taken over from a dead worker is checked against the
fresh observation first. A busy cluster or a held lease puts the message
back with a delay instead of failing it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from patchpilot.adapters.arm.actions import Busy, OperationStatus, started_from_json
from patchpilot.adapters.arm.failures import classify
from patchpilot.adapters.arm.observe import ClusterObservation
from patchpilot.adapters.publisher import Notice
from patchpilot.adapters.store import (
    Claim,
    ClaimLostError,
    Operation,
    OperationError,
    OperationKey,
    OperationState,
    load_history,
)
from patchpilot.domain.fleet import ClusterState
from patchpilot.domain.history import History, InFlight, Requested
from patchpilot.domain.messages import ReconcileRequest
from patchpilot.domain.node_images import parse_node_image
from patchpilot.domain.plan import Action, Plan, iso
from patchpilot.domain.planner import plan
from patchpilot.domain.resource_ids import ClusterId
from patchpilot.errors import PatchPilotError
from patchpilot.service.deps import Services
from patchpilot.service.outcomes import ReconcileOutcome
from patchpilot.service.snapshots import (
    load_fleet_snapshot,
    load_ring_gates,
    merge_catalog,
    save_clusters,
)
from patchpilot.service.starts import start_upgrade

_log = logging.getLogger(__name__)
_ACTIVE: frozenset[OperationState] = frozenset({"in_progress", "started"})
_Ending = tuple[Literal["succeeded", "failed"], OperationError | None]


def reconcile(services: Services, request: ReconcileRequest, now: dt.datetime) -> ReconcileOutcome:
    """Do what is due for one cluster now; requeue the request when it must wait."""
    cluster = services.gateway.admit(request.cluster)
    lease = services.store.acquire_lease(cluster.key, services.holder, now, services.tuning.lease)
    if lease is None:
        return _requeue(services, request, now, services.tuning.lease_retry, "lease held elsewhere")
    try:
        with services.telemetry.reconcile(str(cluster), traceparent=request.traceparent) as span:
            outcome = _reconcile_held(services, request, cluster, now)
            span.set_attribute("patchpilot.started", len(outcome.started))
            return outcome
    finally:
        services.store.release_lease(lease)


def _reconcile_held(
    services: Services, request: ReconcileRequest, cluster: ClusterId, now: dt.datetime
) -> ReconcileOutcome:
    active = services.store.list_operations(cluster=cluster.key, states=_ACTIVE)
    known = _poll_running(services, active, now)
    if known is None:
        why = f"an operation is running on {cluster.name}"
        return _requeue(services, request, now, services.tuning.follow_up, why)
    early = _settle_polled(services, cluster, active, known, now)
    if early is not None:
        state, settled = early
        mine, history = _plan_cluster(services, state, merge_catalog(services.store, {}, now), now)
        if not any(a.status == "due" for a in mine) and not _busy(state, history.in_flight):
            return _wait_for_next(services, request, mine, now=now, settled=settled)
    cache = services.catalogs.cache(now)
    observation = services.gateway.observe(request.cluster, cache)
    state = observation.state
    regions = merge_catalog(services.store, cache.catalog(), now)
    settled = (early[1] if early else ()) + _settle(services, observation, now, regions, known)
    save_clusters(services.store, [state], now)
    mine, history = _plan_cluster(services, state, regions, now)
    due = [action for action in mine if action.status == "due"]
    if due:
        asked = _asked_by(history, state, due[0])
        return _start_first(
            services, request, observation, due[0], now=now, settled=settled, asked=asked
        )
    if _busy(state, history.in_flight):
        why = f"an operation is running on {state.id.name}"
        return _requeue(services, request, now, services.tuning.follow_up, why, settled=settled)
    return _wait_for_next(services, request, mine, now=now, settled=settled)


def _plan_cluster(
    services: Services, state: ClusterState, regions: Mapping[str, Any], now: dt.datetime
) -> tuple[tuple[Action, ...], History]:
    """This cluster's actions, gated by the stored clusters of the rings before its own."""
    fleet = load_ring_gates(services.store, state, regions, services.policy)
    history = load_history(services.store, now)
    with services.telemetry.plan(cluster=str(state.id)) as span:
        result = plan(fleet, services.policy, history, now, only=state.key)
        mine = result.actions
        services.telemetry.record_plan(span, Plan(result.at, mine))
    return mine, history


def _settle_polled(
    services: Services,
    cluster: ClusterId,
    active: Sequence[Operation],
    known: Mapping[OperationKey, OperationStatus],
    now: dt.datetime,
) -> tuple[ClusterState, tuple[str, ...]] | None:
    """Every operation ended well, as polled: settle them without reading the cluster.

    The cluster is read before a start (fresh windows and versions guard
    invariant 1), not to learn that nothing follows: the stored picture with
    the finished upgrades applied says that, and comes back with what was
    settled. None (settle after reading the cluster) when nothing was polled,
    an operation failed (its cause is read from the pool) or the cluster has
    no stored picture.
    """
    if not active or len(known) < len(active):
        return None
    if any(status.status != "Succeeded" for status in known.values()):
        return None
    mine = load_fleet_snapshot(services.store, keep=lambda doc: _is(doc, cluster)).clusters
    if not mine:
        return None
    state = mine[0]
    for op in active:
        state = state.reached(op.key.pool or None, op.key.kind, op.key.target)
    regions = merge_catalog(services.store, {}, now)
    settled = tuple(_close(services, state, op, ("succeeded", None), now, regions) for op in active)
    save_clusters(services.store, [state], now)
    return state, settled


def _is(document: Mapping[str, Any], cluster: ClusterId) -> bool:
    """Whether a stored cluster document is `cluster` (IDs compare case-insensitively)."""
    return str(document.get("id", "")).lower() == cluster.key


# Provisioning states in which nothing runs: following them would only spin.
_SETTLED_STATES = frozenset({"Succeeded", "Failed", "Canceled"})


def _busy(state: ClusterState, in_flight: tuple[InFlight, ...]) -> bool:
    """AKS or the ledger says something runs here: follow it until it ends.

    A Failed or Canceled cluster runs nothing: it waits for an operator (the
    plan says so) and the next sweep, instead of coming back every few minutes.
    """
    running = state.provisioning_state not in _SETTLED_STATES
    return running or any(op.cluster == state.key for op in in_flight)


# Following what runs -------------------------------------------------------------------


def _poll_running(
    services: Services, active: Sequence[Operation], now: dt.datetime
) -> dict[OperationKey, OperationStatus] | None:
    """Poll the cluster's started operations; None while one of them still runs.

    While an upgrade runs nothing else may start on the cluster (invariant 2),
    so a follow-up costs one request (the operation's status) instead of a
    full observation. Only when every operation has ended, or one cannot be
    polled (a claim without an operation URL: the observation decides) or
    has run longer than `Tuning.poll_only`, does the reconcile read the
    cluster. Statuses already read are passed on, so settling does not ask twice.
    """
    known: dict[OperationKey, OperationStatus] = {}
    for op in active:
        status = _status(services, op) if op.state == "started" else None
        if status is None:
            return known  # something only the observation can settle
        known[op.key] = status
        if not status.done and now - (op.started_at or op.claimed_at) < services.tuning.poll_only:
            return None
    return known


# Settling what the ledger says is running -------------------------------------------------


def _settle(
    services: Services,
    observation: ClusterObservation,
    now: dt.datetime,
    regions: Mapping[str, Any],
    known: Mapping[OperationKey, OperationStatus],
) -> tuple[str, ...]:
    """Close ledger records whose outcome AKS already shows (lost events cost nothing)."""
    state = observation.state
    settled = []
    for op in services.store.list_operations(cluster=state.key, states=_ACTIVE):
        outcome = _observed_outcome(services, observation, op, known.get(op.key))
        if outcome is None:
            if _adopt_orphan(services, observation, op, now):
                settled.append(f"{op.key.pool or 'control plane'} {op.key.kind} found running")
            continue
        if op.state == "in_progress":  # its worker died before it could tell
            _announce_found(services, state, op.key, now)
        settled.append(_close(services, state, op, outcome, now, regions))
    return tuple(settled)


def _close(  # noqa: PLR0917  # one ledger record's ending and where it is told
    services: Services,
    state: ClusterState,
    op: Operation,
    outcome: _Ending,
    now: dt.datetime,
    regions: Mapping[str, Any],
) -> str:
    """Record how an operation ended, count the exposure it closed, and say so."""
    _finish(services, state, op, outcome, now)
    available = _released(regions, state.location, op.key.kind, op.key.target)
    if outcome[0] == "succeeded" and available is not None:
        services.telemetry.instruments.patched(_os_of(state, op.key.pool), available, now)
    return f"{op.key.pool or 'control plane'} {op.key.kind} -> {outcome[0]}"


def _adopt_orphan(
    services: Services, observation: ClusterObservation, op: Operation, now: dt.datetime
) -> bool:
    """A claim whose worker died after ARM accepted: AKS shows it running, so record it started.

    We hold the cluster's lease, so no live worker is between claim and start here.
    """
    if op.state != "in_progress" or _idle(observation, op.key.pool):
        return False
    try:
        services.store.mark_started(op.key, None, now, op.etag)
    except ClaimLostError:
        return False
    _announce_found(services, observation.state, op.key, now)
    return True


def _observed_outcome(
    services: Services,
    observation: ClusterObservation,
    op: Operation,
    polled: OperationStatus | None,
) -> _Ending | None:
    """("succeeded"|"failed", error) once AKS shows the end of the operation; None while it runs."""
    if _at_target(observation.state, op.key) and _idle(observation, op.key.pool):
        return "succeeded", None
    if op.state != "started":
        return None
    status = polled or _status(services, op)
    if status is None and not op.operation_id:
        return _unpolled_outcome(observation, op)
    if status is not None and status.done:
        if status.status == "Succeeded":
            return "succeeded", None
        cause = status.cause or services.gateway.explain_failure(
            observation.state.id, op.key.pool or "", operation=None
        )
        code = cause.code if cause else status.status
        message = cause.reason if cause else "AKS reported the operation ended without success"
        return "failed", OperationError(code, message)
    return None


def _unpolled_outcome(observation: ClusterObservation, op: Operation) -> _Ending | None:
    """A started record with no operation to poll: AKS's own state says how it ended.

    Such a record was taken over from a worker that died after ARM accepted,
    once AKS showed the upgrade running. Not at the target (checked before)
    and idle again, or Failed or Canceled: it ended without success, and the
    pool's or cluster's recorded error says why. Otherwise it still runs.
    """
    details = next((p for p in observation.pools if p.name == op.key.pool), None)
    where = f"pool {op.key.pool}" if details else "the cluster"
    state = details.provisioning_state if details else observation.state.provisioning_state
    if state not in ("Failed", "Canceled") and not _idle(observation, op.key.pool):
        return None
    error = (details.error if details else None) or observation.error
    if error:
        cause = classify(error)
        return "failed", OperationError(cause.code, cause.reason)
    message = f"AKS shows {where} {state} short of {op.key.target}, with no error recorded"
    return "failed", OperationError(state, message)


def _status(services: Services, op: Operation) -> OperationStatus | None:
    if not op.operation_id:
        return None
    try:
        started = started_from_json(json.loads(op.operation_id))
        return services.gateway.operation_status(started)
    except (ValueError, PatchPilotError) as exc:
        # Policy: an unreadable status leaves the operation open; the observation decides later.
        _log.warning("cannot read the status of %s: %s", op.key, exc)
        return None


def _at_target(state: ClusterState, key: OperationKey) -> bool:
    if key.pool is None or key.pool == "":
        return str(state.kubernetes_version) == key.target
    pool = next((p for p in state.pools if p.name == key.pool), None)
    if pool is None:
        return False
    if key.kind == "kubernetes":
        return str(pool.version) == key.target
    return not parse_node_image(key.target).newer_than(pool.node_image)


def _idle(observation: ClusterObservation, pool: str | None) -> bool:
    if observation.state.provisioning_state != "Succeeded":
        return False
    details = next((p for p in observation.pools if p.name == pool), None)
    return details is None or details.provisioning_state == "Succeeded"


def _released(
    regions: Mapping[str, Any], location: str, kind: str, target: str
) -> dt.datetime | None:
    """When AKS first offered the target in this region (the catalog's release day)."""
    region = regions.get(location.replace(" ", "").lower(), {})
    version = target
    entries = region.get("kubernetes", [])
    if kind == "node_image":
        image = parse_node_image(target)
        version, entries = image.version, region.get("node_images", {}).get(image.family, [])
    for entry in entries:
        if entry.get("version") == version and entry.get("released"):
            return dt.datetime.combine(dt.date.fromisoformat(entry["released"]), dt.time(), dt.UTC)
    return None


def _finish(
    services: Services,
    state: ClusterState,
    op: Operation,
    outcome: _Ending,
    now: dt.datetime,
) -> None:
    result, error = outcome
    key = op.key
    os = _os_of(state, key.pool)
    with services.telemetry.store_write("mark_finished", cluster=state.key):
        services.store.mark_finished(key, result, now, error)
    services.telemetry.instruments.upgrade_finished(key.kind, os, result)
    if result == "succeeded":
        services.store.record_reached(key.cluster, key.pool or None, key.kind, key.target, now)
    else:
        what = f"{key.kind} upgrade of {key.pool or 'the control plane'} to {key.target}"
        reason = f"{what} failed: {error}"
        services.store.add_pause("cluster", reason, "patchpilot", now, target=state.key)
        _log.warning("paused %s: %s", state.id, reason)
    services.publisher.publish(
        Notice(
            "UpgradeSucceeded" if result == "succeeded" else "UpgradeFailed",
            str(state.id),
            {
                "cluster": str(state.id),
                "pool": key.pool or None,
                "kind": key.kind,
                "target": key.target,
                "error": str(error) if error else None,
            },
            now,
        )
    )


# Starting the first due action ---------------------------------------------------------


def _start_first(
    services: Services,
    request: ReconcileRequest,
    observation: ClusterObservation,
    action: Action,
    *,
    now: dt.datetime,
    settled: tuple[str, ...],
    asked: Requested | None = None,
) -> ReconcileOutcome:
    state = observation.state
    assert action.target is not None  # a due action always has a target
    key = OperationKey(state.key, action.pool, action.kind, action.target)
    with services.telemetry.store_write("claim", cluster=state.key):
        claim = services.store.claim(
            key, now, services.tuning.claim_ttl, holder=services.holder,
            actor=asked.by if asked else None, reason=asked.reason if asked else None,
        )  # fmt: skip
    label = f"{action.pool or 'control plane'} {action.kind} -> {action.target}"
    if not isinstance(claim, Claim):
        waiting = f"{label} already claimed ({claim.existing.state})"
        return _requeue(services, request, now, services.tuning.follow_up, waiting, settled=settled)
    if claim.taken_over and _takeover_already_done(services, observation, claim, now):
        return ReconcileOutcome(str(state.id), settled=(*settled, f"{label} found running"))
    result = start_upgrade(services.gateway, state.id, action.pool, action.kind, key.target)
    if isinstance(result, Busy):
        services.store.mark_finished(key, "expired", now)
        delay = dt.timedelta(seconds=result.retry_after)
        return _requeue(services, request, now, delay, f"busy: {result.message}", settled=settled)
    with services.telemetry.store_write("mark_started", cluster=state.key):
        services.store.mark_started(key, json.dumps(result.to_json()), now, claim.etag)
    _announce_start(services, state, action, now)
    _requeue(services, request, now, services.tuning.follow_up, "follow the operation")
    return ReconcileOutcome(
        str(state.id),
        started=(label,),
        settled=settled,
        requeued_after_seconds=services.tuning.follow_up.total_seconds(),
    )


def _asked_by(history: History, state: ClusterState, action: Action) -> Requested | None:
    """The operator's saved request this action carries out, if any (the ledger names them)."""
    return next(
        (
            r
            for r in history.requests
            if r.cluster.lower() == state.key
            and r.pool == action.pool
            and r.kind == action.kind
            and r.target == action.target
        ),
        None,
    )


def _takeover_already_done(
    services: Services, observation: ClusterObservation, claim: Claim, now: dt.datetime
) -> bool:
    """A dead worker's claim: if AKS shows the operation, record it instead of calling again."""
    key = claim.operation.key
    if _at_target(observation.state, key):
        _announce_found(services, observation.state, key, now)
        services.store.mark_finished(key, "succeeded", now)
        return True
    if not _idle(observation, key.pool):
        services.store.mark_started(key, None, now, claim.etag)
        _announce_found(services, observation.state, key, now)
        return True
    return False


def _announce_found(
    services: Services, state: ClusterState, key: OperationKey, now: dt.datetime
) -> None:
    """Tell of an upgrade whose worker died after ARM accepted it, before it could."""
    os = _os_of(state, key.pool)
    services.telemetry.instruments.upgrade_started(key.kind, os)
    pool = next((p for p in state.pools if p.name == key.pool), None)
    current = state.kubernetes_version if pool is None else pool.version
    was = pool.node_image if pool is not None and key.kind == "node_image" else current
    data = {
        "cluster": str(state.id),
        "pool": key.pool or None,
        "kind": key.kind,
        "from": str(was),
        "to": key.target,
        "window_end": None,
        "reason": "found running: the worker that started it stopped before recording it",
    }
    services.publisher.publish(Notice("UpgradeStarted", str(state.id), data, now))


def _announce_start(
    services: Services, state: ClusterState, action: Action, now: dt.datetime
) -> None:
    services.telemetry.instruments.upgrade_started(action.kind, _os_of(state, action.pool))
    _log.info(
        "started %s upgrade of %s/%s to %s: %s",
        action.kind,
        state.id.name,
        action.pool or "control plane",
        action.target,
        action.reason,
    )
    services.publisher.publish(Notice("UpgradeStarted", str(state.id), _action_data(action), now))


# Waiting --------------------------------------------------------------------------------


def _wait_for_next(
    services: Services,
    request: ReconcileRequest,
    actions: tuple[Action, ...],
    *,
    now: dt.datetime,
    settled: tuple[str, ...],
) -> ReconcileOutcome:
    """Nothing due: look again when the next scheduled action's window opens (if soon)."""
    cluster = request.cluster
    upcoming = sorted(a.not_before for a in actions if a.status == "scheduled" and a.not_before)
    if upcoming and upcoming[0] - now <= services.tuning.max_delay:
        why = f"next window {iso(upcoming[0])}"
        return _requeue(services, request, now, upcoming[0] - now, why, settled=settled)
    reason = actions[0].reason if actions else "nothing to do"
    return ReconcileOutcome(cluster, settled=settled, waiting=reason)


def _requeue(
    services: Services,
    request: ReconcileRequest,
    now: dt.datetime,
    delay: dt.timedelta,
    why: str,
    *,
    settled: tuple[str, ...] = (),
) -> ReconcileOutcome:
    delay = min(max(delay, dt.timedelta(seconds=1)), services.tuning.max_delay)
    services.queue.send(request.again(why).encode(), now=now, delay=delay)
    return ReconcileOutcome(
        request.cluster, settled=settled, waiting=why, requeued_after_seconds=delay.total_seconds()
    )


def _os_of(state: ClusterState, pool: str | None) -> str:
    found = next((p for p in state.pools if p.name == pool), None)
    return found.os_type if found else "control-plane"


def _action_data(action: Action) -> dict[str, object]:
    return {
        "cluster": action.cluster,
        "pool": action.pool,
        "kind": action.kind,
        "from": action.current,
        "to": action.target,
        "window_end": iso(action.window_end),
        "reason": action.reason,
    }
