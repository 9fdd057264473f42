"""Ring gates for the use cases: keep each cluster's contributions, read what can hold it.

A cluster's plan needs only what the rings before its own reached
(:mod:`patchpilot.domain.gates`), so a reconcile reads those gates' sums: one
query per earlier ring and subject (Kubernetes, and each image family of its
pools), whatever the fleet's size. The sums stay current because whoever
reads a cluster's own history (its reconcile, or a sweep that saw it change
or plans it) also puts the cluster's tallies in its own ring's gates.

Sums are kept per generation of ring membership
(:func:`patchpilot.domain.gates.generation`). A new generation (the first
deployment, or a policy that moves clusters between rings) starts empty, and
an empty gate would read as "no earlier ring": so until every subscription's
sweep shard has put all its clusters into the new generation
(:func:`mark_built`), plans hold every ring that has an earlier one
(:data:`REBUILDING`), and first rings go on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from typing import Any, Final

from patchpilot.adapters.store import Store, load_own_history
from patchpilot.domain.fleet import ClusterState, RegionCatalog, cluster_document
from patchpilot.domain.gates import (
    KUBERNETES,
    GateKey,
    Tally,
    contributions,
    generation,
)
from patchpilot.domain.history import History, Kind
from patchpilot.domain.plan import iso
from patchpilot.domain.policy import Policy
from patchpilot.domain.promotion import straggler_subjects
from patchpilot.service.snapshots import stored_regions

# Snapshot kinds: shards done with a generation (one row per subscription), and the
# generations every shard is done with (one row each).
BUILT: Final = "gatebuilt"
COMPLETE: Final = "gatecomplete"
REBUILDING: Final = (
    "ring gates are being rebuilt for this policy's rings (a first deployment, or rings "
    "changed); the sweep of every subscription finishes it, and until then no ring "
    "takes what an earlier ring soaked"
)


def gates_before(policy: Policy, cluster: ClusterState) -> set[GateKey]:
    """The gates that can hold a cluster: every earlier ring, for each subject it has."""
    ring = policy.ring_of(cluster.tags)
    if ring is None:
        return set()
    subjects = {KUBERNETES} | {pool.node_image.family for pool in cluster.pools}
    return {
        (earlier.name, subject) for earlier in policy.rings_before(ring) for subject in subjects
    }


def load_gates(
    store: Store, policy: Policy, clusters: Iterable[ClusterState]
) -> tuple[dict[GateKey, Tally], str | None]:
    """The stored sums of every gate that can hold one of these clusters, and any hold.

    The hold is :data:`REBUILDING` while this generation is not complete.
    """
    current = generation(policy)
    if store.get_snapshot(COMPLETE, current) is None:
        return {}, REBUILDING
    wanted: set[GateKey] = set()
    for cluster in clusters:
        wanted |= gates_before(policy, cluster)
    return store.read_gates(wanted, current), None


def built(store: Store, policy: Policy, subscription: str) -> bool:
    """True once this subscription's shard put all its clusters in the current generation."""
    return store.get_snapshot(f"{BUILT}~{generation(policy)}", subscription) is not None


def mark_built(
    store: Store,
    policy: Policy,
    subscription: str,
    subscriptions: Collection[str],
    now: dt.datetime,
) -> bool:
    """Record a shard done with the generation; True when that completes it for all."""
    current = generation(policy)
    kind = f"{BUILT}~{current}"
    store.put_snapshot(kind, subscription, json.dumps({"at": iso(now)}), now)
    done = {key for key, _ in store.list_snapshots(kind)}
    if not set(subscriptions) <= done:
        return False
    store.put_snapshot(COMPLETE, current, json.dumps({"at": iso(now)}), now)
    return True


