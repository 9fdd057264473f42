"""The status page (`GET /api/status`) and the dry-run plan (`GET /api/plan`), from the store.

Both read the last observed picture of the fleet (the sweep keeps it) and
what already happened, and plan at the instant asked: no ARM call, no side
effect, so they answer fast whatever the fleet's size. The status adds to the
plan what an operator looks for per cluster: its ring, versions, each pool's
node image and patch age, the last operation and its state, the pauses
covering it, the next scheduled action with its window, pending manual
requests, findings (planner and security posture), and the poison queue;
and, fleet-wide, each Fleet Manager gate Patch Pilot follows (its update
run, stage or group, and whether it approved it or why it holds it), and
the maintenance AKS announced on the clusters shown (``aks_maintenance``).

Both plan with AKS's announced spans attached to the fleet, as the
reconcile plans its cluster, so a start they show is the start it makes.
The announcements cost one range query for the whole fleet
(:func:`~patchpilot.service.aks_maintenance.with_fleet_announced`); the
status entries are described from that same fleet (each cluster's windows
are in its stored picture), so no request reads a row per cluster.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from patchpilot.adapters.store import Operation, PauseRecord, load_history
from patchpilot.adapters.store.history import load_requests
from patchpilot.domain.aks_maintenance import describe
from patchpilot.domain.critical_path import with_paths
from patchpilot.domain.fleet import ClusterState, FleetState, PoolState
from patchpilot.domain.history import Requested
from patchpilot.domain.plan import Action, Plan, RingPath, iso
from patchpilot.domain.planner import plan
from patchpilot.domain.resource_ids import ascii_key, in_scopes
from patchpilot.errors import InvalidInputError
from patchpilot.service.aks_maintenance import with_fleet_announced
from patchpilot.service.deps import Services
from patchpilot.service.findings import FORGOTTEN, load_posture
from patchpilot.service.fleet_gates import gate_status
from patchpilot.service.operator.clusters import cluster_id, known_cluster
from patchpilot.service.operator.errors import NotFoundError
from patchpilot.service.operator.pauses import pause_json
from patchpilot.service.snapshots import load_fleet_snapshot


def stored_plan(services: Services, at: dt.datetime) -> Plan:
    """What the planner would do at `at` with the stored fleet and history (`plan --json`)."""
    fleet = with_fleet_announced(services.store, load_fleet_snapshot(services.store), at)
    result = plan(fleet, services.policy, load_history(services.store, at), at)
    return with_paths(result, fleet, services.policy)


def fleet_status(
    services: Services,
    now: dt.datetime,
    *,
    ring: str | None = None,
    cluster: str | None = None,
) -> dict[str, Any]:
    """Every cluster in scope (or those of one ring, or one cluster) with what to know about it."""
    store = services.store
    fleet = with_fleet_announced(store, load_fleet_snapshot(store), now)
    result = with_paths(
        plan(fleet, services.policy, load_history(store, now), now), fleet, services.policy
    )
    chosen = _chosen(services, fleet, ring, cluster)
    pauses = store.list_pauses(now)
    context = _Context(
        result, pauses, store.list_operations(), load_posture(store), load_requests(store), now
    )
    return {
        "at": iso(now),
        "clusters": [_cluster(services, c, context) for c in chosen],
        "pauses": [pause_json(p) for p in pauses],
        "poison_messages": store.count_poison(),
        "forgotten_clusters": [json.loads(body) for _, body in store.list_snapshots(FORGOTTEN)],
        "critical_path": [path.to_json() for path in _paths_of(result, ring)],
        "counts": result.counts(),
        # Fleet Manager gates Patch Pilot follows: approved, or blocked and why (fleet-wide).
        "fleet_gates": gate_status(services),
        # AKS's own announced work on the clusters shown, and the stretch it keeps clear.
        "aks_maintenance": _announced(chosen, now),
    }


def _announced(clusters: list[ClusterState], now: dt.datetime) -> list[dict[str, Any]]:
    """AKS's announcements on these clusters, by start, as the CLI shows them too.

    The same entries as :func:`~patchpilot.service.aks_maintenance.maintenance_status`
    (:func:`~patchpilot.domain.aks_maintenance.describe`), cut from the fleet
    already read, so the filters apply and no cluster's picture is read again.
    """
    entries = [
        describe(item, cluster.maintenance, now)
        for cluster in clusters
        for item in cluster.aks_maintenance
    ]
    return sorted(entries, key=lambda e: (e["start"], e["cluster"], e["event_id"]))


def _paths_of(result: Plan, ring: str | None) -> tuple[RingPath, ...]:
    """The critical path of every ring, or of the one ring asked for."""
    return tuple(path for path in result.paths if ring is None or path.ring == ring)


@dataclass(frozen=True)
class _Context:
    """What every cluster's entry is cut from, read once per request."""

    result: Plan
    pauses: tuple[PauseRecord, ...]
    operations: tuple[Operation, ...]
    posture: dict[str, list[dict[str, Any]]]
    requests: tuple[Requested, ...]
    now: dt.datetime


