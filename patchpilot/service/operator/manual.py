"""Manual upgrades (`POST /api/upgrades`): safe by default, through the same ledger.

A person asks for one upgrade: a cluster's control plane, one pool's
Kubernetes version, or one pool's node image, to a version they name or to
what the plan would choose. The request is planned with every rule of the
planner (windows, freezes, pauses, alerts, failures, operations in flight,
version rules, rings and their soak) except the policy's channel, which the
person overrides by naming a version:

- due now: the upgrade is claimed in the ledger (with who asked and why) and
  started, as the reconcile worker would start it: the answer says `started`;
- due later: the request is kept (:data:`REQUESTS`) so the planner, the
  sweep and the reconcile worker start it in its window: `scheduled`, with the
  planned time;
- blocked: refused with the rule that blocks it (409).

`force: true` (with a `reason`) lifts the window and freeze rules only, and
only now: a forced request that still has to wait (a soak, Patch Tuesday) is
refused. Version rules are never lifted. A retry is not a second upgrade: the
ledger holds one record per (cluster, pool, kind, target), and an
`Idempotency-Key` gets the first answer back.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, replace
from typing import Any, Final

from patchpilot.adapters.arm.catalog_cache import SweepCache
from patchpilot.adapters.arm.observe import ClusterObservation
from patchpilot.adapters.publisher import Notice
from patchpilot.adapters.store import Lease, Operation, OperationKey
from patchpilot.adapters.store.history import requests_kind
from patchpilot.domain.blocks import running_on
from patchpilot.domain.fleet import ClusterState, FleetState, PoolState
from patchpilot.domain.history import History, Kind, Requested
from patchpilot.domain.maintenance_config import parse_maintenance_window
from patchpilot.domain.messages import ReconcileRequest
from patchpilot.domain.plan import Action, iso
from patchpilot.domain.planner import plan
from patchpilot.domain.policy import Policy
from patchpilot.domain.versions import KubernetesVersion
from patchpilot.service.deps import Services
from patchpilot.service.operator import idempotency
from patchpilot.service.operator.clusters import known_cluster
from patchpilot.service.operator.errors import BlockedError, BusyError, NotFoundError
from patchpilot.service.operator.requester import Operator, operator_span
from patchpilot.service.operator.status import operation_json
from patchpilot.service.operator.upgrade_requests import Outcome, UpgradeAnswer, UpgradeRequest
from patchpilot.service.reconcile.gates import planning_history, with_gate_regions
from patchpilot.service.reconcile.settle import os_of
from patchpilot.service.reconcile.starts import StartAsk, start_once, started_data
from patchpilot.service.snapshots import fleet_of, load_cluster, merge_catalog, save_clusters
from patchpilot.telemetry import current_traceparent

_log = logging.getLogger(__name__)
ROUTE: Final = "upgrades"
# `force` plans under a window open around the clock, with no freezes.
ALWAYS_OPEN: Final = parse_maintenance_window(
    {"schedule": {"daily": {"intervalDays": 1}}, "durationHours": 24, "startTime": "00:00"}
)
REQUEST_GRACE: Final = dt.timedelta(days=7)


def request_upgrade(
    services: Services,
    request: UpgradeRequest,
    operator: Operator,
    now: dt.datetime,
    *,
    idempotency_key: str | None = None,
) -> UpgradeAnswer:
    """Start, schedule or refuse one upgrade; a retried key gets the first answer."""
    digest = idempotency.fingerprint(request.to_json())
    if idempotency_key is not None:
        kept = idempotency.recall(
            services.store, ROUTE, idempotency_key, digest, now, caller=operator.name
        )
        if kept is not None:
            return UpgradeAnswer.from_json(kept)
    details = {k: v for k, v in request.to_json().items() if k != "cluster"}
    with operator_span(
        services, "upgrade", operator, cluster=str(request.cluster), **details
    ) as span:
        answer = _upgrade(_Ask(services, request, operator, now))
        span.set_attribute("patchpilot.outcome", answer.outcome)
    where = request.pool or "control plane"
    _log.warning(
        "%s asked for %s of %s/%s: %s",
        operator,
        request.kind,
        request.cluster.name,
        where,
        answer.outcome,
    )
    if idempotency_key is not None:
        idempotency.remember(
            services.store,
            ROUTE,
            idempotency_key,
            digest,
            answer=answer.to_json(),
            now=now,
            caller=operator.name,
        )
    return answer


@dataclass(frozen=True)
class _Ask:
    """One request on its way through the use case: who asked for what, and when."""

    services: Services
    request: UpgradeRequest
    operator: Operator
    now: dt.datetime
    lease: Lease | None = None  # the cluster's, once taken


def _upgrade(ask: _Ask) -> UpgradeAnswer:
    """Hold the cluster's lease while observing, planning and (maybe) starting, like a reconcile."""
    services = ask.services
    cluster = services.gateway.admit(ask.request.cluster)
    stored = load_cluster(services.store, cluster.key)
    known_cluster(fleet_of([stored] if stored else [], {}), cluster, services.policy.scopes)
    store, tuning = services.store, services.tuning
    lease = store.acquire_lease(cluster.key, services.holder, ask.now, tuning.lease)
    if lease is None:
        raise BusyError(
            f"another worker is acting on {cluster.name}; try again shortly",
            retry_after=tuning.lease_retry.total_seconds(),
        )
    try:
        return _upgrade_held(replace(ask, lease=lease))
    finally:
        store.release_lease(lease)


