"""Ring gates for the use cases: keep each cluster's contributions, read what can hold it.

A cluster's plan needs only what the rings before its own reached
(:mod:`patchpilot.domain.gates`), so a reconcile reads those gates' sums: one
query per earlier ring and subject (Kubernetes, and each image family of its
pools), whatever the fleet's size. The sums stay current because whoever
reads a cluster's own history (its reconcile, or a sweep that saw it change)
also puts the cluster's tallies in its own ring's gates.
"""

from __future__ import annotations

from collections.abc import Iterable

from patchpilot.adapters.store import Store
from patchpilot.domain.fleet import ClusterState, RegionCatalog
from patchpilot.domain.gates import KUBERNETES, GateKey, Tally, contributions
from patchpilot.domain.history import History
from patchpilot.domain.policy import Policy


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
) -> dict[GateKey, Tally]:
    """The stored sums of every gate that can hold one of these clusters."""
    wanted: set[GateKey] = set()
    for cluster in clusters:
        wanted |= gates_before(policy, cluster)
    return store.read_gates(wanted)


def keep_contributions(
    store: Store, policy: Policy, cluster: ClusterState, region: RegionCatalog, history: History
) -> int:
    """Put the cluster's tallies in its ring's gates (none outside a ring); gates changed.

    `history` is the cluster's own (reached targets, unresolved failures). An
    unchanged cluster costs one point read.
    """
    ring = policy.ring_of(cluster.tags)
    if ring is None:
        return store.set_contributions(cluster.key, {})
    own = contributions(cluster, ring.name, history.reached, history.failures, region)
    return store.set_contributions(cluster.key, own)


def forget_contributions(store: Store, cluster: str) -> int:
    """Take a cluster out of every gate (it is gone): its rings stop waiting on it."""
    return store.set_contributions(cluster, {})
