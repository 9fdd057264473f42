"""AKS's announced maintenance: keep what AKS says, hand it to the planner, show it.

Two writers, one reader per cluster:

- :func:`handle_maintenance_event` (the Event Grid trigger
  ``on_aks_maintenance_event``): one ``ScheduledEventEmitted`` event, merged
  into its cluster's record, then a reconcile request for the cluster, so a
  start due inside the span moves (and one held by it goes on once AKS says
  the work ended);
- :func:`refresh_from_graph` (the sweep timer, once per sweep, from one
  Resource Graph query of ``containerserviceeventresources`` over every
  scope): every announcement, merged the same way, written only where a
  record changed. It catches up what a lost event missed; events are hints
  here as everywhere. Each shard then attaches its subscription's records to
  its clusters before it plans (:func:`announced_states`, one store query).
- :func:`with_announced` (the reconcile, before it plans its cluster): one
  point read of the cluster's record, so the rows a reconcile reads do not
  grow with the fleet (issue 14).

Storage: one snapshot per cluster, kind ``aksmaint~<subscription>`` (a
partition per subscription, as cluster pictures), key the cluster's key, body
``{"keep_until": ..., "items": [...]}``. Retention removes a record once
``keep_until`` (a week past the last span's end) has passed
(:mod:`patchpilot.adapters.store.retention`); writers drop ended items past
their week on the way. Snapshots are last-writer-wins: an event and a sweep
writing one cluster's record at the same instant can lose one word, which the
next sweep reads back from Resource Graph.

:func:`maintenance_status` is what the status API and the CLI show beside
Patch Pilot's own plan.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from patchpilot.adapters.store import Store
from patchpilot.adapters.store.codec import subscription_of
from patchpilot.domain.aks_maintenance import (
    AksMaintenance,
    describe,
    maintenance_from_row,
    merged,
    parse_maintenance_event,
    pruned,
)
from patchpilot.domain.errors import UnhandledEventError
from patchpilot.domain.fleet import ClusterState, FleetState
from patchpilot.domain.messages import ReconcileRequest
from patchpilot.domain.plan import iso
from patchpilot.domain.resource_ids import in_scopes
from patchpilot.domain.schedule import Schedule
from patchpilot.errors import InvalidInputError, PatchPilotError
from patchpilot.service.deps import Services
from patchpilot.service.outcomes import EventOutcome
from patchpilot.service.snapshots import load_cluster
from patchpilot.telemetry import current_traceparent

_log = logging.getLogger(__name__)
# The snapshot kind (``aksmaint~<subscription>``); retention.py names it too.
KIND: Final = "aksmaint"
# Announcements kept per cluster: a year of weekly node OS work fits in a stored value
# (32,000 characters) with room; the oldest go first.
MAX_KEPT: Final = 48


def kind_of(cluster_key: str) -> str:
    """The partition holding a cluster's record: its subscription's."""
    return f"{KIND}~{subscription_of(cluster_key)}"


def handle_maintenance_event(services: Services, payload: object, now: dt.datetime) -> EventOutcome:
    """Record one ScheduledEventEmitted event and ask for a reconcile of its cluster."""
    try:
        event = parse_maintenance_event(payload)
    except UnhandledEventError as exc:
        _log.info("ignored event: %s", exc)
        return EventOutcome("ignored", str(exc))
    except InvalidInputError as exc:
        _log.warning("refused malformed maintenance event: %s", exc)
        return EventOutcome("refused", str(exc))
    item = event.maintenance
    if not in_scopes(item.cluster, services.policy.scopes):
        _log.warning("refused event %s for %s: outside the policy's scopes", event.id, item.cluster)
        return EventOutcome("refused", "cluster is outside the policy's scopes", item.cluster)
    changed = record(services.store, [item], now)
    if not changed:
        why = f"AKS's {item.what} {item.event_id} is already recorded as {item.status}"
        return EventOutcome("duplicate", why, item.cluster, event.short_type)
    request = ReconcileRequest(
        item.cluster, f"event:{event.short_type}", now, current_traceparent()
    )
    services.queue.send(request.encode(), now=now)
    why = f"AKS's {item.what} {item.event_id} recorded as {item.status}; reconcile requested"
    return EventOutcome("enqueued", why, item.cluster, event.short_type)


def record_rows(
    store: Store, rows: Iterable[Mapping[str, Any]], scopes: tuple[str, ...], now: dt.datetime
) -> int:
    """Merge Resource Graph rows into their clusters' records; how many records changed.

    A row that cannot be read is skipped with a log line (policy: never guessed
    at); a row outside the scopes is not Patch Pilot's to keep.
    """
    items: list[AksMaintenance] = []
    for row in rows:
        try:
            item = maintenance_from_row(row)
        except InvalidInputError as exc:
            _log.warning("skipping a scheduled event row: %s", exc)
            continue
        if item is not None and in_scopes(item.cluster, scopes):
            items.append(item)
    return len(record(store, items, now))


def refresh_from_graph(services: Services, now: dt.datetime) -> int:
    """The sweep timer's part: Resource Graph's announcements of every scope kept; the changed.

    One query (paged) per sweep for the whole fleet, not one per shard:
    Resource Graph allows a principal about 15 queries per 5 seconds, which
    the shards' own cluster listings already pace themselves by. A query
    that fails costs this sweep its catch-up only (policy: the sweep goes on;
    stored announcements and the event trigger still hold).
    """
    from patchpilot.adapters.aks_maintenance import scheduled_events_beside  # heavy: first use

    scopes = services.policy.scopes
    reader = scheduled_events_beside(services.discovery)
    if reader is None or not scopes:
        return 0
    try:
        return record_rows(services.store, reader.rows(scopes), scopes, now)
    except PatchPilotError as exc:
        _log.warning("could not read AKS's scheduled events from Resource Graph: %s", exc)
        return 0


def announced_states(
    services: Services, subscription: str, states: Sequence[ClusterState], now: dt.datetime
) -> list[ClusterState]:
    """A shard's clusters with what AKS announced on them (one store query per subscription)."""
    stored = dict(services.store.list_snapshots(f"{KIND}~{subscription}"))
    return [_attached(state, stored.get(state.key), now) for state in states]


