"""Reconcile one cluster: take its lease, follow, settle, plan, start at most one action.

Level-triggered: whatever caused the message, the worker first follows what
runs on the cluster (polling the operation only, :mod:`.settle`), then reads
the cluster, settles operations already in the ledger from AKS's own state,
plans the cluster from its own history and the gate sums of the rings before
it (:mod:`.gates`: rows read do not grow with the fleet), and
starts the first due action (one operation at a time per cluster, invariant
2). Exactly-once effect (invariant 3) comes from the ledger: an action is
claimed before ARM is called, and a claim taken over from a dead worker is
checked against the fresh observation first. A busy cluster or a held lease
puts the message back with a delay instead of failing it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from patchpilot.adapters.publisher import Notice
from patchpilot.adapters.store import Lease
from patchpilot.adapters.store.records import ACTIVE_STATES
from patchpilot.domain.blocks import running_on
from patchpilot.domain.fleet import ClusterState
from patchpilot.domain.history import History, Requested
from patchpilot.domain.messages import ReconcileRequest
from patchpilot.domain.plan import Action, Plan, iso
from patchpilot.domain.planner import plan
from patchpilot.domain.resource_ids import ClusterId, ascii_key
from patchpilot.service.aks_maintenance import with_announced
from patchpilot.service.deps import Services
from patchpilot.service.outcomes import ReconcileOutcome
from patchpilot.service.reconcile.gates import planning_history, with_gate_regions
from patchpilot.service.reconcile.settle import (
    StillRunning,
    os_of,
    poll_running,
    settle,
    settle_polled,
)
from patchpilot.service.reconcile.starts import StartAsk, start_once, started_data
from patchpilot.service.shadow import undecided
from patchpilot.service.snapshots import fleet_of, merge_catalog, save_clusters

_log = logging.getLogger(__name__)


def reconcile(services: Services, request: ReconcileRequest, now: dt.datetime) -> ReconcileOutcome:
    """Do what is due for one cluster now; requeue the request when it must wait."""
    cluster = services.gateway.admit(request.cluster)
    lease = services.store.acquire_lease(cluster.key, services.holder, now, services.tuning.lease)
    if lease is None:
        return _requeue(services, request, now, services.tuning.lease_retry, "lease held elsewhere")
    try:
        with services.telemetry.reconcile(str(cluster), traceparent=request.traceparent) as span:
            outcome = _reconcile_held(services, request, cluster, lease, now)
            span.set_attribute("patchpilot.started", len(outcome.started))
            return outcome
    finally:
        services.store.release_lease(lease)


def _reconcile_held(
    services: Services,
    request: ReconcileRequest,
    cluster: ClusterId,
    lease: Lease,
    now: dt.datetime,
) -> ReconcileOutcome:
    active = services.store.list_operations(cluster=cluster.key, states=ACTIVE_STATES)
    known = poll_running(services, active, now)
    if isinstance(known, StillRunning):
        # AKS's Retry-After is a minimum: never poll sooner than it asks, nor than usual.
        hint = dt.timedelta(seconds=known.retry_after or 0)
        why = f"an operation is running on {cluster.name}"
        return _requeue(services, request, now, max(services.tuning.follow_up, hint), why)
    early = settle_polled(services, cluster, active, known, now)
    if early is not None:
        mine, history = _plan_cluster(services, early.state, early.regions, now)
        idle = running_on(early.state, history.in_flight) is None
        if idle and not any(a.status == "due" for a in mine):
            return _wait_for_next(services, request, mine, now=now, settled=early.settled)
    cache = services.catalogs.cache(now)
    observation = services.gateway.observe(request.cluster, cache)
    state = observation.state
    regions = merge_catalog(services.store, cache.catalog(), now)
    settled = (early.settled if early else ()) + settle(services, observation, now, regions, known)
    save_clusters(services.store, [state], now, policy=services.policy)
    mine, history = _plan_cluster(services, state, regions, now)
    # In shadow mode a decided start changes nothing on the cluster: skip it for the next.
    due = undecided(services, state.id.key, (a for a in mine if a.status == "due"))
    if due:
        asked = _asked_by(history, state, due[0])
        ask = StartAsk(
            observation, due[0], lease, asked.by if asked else None, asked.reason if asked else None
        )
        return _start_first(services, request, ask, now=now, settled=settled)
    running = running_on(state, history.in_flight)
    if running is not None:
        why = f"an operation is running on {state.id.name}: {running}"
        return _requeue(services, request, now, services.tuning.follow_up, why, settled=settled)
    return _wait_for_next(services, request, mine, now=now, settled=settled)


def _plan_cluster(
    services: Services, state: ClusterState, regions: Mapping[str, Any], now: dt.datetime
) -> tuple[tuple[Action, ...], History]:
    """This cluster's actions from its own history and the gates of the rings before its own.

    Reads only the cluster's own partitions and a few gate rows, so its cost
    does not grow with the fleet; on the way it puts the cluster's own
    tallies in its ring's gates, which later rings read. What AKS announced on
    the cluster (its own maintenance) is one more point read.
    """
    state = with_announced(services.store, state, now)
    region = fleet_of([state], regions).region(state.location)
    history = planning_history(services.store, services.policy, state, region, now)
    fleet = fleet_of([state], with_gate_regions(services.store, history.gates, regions))
    with services.telemetry.plan(cluster=str(state.id)) as span:
        result = plan(fleet, services.policy, history, now, only=state.key)
        mine = result.actions
        services.telemetry.record_plan(span, Plan(result.at, mine))
    return mine, history


# Starting the first due action ---------------------------------------------------------


def _start_first(
    services: Services,
    request: ReconcileRequest,
    ask: StartAsk,
    *,
    now: dt.datetime,
    settled: tuple[str, ...],
) -> ReconcileOutcome:
    state, action = ask.observation.state, ask.action
    result = start_once(services, ask, now)
    if result.verdict == "failed":  # refused for good: recorded, paused
        return ReconcileOutcome(state.id, settled=(*settled, result.why))
    if result.verdict == "found":  # a dead worker's start, recorded now: follow it
        delay = services.tuning.follow_up
        return _requeue(services, request, now, delay, result.why, settled=(*settled, result.why))
    if not result.started:
        delay = result.retry_after or services.tuning.follow_up
        return _requeue(services, request, now, delay, result.why, settled=settled)
    _announce_start(services, state, action, now)
    _requeue(services, request, now, services.tuning.follow_up, "follow the operation")
    label = f"{action.pool or 'control plane'} {action.kind} -> {action.target}"
    return ReconcileOutcome(
        state.id,
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
            if ascii_key(r.cluster) == state.key
            and r.pool == action.pool
            and r.kind == action.kind
            and r.target == action.target
        ),
        None,
    )


def _announce_start(
    services: Services, state: ClusterState, action: Action, now: dt.datetime
) -> None:
    services.telemetry.instruments.upgrade_started(action.kind, os_of(state, action.pool))
    _log.info(
        "started %s upgrade of %s/%s to %s: %s",
        action.kind,
        state.id.name,
        action.pool or "control plane",
        action.target,
        action.reason,
    )
    services.publisher.publish(Notice("UpgradeStarted", str(state.id), started_data(action), now))


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
