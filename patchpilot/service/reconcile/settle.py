"""Settle what the ledger says is running, from AKS's own state.

A reconcile first follows what it started: while an operation runs it only
polls the operation's status (one request); once every operation ended, it
closes their ledger records, from the polled status, from the observation
(a lost event or a dead worker cost nothing), or, when nothing follows, from
the stored picture with the finished upgrades applied. A record a dead
worker left behind (claimed, maybe accepted by ARM, never recorded as
started) is adopted once AKS shows it running, and announced.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

from patchpilot.adapters.arm.actions import OperationStatus, started_from_json
from patchpilot.adapters.arm.failures import classify
from patchpilot.adapters.arm.observe import ClusterObservation
from patchpilot.adapters.publisher import Notice
from patchpilot.adapters.store import (
    Claim,
    ClaimLostError,
    Operation,
    OperationError,
    OperationKey,
)
from patchpilot.adapters.store.records import ACTIVE_STATES
from patchpilot.domain.fleet import ClusterState
from patchpilot.domain.node_images import parse_node_image
from patchpilot.domain.resource_ids import ClusterId, region_key
from patchpilot.errors import PatchPilotError
from patchpilot.service.deps import Services
from patchpilot.service.reconcile.failures import pause_for_failure
from patchpilot.service.snapshots import load_cluster, save_clusters, stored_regions

_log = logging.getLogger(__name__)
_Ending = tuple[Literal["succeeded", "failed"], OperationError | None]


class Polled(NamedTuple):
    """What settling from polled statuses left: the picture, what it said, the stored catalog."""

    state: ClusterState
    settled: tuple[str, ...]
    regions: dict[str, Any]


# Following what runs -------------------------------------------------------------------


class StillRunning(NamedTuple):
    """An operation still runs; AKS asked to poll again no sooner than this (seconds)."""

    retry_after: float | None


def poll_running(
    services: Services, active: Sequence[Operation], now: dt.datetime
) -> dict[OperationKey, OperationStatus] | StillRunning:
    """Poll the cluster's started operations; :class:`StillRunning` while one of them runs.

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
            return StillRunning(status.retry_after)
    return known


def settle_polled(
    services: Services,
    cluster: ClusterId,
    active: Sequence[Operation],
    known: Mapping[OperationKey, OperationStatus],
    now: dt.datetime,
) -> Polled | None:
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
    state = load_cluster(services.store, cluster.key)
    if state is None:
        return None
    for op in active:
        state = state.reached(op.key.pool or None, op.key.kind, op.key.target)
    regions = stored_regions(services.store, [state.location])
    settled = tuple(_close(services, state, op, ("succeeded", None), now, regions) for op in active)
    save_clusters(services.store, [state], now, policy=services.policy)
    return Polled(state, settled, regions)


# Settling what the ledger says is running -------------------------------------------------


def settle(
    services: Services,
    observation: ClusterObservation,
    now: dt.datetime,
    regions: Mapping[str, Any],
    known: Mapping[OperationKey, OperationStatus],
) -> tuple[str, ...]:
    """Close ledger records whose outcome AKS already shows (lost events cost nothing)."""
    state = observation.state
    settled = []
    for op in services.store.list_operations(cluster=state.key, states=ACTIVE_STATES):
        outcome = _observed_outcome(services, observation, op, known.get(op.key))
        if outcome is None:
            if _adopt_orphan(services, observation, op, now):
                settled.append(f"{op.key.pool or 'control plane'} {op.key.kind} found running")
            continue
        if op.state == "in_progress":  # its worker died before it could tell
            announce_found(services, state, op.key, now)
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
        services.telemetry.instruments.patched(os_of(state, op.key.pool), available, now)
    return f"{op.key.pool or 'control plane'} {op.key.kind} -> {outcome[0]}"


def _adopt_orphan(
    services: Services, observation: ClusterObservation, op: Operation, now: dt.datetime
) -> bool:
    """A claim whose worker died after ARM accepted: AKS shows it running, so record it started.

    We hold the cluster's lease, so no live worker is between claim and start here.
    """
    if op.state != "in_progress" or idle(observation, op.key.pool):
        return False
    try:
        services.store.mark_started(op.key, None, now, op.etag)
    except ClaimLostError:
        return False
    announce_found(services, observation.state, op.key, now)
    return True


def _observed_outcome(
    services: Services,
    observation: ClusterObservation,
    op: Operation,
    polled: OperationStatus | None,
) -> _Ending | None:
    """("succeeded"|"failed", error) once AKS shows the end of the operation; None while it runs."""
    if at_target(observation.state, op.key) and idle(observation, op.key.pool):
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
    details = observation.details_of(op.key.pool)
    where = f"pool {op.key.pool}" if details else "the cluster"
    state = details.provisioning_state if details else observation.state.provisioning_state
    if state not in ("Failed", "Canceled") and not idle(observation, op.key.pool):
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


def at_target(state: ClusterState, key: OperationKey) -> bool:
    """Whether the observed cluster or pool runs the record's target (or newer, for images)."""
    if key.pool is None or key.pool == "":
        return str(state.kubernetes_version) == key.target
    pool = state.pool(key.pool)
    if pool is None:
        return False
    if key.kind == "kubernetes":
        return str(pool.version) == key.target
    return not parse_node_image(key.target).newer_than(pool.node_image)


def idle(observation: ClusterObservation, pool: str | None) -> bool:
    """Whether AKS shows the cluster, and the pool if one is named, with nothing running."""
    if observation.state.provisioning_state != "Succeeded":
        return False
    details = observation.details_of(pool)
    return details is None or details.provisioning_state == "Succeeded"


def _released(
    regions: Mapping[str, Any], location: str, kind: str, target: str
) -> dt.datetime | None:
    """When AKS first offered the target in this region (the catalog's release day)."""
    region = regions.get(region_key(location), {})
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
    os = os_of(state, key.pool)
    with services.telemetry.store_write("mark_finished", cluster=state.key):
        services.store.mark_finished(key, result, now, error)
    services.telemetry.instruments.upgrade_finished(key.kind, os, result)
    if result == "succeeded":
        services.store.record_reached(key.cluster, key.pool or None, key.kind, key.target, now)
    else:
        what = f"{key.kind} upgrade of {key.pool or 'the control plane'} to {key.target}"
        pause_for_failure(services, state.id, f"{what} failed: {error}", now)
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


def found_running(
    services: Services, observation: ClusterObservation, claim: Claim, now: dt.datetime
) -> bool:
    """A dead worker's claim: if AKS shows its upgrade done or running, record (and announce) it.

    True when it did, and the caller must not call ARM again.
    """
    key = claim.operation.key
    if at_target(observation.state, key):
        announce_found(services, observation.state, key, now)
        services.store.mark_finished(key, "succeeded", now)
        return True
    if not idle(observation, key.pool):
        services.store.mark_started(key, None, now, claim.etag)
        announce_found(services, observation.state, key, now)
        return True
    return False


def announce_found(
    services: Services, state: ClusterState, key: OperationKey, now: dt.datetime
) -> None:
    """Tell of an upgrade whose worker died after ARM accepted it, before it could."""
    os = os_of(state, key.pool)
    services.telemetry.instruments.upgrade_started(key.kind, os)
    pool = state.pool(key.pool)
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


def os_of(state: ClusterState, pool: str | None) -> str:
    """The pool's OS for metrics and notices ("control-plane" without a pool)."""
    found = state.pool(pool)
    return found.os_type if found else "control-plane"