def _upgrade_held(ask: _Ask) -> UpgradeAnswer:
    services, request, now = ask.services, ask.request, ask.now
    cache = SweepCache()
    observation = services.gateway.observe(request.cluster, cache)
    state = observation.state
    save_clusters(services.store, [state], now, policy=services.policy)
    regions = merge_catalog(services.store, cache.catalog(), now)
    fleet = fleet_of([state], regions)
    _pool(state, request.pool)
    region = fleet.region(state.location)
    history = planning_history(services.store, services.policy, state, region, now)
    fleet = fleet_of([state], with_gate_regions(services.store, history.gates, regions))
    target = _target(ask, fleet, history, state)
    key = OperationKey(state.key, request.pool, request.kind, target)
    existing = services.store.get(key)
    if existing is not None and existing.state in ("in_progress", "started", "succeeded"):
        return _already(ask, state, existing)
    _refuse_backwards(state, request, target)
    wanted = Requested(
        state.key, request.pool, request.kind, target, ask.operator.actor, _why(request), now
    )
    others = tuple(r for r in history.requests if r.subject != wanted.subject)
    history = replace(history, requests=(*others, wanted))
    policy = services.policy
    if request.force:
        policy, fleet = _lifted(policy, fleet, state)
    action = _find(plan(fleet, policy, history, now), state, request.pool, request.kind)
    if action is None or action.target != target:
        raise BlockedError(f"nothing to upgrade: {_subject(request)} is on {target}")
    if action.status == "due":
        return _start(ask, observation, action)
    if action.status == "scheduled" and not request.force:
        return _schedule(ask, state, action, wanted)
    if action.status == "scheduled":
        raise BlockedError(
            "force lifts only maintenance windows and freezes, and this upgrade must still "
            f"wait: {action.reason}"
        )
    if _busy(state, history):
        raise BusyError(action.reason, retry_after=services.tuning.follow_up.total_seconds())
    raise BlockedError(action.reason)


# Deciding the target ---------------------------------------------------------------------


def _target(ask: _Ask, fleet: FleetState, history: History, state: ClusterState) -> str:
    """The version asked for, or the one the plan would choose for this subject."""
    request, policy = ask.request, ask.services.policy
    if request.kind == "node_image":
        return _image_target(ask, fleet, history, state)
    if request.version is not None:
        return str(KubernetesVersion.parse(request.version, path="version"))
    action = _find(plan(fleet, policy, history, ask.now), state, request.pool, "kubernetes")
    if action is not None and action.target is None:
        raise BlockedError(action.reason)
    if action is None or action.target is None:
        raise BlockedError(
            f"no version given, and the policy's channel {policy.kubernetes.channel} plans "
            f"no upgrade of {_subject(request)}: name the version to upgrade to",
            code="NothingToUpgrade",
        )
    return action.target