def _chosen(
    services: Services, fleet: FleetState, ring: str | None, name: str | None
) -> list[ClusterState]:
    """The clusters in scope, cut by the filters; an unknown ring or cluster is refused."""
    policy = services.policy
    found = [c for c in fleet.clusters if in_scopes(c.id, policy.scopes)]
    if name is not None:
        keys = {c.key for c in _named(fleet, name, policy.scopes)}
        found = [c for c in found if c.key in keys]
    if ring is None:
        return found
    names = [r.name for r in policy.rings]
    if ring not in names:
        raise InvalidInputError(
            f"{ring!r} is not a ring of the policy ({', '.join(names)})", path="ring"
        )
    return [c for c in found if (r := policy.ring_of(c.tags)) and r.name == ring]


def _named(fleet: FleetState, name: str, scopes: tuple[str, ...]) -> list[ClusterState]:
    """The cluster a filter names, by resource ID or by name (names may repeat across groups)."""
    if name.startswith("/"):
        return [known_cluster(fleet, cluster_id(name), scopes)]
    # The filter is folded as it always was (str.lower); a cluster's name is ASCII, so its
    # ascii_key is the same fold.
    wanted = name.lower()
    matches = [c for c in fleet.clusters if ascii_key(c.id.name) == wanted]
    inside = [c for c in matches if in_scopes(c.id, scopes)]
    if matches and not inside:
        raise NotFoundError(
            f"cluster {name!r} is outside the policy's scopes", code="ClusterNotInScope"
        )
    if not inside:
        raise NotFoundError(f"no cluster in scope is named {name!r}", code="ClusterNotFound")
    return inside


def _cluster(services: Services, cluster: ClusterState, context: _Context) -> dict[str, Any]:
    ring = services.policy.ring_of(cluster.tags)
    actions = [a for a in context.result.actions if a.cluster.key == cluster.key]
    operations = [op for op in context.operations if op.key.cluster == cluster.key]
    return {
        "id": str(cluster.id),
        "name": cluster.id.name,
        "location": cluster.location,
        "ring": ring.name if ring else None,
        "kubernetes_version": str(cluster.kubernetes_version),
        "provisioning_state": cluster.provisioning_state,
        "auto_upgrade_channel": cluster.auto_upgrade_channel,
        "node_os_upgrade_channel": cluster.node_os_upgrade_channel,
        "last_operation": _last(operations, None),
        "pools": [_pool(pool, operations, context.now) for pool in cluster.pools],
        "pauses": [
            pause_json(p)
            for p in context.pauses
            if p.to_pause().covers(cluster.key, ring.name if ring else None, context.now)
        ],
        "next_action": _next(actions),
        "actions": [a.to_json() for a in actions],
        "requests": [
            r.to_json() for r in context.requests if r.active(context.now) and _pending(r, cluster)
        ],
        "findings": [f.to_json() for f in context.result.findings if f.cluster.key == cluster.key],
        "posture": context.posture.get(cluster.key, []),
    }


def _pool(pool: PoolState, operations: list[Operation], now: dt.datetime) -> dict[str, Any]:
    built = pool.node_image.build_date
    age = (now - dt.datetime.combine(built, dt.time(), dt.UTC)).days
    return {
        "name": pool.name,
        "os": pool.os_type,
        "mode": pool.mode,
        "count": pool.count,
        "kubernetes_version": str(pool.version),
        "node_image": str(pool.node_image),
        "node_image_built": built.isoformat(),
        "patch_age_days": max(age, 0),
        "last_operation": _last(operations, pool.name),
    }


def _last(operations: list[Operation], pool: str | None) -> dict[str, Any] | None:
    """The latest ledger record of the control plane (pool None) or of one pool."""
    mine = [op for op in operations if op.key.pool == pool]
    if not mine:
        return None
    op = max(mine, key=lambda o: (o.updated_at, o.claimed_at))
    return {"kind": op.key.kind, "target": op.key.target, **operation_json(op)}


def operation_json(op: Operation) -> dict[str, Any]:
    """A ledger record as the API shows it: its state, who asked and why, when, what failed."""
    return {
        "state": op.state,
        "actor": op.actor,
        "reason": op.reason,
        "claimed_at": iso(op.claimed_at),
        "started_at": iso(op.started_at),
        "finished_at": iso(op.finished_at),
        "error": str(op.error) if op.error else None,
    }


def _pending(request: Requested, cluster: ClusterState) -> bool:
    """A manual request for this cluster whose target is not reached yet."""
    if request.cluster != cluster.key:
        return False
    if request.pool is None:
        return request.target != str(cluster.kubernetes_version)
    pool = cluster.pool(request.pool)
    if pool is None:
        return False
    current = pool.version if request.kind == "kubernetes" else pool.node_image
    return request.target != str(current)


def _next(actions: list[Action]) -> dict[str, Any] | None:
    """The first action that will run: due ones first, then the earliest window."""
    upcoming = [a for a in actions if a.status in ("due", "scheduled") and a.not_before]
    if not upcoming:
        return None
    first = min(upcoming, key=lambda a: (a.status != "due", a.not_before))
    return first.to_json()