def with_fleet_announced(store: Store, fleet: FleetState, now: dt.datetime) -> FleetState:
    """The stored fleet with what AKS announced on each cluster (one range query).

    For whole-fleet plans shown to people (``GET /api/plan``, ``GET /api/status``,
    ``plan --json`` of the deployed app), so they say what the reconcile will do.
    """
    stored = dict(store.list_snapshots_under(f"{KIND}~"))
    clusters = tuple(_attached(c, stored.get(c.key), now) for c in fleet.clusters)
    return replace(fleet, clusters=clusters)


def _attached(state: ClusterState, body: str | None, now: dt.datetime) -> ClusterState:
    announced = pruned(_parsed(body, state.key), state.maintenance, now) if body else ()
    return replace(state, aks_maintenance=announced) if announced else state


def record(store: Store, items: Iterable[AksMaintenance], now: dt.datetime) -> tuple[str, ...]:
    """Merge announcements into each cluster's record; the keys of the records that changed."""
    by_cluster: dict[str, list[AksMaintenance]] = defaultdict(list)
    for item in items:
        by_cluster[item.cluster.key].append(item)
    changed = []
    for key, heard in sorted(by_cluster.items()):
        known = load(store, key)
        windows = _windows(store, key)
        kept = pruned(merged(known, heard), windows, now)[-MAX_KEPT:]
        if kept == known:
            continue
        _save(store, key, kept, windows, now)
        changed.append(key)
    return tuple(changed)


def load(store: Store, cluster_key: str) -> tuple[AksMaintenance, ...]:
    """One cluster's announcements as stored (one point read); unreadable entries are skipped."""
    body = store.get_snapshot(kind_of(cluster_key), cluster_key)
    return _parsed(body, cluster_key) if body else ()


def with_announced(store: Store, state: ClusterState, now: dt.datetime) -> ClusterState:
    """The cluster with what AKS announced on it, for the planner (one point read)."""
    return _attached(state, store.get_snapshot(kind_of(state.key), state.key), now)


def maintenance_status(store: Store, now: dt.datetime) -> list[dict[str, Any]]:
    """Every announcement Patch Pilot keeps, for ``GET /api/status`` (``aks_maintenance``).

    One entry per announcement, by start: the cluster, AKS's event, what and
    when AKS said, and whether it holds Patch Pilot's starts now (``holds``)
    and over which span (margins included). Reads every record (a range
    query over the kind), as the status page reads the fleet.
    """
    entries: list[dict[str, Any]] = []
    for key, body in store.list_snapshots_under(f"{KIND}~"):
        windows = _windows(store, key)
        items = pruned(_parsed(body, key), windows, now)
        entries.extend(describe(item, windows, now) for item in items)
    return sorted(entries, key=lambda e: (e["start"], e["cluster"], e["event_id"]))


def _windows(store: Store, cluster_key: str) -> Mapping[str, Schedule]:
    """The cluster's maintenance configurations from its stored picture (none when unseen)."""
    picture = load_cluster(store, cluster_key)
    return picture.maintenance if picture is not None else {}


def _save(
    store: Store,
    key: str,
    items: Sequence[AksMaintenance],
    windows: Mapping[str, Schedule],
    now: dt.datetime,
) -> None:
    if not items:
        store.delete_snapshot(kind_of(key), key)
        return
    keep_until = max(item.keep_until(windows) for item in items)
    body = {"keep_until": iso(keep_until), "items": [item.to_json() for item in items]}
    store.put_snapshot(kind_of(key), key, json.dumps(body, sort_keys=True), now)


def _parsed(body: str, cluster_key: str) -> tuple[AksMaintenance, ...]:
    items = []
    for entry in json.loads(body).get("items", []):
        try:
            items.append(AksMaintenance.from_json(entry))
        except InvalidInputError as exc:
            # Policy: a stored entry this version cannot read is dropped, not guessed at.
            _log.warning("dropping a stored announcement of %s: %s", cluster_key, exc)
    return tuple(items)