def _image_target(ask: _Ask, fleet: FleetState, history: History, state: ClusterState) -> str:
    """The image the plan gives this pool (AKS only upgrades node images to the latest)."""
    request, now = ask.request, ask.now
    pool = _pool(state, request.pool)
    assert pool is not None
    offered = fleet.region(state.location).images_at(pool.node_image.family, now)
    if not offered or not offered[-1].newer_than(pool.node_image):
        raise BlockedError(
            f"pool {pool.name} already runs the newest {pool.node_image.family} image AKS "
            f"offers in {state.location} ({pool.node_image.version})",
            code="NothingToUpgrade",
        )
    # Ask the planner as if requested, so a pool whose OS the policy leaves alone is planned.
    probe = Requested(state.key, pool.name, "node_image", str(offered[-1]), "", "", now)
    probed = plan(fleet, ask.services.policy, replace(history, requests=(probe,)), now)
    action = _find(probed, state, pool.name, "node_image")
    target = action.target if action is not None and action.target else str(offered[-1])
    if request.version is not None and request.version not in (target, target.rsplit("-", 1)[-1]):
        raise BlockedError(
            f"AKS upgrades a node image only to the image the rings allow, {target}, "
            f"not {request.version}",
            code="VersionRule",
        )
    return target


def _refuse_backwards(state: ClusterState, request: UpgradeRequest, target: str) -> None:
    """Never a downgrade, and nothing to do at the target (version rules are never lifted)."""
    if request.kind != "kubernetes":
        return
    pool = _pool(state, request.pool)
    current = pool.version if pool is not None else state.kubernetes_version
    wanted = KubernetesVersion.parse(target)
    if wanted == current:
        raise BlockedError(f"{_subject(request)} is already on {current}", code="NothingToUpgrade")
    if wanted < current:
        raise BlockedError(
            f"{_subject(request)} is on {current}: {wanted} would be a downgrade, which AKS "
            "never does",
            code="VersionRule",
        )


def _lifted(policy: Policy, fleet: FleetState, state: ClusterState) -> tuple[Policy, FleetState]:
    """The policy and fleet with this cluster's windows open around the clock, no freezes."""
    clusters = tuple(
        replace(c, maintenance={}) if c.key == state.key else c for c in fleet.clusters
    )
    return (
        replace(policy, default_window=ALWAYS_OPEN, freezes=()),
        replace(fleet, clusters=clusters),
    )


# Acting -----------------------------------------------------------------------------------


def _start(ask: _Ask, observation: ClusterObservation, action: Action) -> UpgradeAnswer:
    """Start through the one ledger path the reconcile worker uses (:func:`start_once`)."""
    services, request, now = ask.services, ask.request, ask.now
    state = observation.state
    assert ask.lease is not None  # taken by _upgrade
    start = StartAsk(
        observation, action, ask.lease, ask.operator.actor, _why(request), forced=request.force
    )
    result = start_once(services, start, now)
    if result.verdict in ("held", "found"):
        assert result.operation is not None
        return _already(ask, state, result.operation)
    if result.verdict == "failed":
        raise BlockedError(result.why, code="AksRefused")
    if result.verdict == "shadowed":
        # PATCHPILOT_MODE=shadow: recorded as what would have started; nothing reached ARM.
        answer = _answer(ask, "shadowed", state, action, None)
        return replace(answer, reason=f"{result.why}; {answer.reason}")
    if result.verdict == "unconfirmed":
        # The reconcile worker settles it from AKS's own state; a retry reports that record.
        _follow(ask, state)
    if not result.started:
        delay = result.retry_after or services.tuning.follow_up
        raise BusyError(result.why, retry_after=delay.total_seconds())
    assert result.operation is not None
    services.telemetry.instruments.upgrade_started(request.kind, os_of(state, request.pool))
    notice = Notice("UpgradeStarted", str(state.id), _notice(ask, action), now)
    services.publisher.publish(notice)
    _follow(ask, state)
    return _answer(ask, "started", state, action, result.operation)


