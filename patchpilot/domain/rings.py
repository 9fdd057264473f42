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
from dataclasses import dataclass

from patchpilot.domain.fleet import ClusterState, FleetState
from patchpilot.domain.gates import KUBERNETES, GateKey, Tally, contributions
from patchpilot.domain.history import Failure, History, Reached
from patchpilot.domain.node_images import NodeImageVersion, parse_node_image
from patchpilot.domain.policy import Policy, Ring
from patchpilot.domain.promotion import straggler_subjects
from patchpilot.domain.rollout import offer_times, opened
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

    From the stored gate sums when the history carries them (a reconcile
    reads a few rows, whatever the fleet's size), else from the fleet's own
    members, summed the same way (offline plans and tests). Results are
    memoised for one plan.
    """

    def __init__(
        self, fleet: FleetState, policy: Policy, history: History, now: dt.datetime
    ) -> None:
        self._policy = policy
        self._hold = history.gates_hold
        gates = history.gates
        self._gates = dict(gates) if gates is not None else _summed(fleet, policy, history, now)
        self._memo: dict[tuple[str, str], Soaked | None] = {}
        self._catalog, self._now = fleet.catalog, now

    def opened(
        self, tally: Tally, subject: str, target: str, *, or_newer: bool = False
    ) -> tuple[bool, dt.datetime | None]:
        """Whether a gate opened for a target region by region, and since when (:mod:`.rollout`)."""
        offers = offer_times(self._catalog, tally.regions, subject, target, self._now)
        return opened(tally, subject, target, offers, or_newer=or_newer)

    def ring_of(self, cluster: ClusterState) -> Ring | None:
        """The ring a cluster belongs to."""
        return self._policy.ring_of(cluster.tags)

    def kubernetes(self, ring: Ring) -> Soaked | None:
        """What the nearest earlier ring with clusters soaked; None for a first ring."""
        return self._gate(ring, KUBERNETES)

    def node_image(self, ring: Ring, family: str) -> Soaked | None:
        """What the nearest earlier ring with pools of `family` soaked; None for a first ring."""
        return self._gate(ring, family)

    def first_ring(self, subject: str) -> Tally | None:
        """The first ring's gate for a subject (every member counted), for the canary check.

        None while a generation is rebuilt or when the first ring has no member for it.
        """
        if self._hold is not None:
            return None
        tally = self._gates.get((self._policy.first_ring.name, subject))
        return tally if tally is not None and tally.members > 0 else None

    def _soaked(self, ring: str, subject: str, tally: Tally) -> Soaked:
        targets: dict[str, dt.datetime | None] = {}
        if tally.members > 0:
            for target in tally.reached:
                is_open, since = self.opened(tally, subject, target)
                if is_open:
                    targets[target] = since
        return _soaked_summary(ring, subject, tally, targets)

    def _gate(self, ring: Ring, subject: str) -> Soaked | None:
        key = (ring.name, subject)
        if self._hold is not None:
            earlier = self._policy.ring_before(ring)
            return None if earlier is None else Soaked(earlier.name, {}, (), self._hold)
        if key not in self._memo:
            self._memo[key] = None
            earlier = self._policy.ring_before(ring)
            while earlier is not None and self._memo[key] is None:
                tally = self._gates.get((earlier.name, subject))
                if tally is not None and tally.members > 0:
                    self._memo[key] = self._soaked(earlier.name, subject, tally)
                earlier = self._policy.ring_before(earlier)
        return self._memo[key]


def _summed(
    fleet: FleetState, policy: Policy, history: History, now: dt.datetime
) -> dict[GateKey, Tally]:
    """Every gate of the fleet, summed from its members' contributions."""
    reached: dict[str, list[Reached]] = defaultdict(list)
    for record in history.reached:
        reached[record.cluster].append(record)
    failures: dict[str, list[Failure]] = defaultdict(list)
    for failure in history.failures:
        failures[failure.cluster].append(failure)
    sums: dict[GateKey, Tally] = {}
    for cluster in fleet.clusters:
        ring = policy.ring_of(cluster.tags)
        if ring is None:
            continue
        region = fleet.region(cluster.location)
        stragglers = straggler_subjects(cluster, policy, now)
        own = contributions(
            cluster,
            ring.name,
            reached[cluster.key],
            failures[cluster.key],
            region,
            stragglers=stragglers,
        )
        for key, tally in own.items():
            sums[key] = sums[key].plus(tally, key[1]) if key in sums else tally
    return sums


def _soaked_summary(
    ring: str, subject: str, tally: Tally, targets: dict[str, dt.datetime | None]
) -> Soaked:
    on = ", ".join(sorted(tally.on))
    if subject == KUBERNETES:
        versions = tuple(sorted(map(KubernetesVersion.parse, targets)))
        summary = f"ring {ring} is on {on}"
        return Soaked(ring, targets, tally.failure_lines(), summary, versions=versions)
    images = sorted(map(parse_node_image, targets), key=lambda image: image.sort_key)
    summary = f"ring {ring}'s {subject} pools are on {on}"
    return Soaked(ring, targets, tally.failure_lines(), summary, images=tuple(images))
