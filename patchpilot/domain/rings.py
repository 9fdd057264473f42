"""Ring progress: what an earlier ring has soaked, and since when.

Invariants 5 and 7 of DESIGN.md: a ring gets a target only after every
cluster (for Kubernetes) or every pool of the image family (for node images)
of the ring before it reached that target with no failure, and the ring's
`soak_days` have passed since the last of them did. A later ring gets exactly
what the earlier ring soaked. The gate is the nearest earlier ring that has
members for the subject; with none, the first ring's rule applies (soak from
the day AKS offered the target).

"Reached" is known from history records; a cluster or pool observed on a
version with no record counts as having reached it when AKS first offered it
(offline plans have no history; live plans do, from the ledger).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from patchpilot.domain.fleet import ClusterState, FleetState
from patchpilot.domain.history import History, Kind
from patchpilot.domain.node_images import NodeImageVersion, parse_node_image
from patchpilot.domain.policy import Policy, Ring
from patchpilot.domain.versions import KubernetesVersion


@dataclass(frozen=True)
class Soaked:
    """Targets that every member of a gating ring reached, with the last arrival time each."""

    ring: str
    targets: dict[str, dt.datetime | None]
    failures: tuple[str, ...]
    summary: str
    versions: tuple[KubernetesVersion, ...] = ()
    images: tuple[NodeImageVersion, ...] = ()


class RingProgress:
    """Answers "what has the ring before this one soaked?" once per ring and subject.

    Results are memoised for one plan, so a fleet of 10,000 clusters costs one
    pass per ring and image family instead of one per pool.
    """

    def __init__(self, fleet: FleetState, policy: Policy, history: History) -> None:
        self._fleet = fleet
        self._policy = policy
        self._members: dict[str, list[ClusterState]] = defaultdict(list)
        for cluster in fleet.clusters:
            ring = policy.ring_of(cluster.tags)
            if ring is not None:
                self._members[ring.name].append(cluster)
        self._reached: dict[tuple[str, str | None, Kind], dict[str, dt.datetime]] = defaultdict(
            dict
        )
        for record in history.reached:
            times = self._reached[(record.cluster, record.pool, record.kind)]
            times[record.target] = min(record.at, times.get(record.target, record.at))
        self._failures = history.failures
        self._memo: dict[tuple[str, str], Soaked | None] = {}

    def ring_of(self, cluster: ClusterState) -> Ring | None:
        """The ring a cluster belongs to."""
        return self._policy.ring_of(cluster.tags)

    def kubernetes(self, ring: Ring) -> Soaked | None:
        """What the nearest earlier ring with clusters soaked; None for a first ring."""
        return self._gate(ring, "kubernetes", self._kubernetes_soaked)

    def node_image(self, ring: Ring, family: str) -> Soaked | None:
        """What the nearest earlier ring with pools of `family` soaked; None for a first ring."""
        return self._gate(ring, family, lambda gate: self._image_soaked(gate, family))

    def _gate(
        self, ring: Ring, subject: str, soak: Callable[[Ring], Soaked | None]
    ) -> Soaked | None:
        key = (ring.name, subject)
        if key not in self._memo:
            self._memo[key] = None
            earlier = self._policy.ring_before(ring)
            while earlier is not None and self._memo[key] is None:
                self._memo[key] = soak(earlier)
                earlier = self._policy.ring_before(earlier)
        return self._memo[key]

    def _kubernetes_soaked(self, gate: Ring) -> Soaked | None:
        clusters = self._members.get(gate.name, [])
        if not clusters:
            return None
        per_member = [self._cluster_reached(cluster) for cluster in clusters]
        on = sorted({str(cluster.kubernetes_version) for cluster in clusters})
        summary = f"ring {gate.name} is on {', '.join(on)}"
        failed = self._failed(clusters, None, "kubernetes")
        targets = _common(per_member)
        versions = tuple(sorted(map(KubernetesVersion.parse, targets)))
        return Soaked(gate.name, targets, failed, summary, versions=versions)

    def _image_soaked(self, gate: Ring, family: str) -> Soaked | None:
        pools = [
            (cluster, pool)
            for cluster in self._members.get(gate.name, [])
            for pool in cluster.pools
            if pool.node_image.family == family
        ]
        if not pools:
            return None
        per_member = [
            self._pool_reached(cluster, pool.name, pool.node_image) for cluster, pool in pools
        ]
        on = sorted({pool.node_image.version for _, pool in pools})
        summary = f"ring {gate.name}'s {family} pools are on {', '.join(on)}"
        clusters = [cluster for cluster, _ in pools]
        failed = self._failed(clusters, family, "node_image")
        targets = _common(per_member)
        images = sorted(map(parse_node_image, targets), key=lambda image: image.sort_key)
        return Soaked(gate.name, targets, failed, summary, images=tuple(images))

    def _cluster_reached(self, cluster: ClusterState) -> dict[str, dt.datetime | None]:
        """Versions the whole cluster reached (control plane and every pool)."""
        reached: dict[str, dt.datetime | None] = dict(
            self._reached[(cluster.key, None, "kubernetes")]
        )
        current = cluster.kubernetes_version
        if all(pool.version == current for pool in cluster.pools):
            reached.setdefault(
                str(current), self._fleet.region(cluster.location).kubernetes_released(current)
            )
        return reached

    def _pool_reached(
        self, cluster: ClusterState, pool: str, image: NodeImageVersion
    ) -> dict[str, dt.datetime | None]:
        reached: dict[str, dt.datetime | None] = dict(
            self._reached[(cluster.key, pool, "node_image")]
        )
        released = self._fleet.region(cluster.location).image_released(image)
        reached.setdefault(str(image), released)
        return reached

    def _failed(
        self, clusters: Iterable[ClusterState], family: str | None, kind: Kind
    ) -> tuple[str, ...]:
        keys = {cluster.key: cluster.id.name for cluster in clusters}
        return tuple(
            sorted(
                f"{keys[f.cluster]}{'/' + f.pool if f.pool else ''} failed {f.target}: {f.message}"
                for f in self._failures
                if f.cluster in keys
                and f.kind == kind
                and (family is None or f.target.startswith(family + "-"))
            )
        )


def _common(per_member: list[dict[str, dt.datetime | None]]) -> dict[str, dt.datetime | None]:
    """Targets every member reached, each with the latest arrival (None: unknown, long ago)."""
    shared = set(per_member[0]).intersection(*per_member[1:])
    result: dict[str, dt.datetime | None] = {}
    for target in shared:
        times = [t for member in per_member if (t := member[target]) is not None]
        result[target] = max(times) if times else None
    return result
