"""The periodic sweep: observe the fleet, keep its picture, enqueue what is due or near.

The timer only fans out (:func:`fan_out`): one :class:`SweepShard` message per
subscription on the reconcile queue, so no invocation holds the fleet and
shards scale out with the queue. A shard (:func:`sweep_subscription`) reads
its subscription's clusters from Resource Graph and its stored pictures in
one query, keeps what changed (and their ring gate tallies), plans its
clusters against the stored gates, and enqueues those with an action due or
scheduled within the lookahead. :func:`sweep` runs every shard in one call,
for the CLI, the demo and tests.

AKS sends no event when a node image is released, so the sweep is also how
new images are found: the per-sweep cache reads each region's latest image
once per image family, not once per pool. A cluster already in the store
costs no request of its own (its maintenance configurations come from its
stored picture, which every full observation refreshes). Owners get
`UpgradeScheduled` notices a configurable time ahead. One cluster that
cannot be read never stops the sweep of the others; a cluster missing from
:data:`MISSED_SWEEPS` complete listings in a row is forgotten: its picture
and gate tallies are removed, so its ring no longer waits on it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from http import HTTPStatus
from typing import Any, Final

from patchpilot.adapters.arm.catalog_cache import SweepCache
from patchpilot.adapters.arm.observe import ClusterObservation
from patchpilot.adapters.discovery import Inventory, subscriptions_of
from patchpilot.adapters.publisher import Notice
from patchpilot.adapters.store.history import load_requests_of
from patchpilot.adapters.store.records import OperationState
from patchpilot.domain.cadence import covered_patch_tuesday
from patchpilot.domain.fleet import ClusterState, FleetState
from patchpilot.domain.history import History
from patchpilot.domain.messages import ReconcileRequest, SweepShard
from patchpilot.domain.plan import Action, Plan, iso
from patchpilot.domain.planner import plan
from patchpilot.domain.resource_ids import ClusterId
from patchpilot.domain.schedule import Schedule
from patchpilot.errors import InvalidInputError, PatchPilotError, PermanentError
from patchpilot.service.aks_maintenance import announced_states, refresh_from_graph
from patchpilot.service.deps import Services
from patchpilot.service.findings import FORGOTTEN, forget_posture, save_posture
from patchpilot.service.legacy import move_legacy_rows
from patchpilot.service.outcomes import SweepOutcome
from patchpilot.service.reconcile.gates import (
    built,
    forget_contributions,
    kept_history,
    load_gates,
    mark_built,
    with_gate_regions,
)
from patchpilot.service.snapshots import (
    cluster_kind,
    fleet_of,
    merge_catalog,
    parsed_cluster,
    save_clusters,
    stored_clusters,
    stored_maintenance,
)
from patchpilot.telemetry import current_traceparent

_log = logging.getLogger(__name__)
# A cluster absent from this many complete listings of its subscription in a row is gone.
MISSED_SWEEPS: Final = 3
_MISSING = "missing"
# Resource Graph: "a user can send at most 15 queries within every 5-second window"
# (learn.microsoft.com, Guidance for throttled requests in Azure Resource Graph).
SHARDS_PER_SECOND: Final = 3
_OPEN: Final[frozenset[OperationState]] = frozenset({"in_progress", "started", "failed"})


def subscriptions(services: Services) -> tuple[str, ...]:
    """The subscriptions the policy's scopes name: one sweep shard each."""
    return subscriptions_of(services.policy.scopes)


def on_timer(services: Services, now: dt.datetime) -> SweepOutcome:
    """The timer: sweep a single subscription here, fan several out (one message each).

    One shard gains nothing from a queue hop, so a one-subscription fleet is
    swept in the timer's own invocation; with more, the timer only sends
    messages and holds no cluster.
    """
    move_legacy_rows(services.store, now)
    if len(subscriptions(services)) <= 1:
        return sweep(services, now)
    return SweepOutcome(0, shards=fan_out(services, now))