def keep_contributions(
    store: Store,
    policy: Policy,
    cluster: ClusterState,
    region: RegionCatalog,
    history: History,
    *,
    now: dt.datetime,
) -> int:
    """Put the cluster's tallies in its ring's gates (none outside a ring); gates changed.

    `history` is the cluster's own (its unresolved failures count). The
    tallies are computed only when what they are computed from changed since
    the last time (:func:`_inputs`): an unchanged cluster costs one point
    read, and its progress partition is not read at all.
    """
    ring = policy.ring_of(cluster.tags)
    current = generation(policy)
    if ring is None:
        return store.set_contributions(cluster.key, {}, current)
    name = ring.name
    stragglers = straggler_subjects(cluster, policy, now)

    def tallies() -> dict[GateKey, Tally]:
        # What contributions read: the cluster's own Kubernetes arrivals and each pool's
        # images, one summary row each (never the cluster's whole progress partition).
        subjects: list[tuple[str | None, Kind]] = [(None, "kubernetes")]
        subjects += [(pool.name, "node_image") for pool in cluster.pools]
        reached = store.list_arrivals(cluster.key, subjects)
        failures = history.failures
        return contributions(cluster, name, reached, failures, region, stragglers=stragglers)

    inputs = _inputs(cluster, name, history, region, stragglers=stragglers)
    return store.set_contributions(cluster.key, tallies, current, inputs=inputs)


def _inputs(
    cluster: ClusterState,
    ring: str,
    history: History,
    region: RegionCatalog,
    *,
    stragglers: frozenset[str],
) -> str:
    """A fingerprint of what a cluster's tallies follow from.

    Its picture (versions and images it runs, tags), its ring, its unresolved
    failures, the release days its region's catalog gives what it runs, and
    the subjects it straggles in (its windows under the policy's rule).
    Its arrivals are recorded when its picture changes, so they need no part.
    """
    released = [str(region.kubernetes_released(cluster.kubernetes_version))]
    released += [str(region.image_released(pool.node_image)) for pool in cluster.pools]
    failures = sorted(
        (f.pool or "", f.kind, f.target, f.at.isoformat(), f.message) for f in history.failures
    )
    document = [ring, cluster_document(cluster), failures, released, sorted(stragglers)]
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def kept_history(
    store: Store, policy: Policy, cluster: ClusterState, region: RegionCatalog, now: dt.datetime
) -> History:
    """A cluster's own history, its tallies put in its ring's gates on the way.

    Whoever reads a cluster's own past keeps its tallies current with it: the
    reconcile, an operator's upgrade, and the sweep for the clusters it reads.
    """
    own = load_own_history(store, cluster.key, now)
    keep_contributions(store, policy, cluster, region, own, now=now)
    return own


def planning_history(
    store: Store, policy: Policy, cluster: ClusterState, region: RegionCatalog, now: dt.datetime
) -> History:
    """A cluster's own history with the gates that can hold it, its tallies kept on the way.

    What a reconcile and an operator's upgrade plan one cluster with: its own
    partitions and a few gate rows, never the fleet.
    """
    own = kept_history(store, policy, cluster, region, now)
    gates, hold = load_gates(store, policy, [cluster])
    return replace(own, gates=gates, gates_hold=hold)


def with_gate_regions(
    store: Store, gates: Mapping[GateKey, Tally] | None, regions: Mapping[str, Any]
) -> dict[str, Any]:
    """`regions` and the stored catalogs of every other region the gates' members are in.

    A gate waits, for each target, only for the members whose region offers
    it (:meth:`Tally.needed_for`), so a plan needs those regions' catalogs: a
    point read each for the few regions a ring spans, whatever the fleet's size.
    """
    wanted = {region for tally in (gates or {}).values() for region in tally.regions}
    missing = sorted(wanted - set(regions))
    return {**regions, **stored_regions(store, missing)} if missing else dict(regions)


def forget_contributions(store: Store, policy: Policy, cluster: str) -> int:
    """Take a cluster out of every gate (it is gone): its rings stop waiting on it."""
    return store.set_contributions(cluster, {}, generation(policy), inputs=None)