def _follow(ask: _Ask, state: ClusterState) -> None:
    """The reconcile worker follows the operation and settles it, as for its own."""
    follow = ReconcileRequest(state.id, "manual upgrade", ask.now, current_traceparent())
    ask.services.queue.send(follow.encode(), now=ask.now, delay=ask.services.tuning.follow_up)


def _schedule(ask: _Ask, state: ClusterState, action: Action, wanted: Requested) -> UpgradeAnswer:
    """Keep the request for the planner, and wake the reconcile worker when its window opens."""
    services, now = ask.services, ask.now
    assert action.not_before is not None
    # A request that still cannot run a week after its window is dropped, not kept forever.
    wanted = replace(wanted, until=action.not_before + REQUEST_GRACE)
    kind = requests_kind(state.key)
    services.store.put_snapshot(kind, wanted.subject, json.dumps(wanted.to_json()), now)
    delay = action.not_before - now
    if delay <= services.tuning.max_delay:
        wake = ReconcileRequest(state.id, "manual upgrade window", now, current_traceparent())
        services.queue.send(wake.encode(), now=now, delay=delay)
    return _answer(ask, "scheduled", state, action, None)


# Answers ----------------------------------------------------------------------------------


def _answer(
    ask: _Ask, outcome: Outcome, state: ClusterState, action: Action, operation: Operation | None
) -> UpgradeAnswer:
    request = ask.request
    assert action.target is not None
    reason = action.reason
    if request.force:
        reason = f"forced ({_why(request)}): maintenance windows and freezes lifted"
    return UpgradeAnswer(
        outcome=outcome,
        cluster=str(state.id),
        pool=request.pool,
        kind=request.kind,
        current=action.current,
        target=action.target,
        planned_at=action.not_before,
        window_end=None if request.force else action.window_end,
        forced=request.force,
        requested_by=ask.operator.actor,
        reason=reason,
        operation=operation_json(operation) if operation else None,
    )


def _already(ask: _Ask, state: ClusterState, existing: Operation) -> UpgradeAnswer:
    """The ledger already holds this upgrade: report it, start nothing."""
    request = ask.request
    done = existing.state == "succeeded"
    who = existing.actor or "Patch Pilot"
    return UpgradeAnswer(
        outcome="already_done" if done else "already_started",
        cluster=str(state.id),
        pool=request.pool,
        kind=request.kind,
        current=_current(state, request),
        target=existing.key.target,
        planned_at=existing.started_at or existing.claimed_at,
        window_end=None,
        forced=request.force,
        requested_by=ask.operator.actor,
        reason=f"the ledger already holds this upgrade ({existing.state}, asked by {who} "
        f"at {iso(existing.claimed_at)}): nothing new was started",
        operation=operation_json(existing),
    )


def _notice(ask: _Ask, action: Action) -> dict[str, Any]:
    return {**started_data(action), "requested_by": ask.operator.actor, "forced": ask.request.force}


# Small readers ----------------------------------------------------------------------------


def _find(result: Any, state: ClusterState, pool: str | None, kind: Kind) -> Action | None:
    return next(
        (
            a
            for a in result.actions
            if a.cluster.key == state.key and a.pool == pool and a.kind == kind
        ),
        None,
    )


def _pool(state: ClusterState, name: str | None) -> PoolState | None:
    if name is None:
        return None
    found = state.pool(name)
    if found is None:
        pools = ", ".join(p.name for p in state.pools)
        raise NotFoundError(
            f"cluster {state.id.name} has no pool {name!r} (its pools: {pools})",
            code="PoolNotFound",
        )
    return found


def _current(state: ClusterState, request: UpgradeRequest) -> str:
    pool = _pool(state, request.pool)
    if pool is None:
        return str(state.kubernetes_version)
    return str(pool.version if request.kind == "kubernetes" else pool.node_image)


def _busy(state: ClusterState, history: History) -> bool:
    busy = running_on(state, history.in_flight) is not None
    return busy or state.provisioning_state != "Succeeded"


def _why(request: UpgradeRequest) -> str:
    return request.reason or "manual upgrade"


def _subject(request: UpgradeRequest) -> str:
    where = f"pool {request.pool}" if request.pool else "the control plane"
    return f"{where} of {request.cluster.name}" + (
        " (node image)" if request.kind == "node_image" else ""
    )