def fan_out(services: Services, now: dt.datetime) -> tuple[str, ...]:
    """One shard message per subscription, staggered :data:`SHARDS_PER_SECOND` a second.

    Each shard lists its subscription with one Resource Graph query (a page
    per 1,000 clusters), and Resource Graph gives a principal about 15
    queries per 5 seconds; Microsoft's guidance is to stagger queries rather
    than burst and retry. 1,000 subscriptions start within 334 s, inside the
    15-minute sweep interval.
    """
    refresh_from_graph(services, now)  # AKS's announcements: one query for every shard
    traceparent = current_traceparent()
    chosen = subscriptions(services)
    for index, subscription in enumerate(chosen):
        shard = SweepShard(subscription, now, traceparent)
        delay = dt.timedelta(seconds=index // SHARDS_PER_SECOND)
        services.queue.send(shard.encode(), now=now, delay=delay)
    return chosen


def sweep(services: Services, now: dt.datetime) -> SweepOutcome:
    """Every shard, one after another, in this call (the CLI, the demo, tests)."""
    refresh_from_graph(services, now)  # AKS's announcements: one query for every shard
    outcomes = []
    for subscription in subscriptions(services):
        try:
            outcomes.append(sweep_subscription(services, subscription, now))
        except PatchPilotError as exc:
            # Policy: one subscription that cannot be listed never stops the others.
            _log.error("could not sweep subscription %s: %s", subscription, exc)
            outcomes.append(SweepOutcome(0, unobserved=(f"subscription {subscription}: {exc}",)))
    return SweepOutcome(
        sum(o.observed for o in outcomes),
        tuple(c for o in outcomes for c in o.enqueued),
        tuple(u for o in outcomes for u in o.unobserved),
        sum(o.notices for o in outcomes),
        tuple(dict.fromkeys(i for o in outcomes for i in o.images_found)),
        tuple(f for o in outcomes for f in o.forgotten),
    )


def sweep_subscription(services: Services, subscription: str, now: dt.datetime) -> SweepOutcome:
    """Observe one subscription's clusters, keep them, plan them, enqueue what is due or near."""
    subscription = subscription.lower()
    scopes = tuple(s for s in services.policy.scopes if subscriptions_of([s]) == (subscription,))
    cache = SweepCache()
    stored = stored_clusters(services.store, subscription)
    listed = _listed(services, scopes)
    observations, unobserved, absent = _observe_all(services, listed, stored, cache)
    states = [o.state for o in observations]
    changed = save_clusters(services.store, states, now, stored=stored, policy=services.policy)
    save_posture(services.store, observations, services.policy, now)
    regions = merge_catalog(services.store, cache.catalog(), now)
    states = announced_states(services, subscription, states, now)
    fleet = fleet_of(states, regions)
    rebuild = not built(services.store, services.policy, subscription)
    kept = [*states, *_unobserved_pictures(stored, states)] if rebuild else changed
    histories = _keep_gates(services, fleet, kept, now)
    listed_keys = {cluster.key for cluster, _ in listed} - absent
    forgotten = _forget_missing(services, subscription, stored, listed_keys, now)
    if rebuild:
        # Every cluster of the subscription is in this generation now.
        mark_built(services.store, services.policy, subscription, subscriptions(services), now)
    actions, result = _plan_shard(services, fleet, regions, subscription, histories, now)
    _report_pools_behind(services, fleet, result)
    observed = {state.key for state in states}
    enqueued = _enqueue(services, actions, observed, now)
    notices = _announce(services, actions, observed, now)
    images = _close_watches(services, fleet, set(regions), now)
    return SweepOutcome(len(observations), enqueued, unobserved, notices, images, forgotten)


def _keep_gates(
    services: Services, fleet: FleetState, changed: Sequence[ClusterState], now: dt.datetime
) -> dict[str, History]:
    """Put each changed cluster's tallies in its ring's gates; their histories, read for it."""
    store, policy = services.store, services.policy
    return {c.key: kept_history(store, policy, c, fleet.region(c.location), now) for c in changed}


def _retire_ledger(services: Services, cluster: str, now: dt.datetime) -> None:
    """Close a gone cluster's open and failed records, so retention can age them out.

    Nothing will ever report on them again; `expired` keeps the record (and a
    failure's error) for the audit trail until the ledger's lifetime passes.
    """
    store = services.store
    for op in store.list_operations(cluster=cluster, states=_OPEN):
        store.mark_finished(op.key, "expired", now)


def _unobserved_pictures(
    stored: Mapping[str, str], observed: Sequence[ClusterState]
) -> list[ClusterState]:
    """Stored clusters this sweep could not read: a new generation counts them as last seen."""
    seen = {state.key for state in observed}
    pictures = (parsed_cluster(body) for key, body in stored.items() if key not in seen)
    return [picture for picture in pictures if picture is not None]


def _plan_shard(  # noqa: PLR0917  # one use case's parts, named at its one caller
    services: Services,
    fleet: FleetState,
    regions: Mapping[str, Any],
    subscription: str,
    histories: dict[str, History],
    now: dt.datetime,
) -> tuple[list[Action], Plan]:
    """The shard's actions: a first plan without each cluster's own past, then the exact one.

    A cluster's own past (operations in flight, failures) only ever holds an
    action back, so the first plan finds every cluster that may need a
    reconcile; only those read their own history and are planned again. A
    sweep in which nothing is due reads no cluster's history.
    """
    store, policy = services.store, services.policy
    gates, hold = load_gates(store, policy, fleet.clusters)
    spanned = with_gate_regions(store, gates, regions)
    if spanned.keys() != regions.keys():  # the rings before span regions this shard has not
        fleet = fleet_of(fleet.clusters, spanned, pinning=fleet.node_image_pinning)
    probe = f"/subscriptions/{subscription}/"
    shared = History(
        pauses=tuple(p.to_pause() for p in store.list_pauses(now, cluster=probe)),
        requests=load_requests_of(store, probe),
        gates=gates,
        gates_hold=hold,
    )
    with services.telemetry.plan() as span:
        first = plan(fleet, policy, shared, now)
        services.telemetry.record_plan(span, first)
    wanted = {a.cluster.key for a in first.actions if _when(services, a, now) is not None}
    actions = [a for a in first.actions if a.cluster.key not in wanted]
    for cluster in fleet.clusters:
        if cluster.key not in wanted:
            continue
        own = histories.get(cluster.key)
        if own is None:
            # Read anyway: its tallies are kept current too (a failure since retired, say).
            own = kept_history(store, policy, cluster, fleet.region(cluster.location), now)
        exact = plan(
            fleet, policy, replace(own, gates=gates, gates_hold=hold), now, only=cluster.key
        )
        actions.extend(exact.actions)
    return actions, first


def _forget_missing(
    services: Services,
    subscription: str,
    stored: Mapping[str, str],
    listed: set[str],
    now: dt.datetime,
) -> tuple[str, ...]:
    """Count complete listings each stored cluster was missing from; forget the long gone.

    Called only after the subscription was listed in full (a failed listing
    raises before this), so a cluster is never forgotten for a hiccup.
    """
    store = services.store
    body = store.get_snapshot(_MISSING, subscription)
    missed: dict[str, int] = json.loads(body) if body else {}
    counts = {key: missed.get(key, 0) + 1 for key in stored if key not in listed}
    gone = tuple(sorted(key for key, count in counts.items() if count >= MISSED_SWEEPS))
    for key in gone:
        forget_contributions(store, services.policy, key)
        forget_posture(store, key)
        _retire_ledger(services, key, now)
        store.forget_progress(key)
        store.delete_snapshot(cluster_kind(key), key)
        del counts[key]
        why = (
            f"missing from {MISSED_SWEEPS} complete listings of its subscription in a row "
            "(deleted, moved or out of scope): forgotten, and its ring no longer waits on it"
        )
        finding = {"cluster": key, "code": "cluster_forgotten", "at": iso(now), "message": why}
        store.put_snapshot(FORGOTTEN, key, json.dumps(finding), now)
        _log.warning("forgot %s: %s", key, why)
    if counts != missed:
        if counts:
            store.put_snapshot(_MISSING, subscription, json.dumps(counts, sort_keys=True), now)
        else:
            store.delete_snapshot(_MISSING, subscription)
    return gone


def _observe_all(
    services: Services,
    listed: Sequence[tuple[ClusterId, Mapping[str, Any] | None]],
    stored: Mapping[str, str],
    cache: SweepCache,
) -> tuple[list[ClusterObservation], tuple[str, ...], set[str]]:
    """Every listed cluster, read from its Resource Graph row where possible, else in full.

    Also the keys ARM answered 404 for: Resource Graph lags ARM, so a deleted
    cluster may still be listed for a while; it counts as missing.
    """
    observations: list[ClusterObservation] = []
    unobserved: list[str] = []
    absent: set[str] = set()
    known = stored_maintenance(stored)
    for cluster, row in listed:
        try:
            observations.append(_observe_one(services, cluster, row, known.get(cluster.key), cache))
        except PermanentError as exc:
            if exc.status == HTTPStatus.NOT_FOUND:
                absent.add(cluster.key)
            _log.warning("sweep could not observe %s: %s", cluster, exc)
            unobserved.append(f"{cluster}: {exc}")
        except PatchPilotError as exc:
            # Policy: isolate failures per cluster; the others are still swept.
            _log.warning("sweep could not observe %s: %s", cluster, exc)
            unobserved.append(f"{cluster}: {exc}")
    return observations, tuple(unobserved), absent


def _listed(
    services: Services, scopes: tuple[str, ...]
) -> list[tuple[ClusterId, Mapping[str, Any] | None]]:
    """Each cluster in the scopes with its Resource Graph row, when the discovery returns rows."""
    if not scopes:
        return []
    if isinstance(services.discovery, Inventory):
        return [(listed.id, listed.row) for listed in services.discovery.inventory(scopes)]
    return [(cluster, None) for cluster in services.discovery.clusters(scopes)]


def _observe_one(
    services: Services,
    cluster: ClusterId,
    row: Mapping[str, Any] | None,
    maintenance: Mapping[str, Schedule] | None,
    cache: SweepCache,
) -> ClusterObservation:
    """From the row and the stored maintenance configurations; in full when either is missing.

    A row costs no request of its own, so a sweep costs requests per region
    and image family, not per cluster. Resource Graph may lag ARM by a
    little: that only delays a plan, since the reconcile observes the
    cluster in full before it starts anything.
    """
    if row is not None and maintenance is not None:
        try:
            return services.gateway.observe_row(row, maintenance, cache)
        except InvalidInputError as exc:
            # Policy: a row we cannot read is no reason to skip the cluster; ask ARM itself.
            _log.info("reading %s from ARM: its Resource Graph row is unreadable: %s", cluster, exc)
    return services.gateway.observe(cluster, cache)


def _enqueue(
    services: Services, actions: Iterable[Action], observed: set[str], now: dt.datetime
) -> tuple[ClusterId, ...]:
    """One message per cluster: now if something is due, at the window if it opens soon."""
    actions = list(actions)
    first: dict[str, dt.datetime] = {}
    for action in actions:
        key = action.cluster.key
        when = _when(services, action, now)
        if key in observed and when is not None:
            first[key] = min(when, first.get(key, when))
    names = {a.cluster.key: a.cluster for a in actions}
    traceparent = current_traceparent()
    for key, when in sorted(first.items()):
        request = ReconcileRequest(names[key], "sweep", now, traceparent)
        services.queue.send(request.encode(), now=now, delay=max(when - now, dt.timedelta(0)))
    return tuple(names[key] for key in sorted(first))


def _when(services: Services, action: Action, now: dt.datetime) -> dt.datetime | None:
    if action.status == "due":
        return now
    soon = action.not_before is not None and action.not_before - now <= services.tuning.lookahead
    return action.not_before if action.status == "scheduled" and soon else None


def _announce(
    services: Services, actions: Iterable[Action], observed: set[str], now: dt.datetime
) -> int:
    """Warn owners once per action, `notice` ahead of its window (UpgradeScheduled)."""
    sent = 0
    for action in actions:
        if action.status != "scheduled" or action.not_before is None:
            continue
        if action.cluster.key not in observed:
            continue
        if action.not_before - now > services.tuning.notice:
            continue
        notice_id = f"notice:{action.cluster.key}:{action.pool}:{action.kind}:{action.target}"
        if not services.store.seen_event(notice_id, now, services.tuning.event_ttl):
            continue
        data = {
            "cluster": str(action.cluster),
            "pool": action.pool,
            "kind": action.kind,
            "from": action.current,
            "to": action.target,
            "window_start": iso(action.not_before),
            "window_end": iso(action.window_end),
            "reason": action.reason,
        }
        services.publisher.publish(Notice("UpgradeScheduled", str(action.cluster), data, now))
        sent += 1
    return sent


def _close_watches(
    services: Services, fleet: FleetState, regions: set[str], now: dt.datetime
) -> tuple[str, ...]:
    """A month's Windows image watch ends when its region offers an image covering that month.

    Only the shard's own regions: their catalogs are the ones it just read.
    """
    found = []
    for watch in services.store.list_watches(open_only=True):
        if watch.region not in regions:
            continue
        catalog = fleet.region(watch.region)
        images = catalog.images_at(watch.family, now)
        if not images:
            continue
        latest = images[-1]
        if covered_patch_tuesday(latest.build_date).strftime("%Y-%m") < watch.month:
            continue
        services.store.close_watch(watch.month, watch.region, watch.family, str(latest), now)
        data = {
            "region": watch.region,
            "family": watch.family,
            "image": str(latest),
            "month": watch.month,
        }
        services.publisher.publish(Notice("NodeImageAvailable", watch.region, data, now))
        _log.info("%s offers %s for %s", watch.region, latest, watch.month)
        found.append(f"{watch.region}/{latest}")
    return tuple(found)


def _report_pools_behind(services: Services, fleet: FleetState, result: Plan) -> None:
    os_of = {(c.key, p.name): p.os_type for c in fleet.clusters for p in c.pools}
    per_cluster: dict[ClusterId, dict[tuple[str, str], int]] = defaultdict(dict)
    for action in result.actions:
        if action.pool is None:
            continue
        cell = (os_of.get((action.cluster.key, action.pool), "unknown"), action.ring or "")
        counts = per_cluster[action.cluster]
        counts[cell] = counts.get(cell, 0) + 1
    for cluster in fleet.clusters:
        services.telemetry.instruments.pools_behind(
            str(cluster.id), per_cluster.get(cluster.id, {})
        )
