"""The periodic sweep: observe the fleet, keep its picture, enqueue what is due or near.

AKS sends no event when a node image is released, so the sweep is also how
new images are found: the per-sweep cache reads each region's latest image
once per image family, not once per pool. Where discovery returns each
cluster's Resource Graph row, a cluster already in the store costs no request
of its own (its maintenance configurations come from its stored picture, which
every full observation refreshes), so a sweep in which nothing is due costs
requests per region and image family, not per cluster. A cluster with an action due, or
scheduled within the lookahead, gets a reconcile message (scheduled ones
delayed until their window opens); owners get `UpgradeScheduled` notices a
configurable time ahead. One cluster that cannot be read never stops the
sweep of the others.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from patchpilot.adapters.arm.catalog_cache import SweepCache
from patchpilot.adapters.arm.observe import ClusterObservation
from patchpilot.adapters.discovery import Inventory
from patchpilot.adapters.publisher import Notice
from patchpilot.adapters.store import load_history
from patchpilot.domain.cadence import covered_patch_tuesday
from patchpilot.domain.fleet import FleetState
from patchpilot.domain.messages import ReconcileRequest
from patchpilot.domain.plan import Action, Plan, iso
from patchpilot.domain.planner import plan
from patchpilot.domain.resource_ids import ClusterId
from patchpilot.domain.schedule import Schedule
from patchpilot.errors import InvalidInputError, PatchPilotError
from patchpilot.service.deps import Services
from patchpilot.service.findings import save_posture
from patchpilot.service.outcomes import SweepOutcome
from patchpilot.service.snapshots import (
    load_fleet_snapshot,
    merge_catalog,
    save_clusters,
    stored_maintenance,
)
from patchpilot.telemetry import current_traceparent

_log = logging.getLogger(__name__)


def sweep(services: Services, now: dt.datetime) -> SweepOutcome:
    """Observe every cluster in scope, plan, and enqueue the clusters that need a reconcile."""
    cache = SweepCache()
    observations, unobserved = _observe_all(services, cache)
    save_clusters(services.store, (o.state for o in observations), now)
    save_posture(services.store, observations, services.policy, now)
    regions = merge_catalog(services.store, cache.catalog(), now)
    fleet = load_fleet_snapshot(services.store, (o.state for o in observations), regions)
    observed = {o.state.key for o in observations}
    with services.telemetry.plan() as span:
        result = plan(fleet, services.policy, load_history(services.store, now), now)
        services.telemetry.record_plan(span, result)
    _report_pools_behind(services, fleet, result)
    enqueued = _enqueue(services, result, observed, now)
    notices = _announce(services, result, observed, now)
    images = _close_watches(services, fleet, now)
    services.store.forget_events(now)
    return SweepOutcome(len(observations), enqueued, unobserved, notices, images)


def _observe_all(
    services: Services, cache: SweepCache
) -> tuple[list[ClusterObservation], tuple[str, ...]]:
    """Every cluster in scope, read from Resource Graph where possible, else observed in full."""
    observations: list[ClusterObservation] = []
    unobserved: list[str] = []
    known = stored_maintenance(services.store)
    for cluster, row in _listed(services):
        try:
            observations.append(_observe_one(services, cluster, row, known.get(cluster.key), cache))
        except PatchPilotError as exc:
            # Policy: isolate failures per cluster; the others are still swept.
            _log.warning("sweep could not observe %s: %s", cluster, exc)
            unobserved.append(f"{cluster}: {exc}")
    return observations, tuple(unobserved)


def _listed(services: Services) -> list[tuple[ClusterId, Mapping[str, Any] | None]]:
    """Each cluster in scope with its Resource Graph row, when the discovery returns rows."""
    scopes = services.policy.scopes
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
    services: Services, result: Plan, observed: set[str], now: dt.datetime
) -> tuple[str, ...]:
    """One message per cluster: now if something is due, at the window if it opens soon."""
    first: dict[str, dt.datetime] = {}
    for action in result.actions:
        key = action.cluster.lower()
        when = _when(services, action, now)
        if key in observed and when is not None:
            first[key] = min(when, first.get(key, when))
    names = {a.cluster.lower(): a.cluster for a in result.actions}
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


def _announce(services: Services, result: Plan, observed: set[str], now: dt.datetime) -> int:
    """Warn owners once per action, `notice` ahead of its window (UpgradeScheduled)."""
    sent = 0
    for action in result.actions:
        if action.status != "scheduled" or action.not_before is None:
            continue
        if action.cluster.lower() not in observed:
            continue
        if action.not_before - now > services.tuning.notice:
            continue
        notice_id = f"notice:{action.cluster.lower()}:{action.pool}:{action.kind}:{action.target}"
        if not services.store.seen_event(notice_id, now, services.tuning.event_ttl):
            continue
        data = {
            "cluster": action.cluster,
            "pool": action.pool,
            "kind": action.kind,
            "from": action.current,
            "to": action.target,
            "window_start": iso(action.not_before),
            "window_end": iso(action.window_end),
            "reason": action.reason,
        }
        services.publisher.publish(Notice("UpgradeScheduled", action.cluster, data, now))
        sent += 1
    return sent


def _close_watches(services: Services, fleet: FleetState, now: dt.datetime) -> tuple[str, ...]:
    """A month's Windows image watch ends when its region offers an image covering that month."""
    found = []
    for watch in services.store.list_watches(open_only=True):
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
    os_of = {(str(c.id).lower(), p.name): p.os_type for c in fleet.clusters for p in c.pools}
    per_cluster: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    for action in result.actions:
        if action.pool is None:
            continue
        cell = (os_of.get((action.cluster.lower(), action.pool), "unknown"), action.ring or "")
        counts = per_cluster[action.cluster]
        counts[cell] = counts.get(cell, 0) + 1
    for cluster in fleet.clusters:
        services.telemetry.instruments.pools_behind(
            str(cluster.id), per_cluster.get(str(cluster.id), {})
        )
