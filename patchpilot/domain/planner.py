"""The planner: what may be upgraded, to what, and when, for a whole fleet.

`plan(fleet, policy, history, now)` is pure: the same inputs give the same
plan whatever the order of clusters or pools, and nothing here reads a clock.
It enforces invariants 1, 4, 5, 6 and 7 of DESIGN.md and never fights AKS: a
kind of upgrade that a cluster's own AKS channel manages gets a blocked action
saying so, plus a finding.

Each candidate upgrade is first drafted (what, to which target, which time
gates), then finished: the first block of :data:`.blocks.BLOCKS` that speaks
(AKS's channel, an alert, a hold, a pause, a failure, ...), else the first
allowed window, decides its status and reason.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, replace

from patchpilot.domain.aks_maintenance import Blackout, blackouts
from patchpilot.domain.blocks import AKS_MANAGED, Candidate, first_block
from patchpilot.domain.cadence import covered_patch_tuesday, windows_due_from
from patchpilot.domain.fleet import (
    ClusterState,
    FleetState,
    PoolState,
)
from patchpilot.domain.gates import KUBERNETES
from patchpilot.domain.history import History, Kind, Requested
from patchpilot.domain.node_images import NodeImageVersion
from patchpilot.domain.plan import Action, Finding, Plan, iso
from patchpilot.domain.policy import Policy, Ring
from patchpilot.domain.promotion import GAP_SPAN, day_start, longest_gap, window_schedule
from patchpilot.domain.resource_ids import in_scopes
from patchpilot.domain.rings import RingProgress, Soaked
from patchpilot.domain.schedule import Schedule
from patchpilot.domain.versions import (
    KubernetesVersion,
    OfferedVersion,
    channel_target,
    minor_distance,
    next_step,
)
from patchpilot.domain.windows import Window, subtract

# How far ahead the planner looks for an allowed window before it gives up.
HORIZON = dt.timedelta(days=366)
_AKS_KUBERNETES_CHANNELS = ("patch", "stable", "rapid")


@dataclass(frozen=True)
class _Draft:
    """A candidate upgrade before windows and cluster-wide blocks are applied."""

    pool: str | None
    kind: Kind
    current: str
    target: str | None
    why: str
    blocked: str | None = None
    gates: tuple[tuple[dt.datetime, str], ...] = ()
    # The earlier ring whose progress `blocked` waits for (a ring gate), for the critical path.
    waits_on: str | None = None


@dataclass(frozen=True)
class _Aim:
    """Where a cluster's channel points, what the region offers, and how to say so."""

    final: KubernetesVersion
    offered: tuple[OfferedVersion, ...]
    why: str


class _Planner:
    """Holds one plan's inputs and memos; built and thrown away by :func:`plan`."""

    def __init__(
        self, fleet: FleetState, policy: Policy, history: History, now: dt.datetime
    ) -> None:
        self.fleet, self.policy, self.history, self.now = fleet, policy, history, now
        self.rings = RingProgress(fleet, policy, history, now)
        self.findings: list[Finding] = []
        self.requests: dict[tuple[str, str | None, Kind], Requested] = {}
        for request in sorted(history.requests, key=lambda r: r.at):
            if request.active(now):
                self.requests[(request.cluster, request.pool, request.kind)] = request

    def cluster(self, cluster: ClusterState) -> list[Action]:
        """Every action for one cluster, control plane first, then pools in order."""
        if not in_scopes(cluster.id, self.policy.scopes):
            self._find(cluster, None, "out_of_scope", "outside the policy's scopes: never touched")
            return []
        ring = self.rings.ring_of(cluster)
        if ring is None:
            self._find(cluster, None, "no_ring", "matches no ring of the policy: not planned")
            return []
        self._check_gate_pace(cluster, ring)
        for unmanaged in cluster.unmanaged:
            self._find(cluster, unmanaged.name, "unmanaged_pool", unmanaged.reason)
        drafts = self._requested_kubernetes(cluster, ring, self._kubernetes(cluster, ring))
        upgrading_pools = {d.pool for d in drafts if d.pool is not None and d.blocked is None}
        for pool in _ordered(cluster.pools):
            draft = self._node_image(cluster, ring, pool)
            if draft is not None and pool.name in upgrading_pools and draft.blocked is None:
                draft = replace(
                    draft,
                    blocked="comes with the pool's Kubernetes upgrade "
                    "(AKS moves a pool to the latest node image when it upgrades its version)",
                )
            if draft is not None:
                drafts.append(draft)
        return [self._finish(cluster, ring, draft) for draft in _in_order(drafts, cluster)]

    # Kubernetes -----------------------------------------------------------------

    def _kubernetes(self, cluster: ClusterState, ring: Ring) -> list[_Draft]:
        channel = self.policy.kubernetes.channel
        if channel == "none":
            return []
        drafts: list[_Draft] = []
        control_plane = self._control_plane(cluster, ring)
        if control_plane is not None:
            drafts.append(control_plane)
        drafts.extend(self._pools_follow(cluster))
        if cluster.auto_upgrade_channel in _AKS_KUBERNETES_CHANNELS:
            managed = f"{AKS_MANAGED} auto-upgrade channel {cluster.auto_upgrade_channel}"
            self._find(
                cluster,
                None,
                "aks_channel_overlap",
                f"Kubernetes upgrades {managed}: "
                "Patch Pilot leaves them to AKS (set the channel to none to hand them over)",
            )
            drafts = [replace(d, blocked=managed, waits_on=None) for d in drafts]
        return drafts

    def _offered_kubernetes(self, cluster: ClusterState) -> tuple[OfferedVersion, ...]:
        """What the region offers, less the versions the policy skips fleet-wide."""
        offered = self.fleet.region(cluster.location).kubernetes_at(self.now)
        return tuple(o for o in offered if not self.policy.skipped("kubernetes", str(o.version)))

    def _control_plane(self, cluster: ClusterState, ring: Ring) -> _Draft | None:
        policy = self.policy.kubernetes
        offered = self._offered_kubernetes(cluster)
        current = cluster.kubernetes_version
        final = channel_target(policy.channel, current, offered, allow_preview=policy.allow_preview)
        skipped = self._skipped_kubernetes_target(cluster, final)
        if final is None:
            if skipped is None:
                return None
            return _Draft(None, "kubernetes", str(current), None, skipped, blocked=skipped)
        why = f"channel {policy.channel} aims at {final}" + (f" ({skipped})" if skipped else "")
        aim = _Aim(final, offered, why)
        soaked = self.rings.kubernetes(ring)
        if soaked is None:
            return self._first_ring_step(cluster, ring, aim)
        return self._later_ring_step(cluster, ring, soaked, aim)

    def _skipped_kubernetes_target(
        self, cluster: ClusterState, final: KubernetesVersion | None
    ) -> str | None:
        """Say so when the version the channel would pick is one the policy skips."""
        if not self.policy.skips:
            return None  # the common case: no second channel computation per cluster
        policy = self.policy.kubernetes
        offered = self.fleet.region(cluster.location).kubernetes_at(self.now)
        current = cluster.kubernetes_version
        unskipped = channel_target(
            policy.channel, current, offered, allow_preview=policy.allow_preview
        )
        skip = self.policy.skipped("kubernetes", str(unskipped)) if unskipped else None
        if skip is None or unskipped == final:
            return None
        return f"{skip.version} is skipped by policy: {skip.reason}"

    def _first_ring_step(self, cluster: ClusterState, ring: Ring, aim: _Aim) -> _Draft:
        current = cluster.kubernetes_version
        allow_preview = self.policy.kubernetes.allow_preview
        step = next_step(current, aim.final, aim.offered, allow_preview=allow_preview)
        draft = _Draft(None, "kubernetes", str(current), str(step) if step else None, aim.why)
        if step is None:
            minor = f"{current.major}.{current.minor + 1}"
            return replace(
                draft,
                blocked=f"AKS offers no {minor} version in {cluster.location} "
                f"to step through on the way to {aim.final} (minors are never skipped)",
            )
        released = self.fleet.region(cluster.location).kubernetes_released(step)
        gates = _soak_gate(ring, released, "AKS offered it")
        return self._skew_checked(cluster, replace(draft, gates=gates))

    def _later_ring_step(
        self, cluster: ClusterState, ring: Ring, soaked: Soaked, aim: _Aim
    ) -> _Draft:
        current = cluster.kubernetes_version
        allow_preview = self.policy.kubernetes.allow_preview
        offered_now = {o.version for o in aim.offered if allow_preview or not o.preview}
        candidates = [
            version
            for version in soaked.versions
            if current < version <= aim.final
            and minor_distance(current, version) <= 1
            and version in offered_now
        ]
        draft = _Draft(None, "kubernetes", str(current), None, aim.why)
        if soaked.failures:
            return replace(draft, blocked=f"ring {soaked.ring} had a failure: {soaked.failures[0]}")
        if not candidates:
            return replace(
                draft,
                blocked=f"ring {ring.name} waits for ring {soaked.ring} to soak a version "
                f"on the way to {aim.final} ({soaked.summary})",
                waits_on=soaked.ring,
            )
        target = candidates[-1]
        reached = f"ring {soaked.ring} reached {target}"
        draft = replace(
            draft,
            target=str(target),
            why=f"ring {soaked.ring} soaked {target}; {aim.why}",
            gates=_soak_gate(ring, soaked.targets[str(target)], reached),
        )
        return self._canaried(ring, KUBERNETES, self._skew_checked(cluster, draft))

    def _skew_checked(self, cluster: ClusterState, draft: _Draft) -> _Draft:
        """Block a control plane step that would leave a pool too many minors behind."""
        if draft.target is None:
            return draft
        target = KubernetesVersion.parse(draft.target)
        limit = self.policy.kubernetes.max_skew_minors
        for pool in _ordered(cluster.pools):
            lag = minor_distance(pool.version, target)
            if lag > limit:
                return replace(
                    draft,
                    blocked=f"pool {pool.name} on {pool.version} would lag {lag} "
                    f"minors behind {target} (limit {limit}): it is upgraded first",
                )
        return draft

    def _pools_follow(self, cluster: ClusterState) -> list[_Draft]:
        """Pools behind their control plane move toward its version, one minor at a time.

        AKS: "When you upgrade a supported AKS cluster, Kubernetes minor versions
        can't be skipped" (Upgrade the AKS cluster control plane), pools included.
        """
        drafts = []
        control_plane = cluster.kubernetes_version
        offered = self._offered_kubernetes(cluster)
        for pool in _ordered(cluster.pools):
            if pool.version < control_plane:
                step = next_step(pool.version, control_plane, offered, allow_preview=True)
                why = f"pool follows its control plane on {control_plane}"
                draft = _Draft(pool.name, "kubernetes", str(pool.version), _text(step), why)
                if step is None:
                    minor = f"{pool.version.major}.{pool.version.minor + 1}"
                    draft = replace(
                        draft,
                        blocked=f"AKS offers no {minor} version in "
                        f"{cluster.location} to step through (minors are never skipped)",
                    )
                drafts.append(draft)
            elif pool.version > cluster.kubernetes_version:
                self._find(
                    cluster,
                    pool.name,
                    "pool_newer_than_control_plane",
                    f"pool on {pool.version} is newer than its control plane "
                    f"{cluster.kubernetes_version}, which AKS does not allow",
                )
        return drafts

    # Upgrades people asked for ----------------------------------------------------------

    def _requested_kubernetes(
        self, cluster: ClusterState, ring: Ring, drafts: list[_Draft]
    ) -> list[_Draft]:
        """Put each Kubernetes request in place of the channel's choice for its subject."""
        for pool in (None, *(p.name for p in _ordered(cluster.pools))):
            request = self.requests.get((cluster.key, pool, "kubernetes"))
            wanted = self._kubernetes_request(cluster, ring, request) if request else None
            if wanted is None:
                continue
            drafts = [d for d in drafts if not (d.pool == pool and d.kind == "kubernetes")]
            if cluster.auto_upgrade_channel in _AKS_KUBERNETES_CHANNELS:
                managed = f"{AKS_MANAGED} auto-upgrade channel {cluster.auto_upgrade_channel}"
                wanted = replace(wanted, blocked=managed, waits_on=None)
            drafts.append(wanted)
        return drafts

    def _kubernetes_request(
        self, cluster: ClusterState, ring: Ring, request: Requested
    ) -> _Draft | None:
        """A requested version under the version and ring rules; None once it is reached."""
        target = KubernetesVersion.parse(request.target)
        pool = cluster.pool(request.pool)
        current = cluster.kubernetes_version if request.pool is None else None
        if pool is not None:
            current = pool.version
        if current is None or (current.major == target.major and target <= current):
            return None
        draft = _Draft(request.pool, "kubernetes", str(current), str(target), _asked(request))
        refusal = self._version_refusal(cluster, current, target)
        if refusal is None and pool is not None and target > cluster.kubernetes_version:
            refusal = (
                f"the control plane is on {cluster.kubernetes_version}: control plane "
                "first, a pool is never newer than its control plane"
            )
        if refusal is not None or pool is not None:
            return replace(draft, blocked=refusal)
        return self._requested_control_plane(cluster, ring, draft, target)

    def _requested_control_plane(
        self, cluster: ClusterState, ring: Ring, draft: _Draft, target: KubernetesVersion
    ) -> _Draft:
        """The ring rules for a requested control plane version (the first ring soaks too)."""
        offered = self._offered_kubernetes(cluster)
        aim = _Aim(target, offered, draft.why)
        soaked = self.rings.kubernetes(ring)
        if soaked is None:
            stepped = self._first_ring_step(cluster, ring, aim)
        else:
            stepped = self._later_ring_step(cluster, ring, soaked, aim)
        if stepped.blocked is None and stepped.target != str(target):
            gate = soaked.ring if soaked else "the previous ring"
            stepped = replace(
                stepped,
                blocked=f"ring {ring.name} waits for ring {gate} to soak {target}",
                waits_on=soaked.ring if soaked else None,
            )
        return replace(stepped, target=str(target), why=draft.why)

    def _version_refusal(
        self, cluster: ClusterState, current: KubernetesVersion, target: KubernetesVersion
    ) -> str | None:
        """Why AKS's version rules forbid going from current to target here, if they do."""
        offered = {o.version: o.preview for o in self._offered_kubernetes(cluster)}
        if target.major != current.major:
            return f"{target} is another major version than {current}"
        skip = self.policy.skipped("kubernetes", str(target))
        if skip is not None:
            return f"{target} is skipped by policy: {skip.reason}"
        if target not in offered:
            return f"AKS does not offer {target} in {cluster.location}"
        if offered[target] and not self.policy.kubernetes.allow_preview:
            return f"{target} is a preview version and the policy does not allow previews"
        if minor_distance(current, target) > 1:
            return (
                f"{target} would skip a minor from {current} (minors are never skipped: "
                f"{current.major}.{current.minor + 1} comes first)"
            )
        return None

    # Node images ------------------------------------------------------------------

    def _node_image(self, cluster: ClusterState, ring: Ring, pool: PoolState) -> _Draft | None:
        request = self.requests.get((cluster.key, pool.name, "node_image"))
        if request is not None and request.target == str(pool.node_image):
            request = None
        if request is None and not self._image_policy_enabled(pool):
            return None
        current = pool.node_image
        offered = self.fleet.region(cluster.location).images_at(current.family, self.now)
        latest = offered[-1] if offered else None
        skip = self.policy.skipped("node_image", str(latest)) if latest else None
        if latest is not None and skip is not None and latest.newer_than(current):
            # AKS upgrades a node image only to the latest: nothing else can be chosen.
            why = f"AKS's latest image {latest.version} is skipped by policy: {skip.reason}"
            blocked = f"{why}; waits for a newer image"
            return _Draft(pool.name, "node_image", str(current), None, why, blocked=blocked)
        soaked = self.rings.node_image(ring, current.family)
        if soaked is None:
            draft = self._first_ring_image(cluster, ring, pool, latest)
        else:
            draft = self._later_ring_image(ring, pool, soaked, latest)
        if draft is None:
            return None
        if request is not None:
            draft = replace(draft, why=f"{_asked(request)}; {draft.why}")
        # AKS's own channel outranks every other reason: Patch Pilot never acts there.
        managed = self._image_manager(cluster, pool)
        return replace(draft, blocked=managed, waits_on=None) if managed else draft

    def _first_ring_image(
        self, cluster: ClusterState, ring: Ring, pool: PoolState, latest: NodeImageVersion | None
    ) -> _Draft | None:
        if latest is None or not latest.newer_than(pool.node_image):
            return None
        released = self.fleet.region(cluster.location).image_released(latest)
        gates = _soak_gate(ring, released, "AKS offered it") + self._windows_gate(pool, latest)
        why = f"AKS offers {latest.version} in {cluster.location}"
        return _Draft(pool.name, "node_image", str(pool.node_image), str(latest), why, gates=gates)

    def _later_ring_image(
        self, ring: Ring, pool: PoolState, soaked: Soaked, latest: NodeImageVersion | None
    ) -> _Draft | None:
        if self.policy.node_images.selection == "bounded":
            return self._bounded_image(ring, pool, soaked, latest)
        current = pool.node_image
        newer = [image for image in soaked.images if image.newer_than(current)]
        if not newer:
            if latest is None or not latest.newer_than(current):
                return None
            return _Draft(
                pool.name,
                "node_image",
                str(current),
                str(latest),
                "a newer image exists",
                blocked=f"ring {ring.name} waits for ring {soaked.ring} to soak a newer "
                f"image ({soaked.summary})",
                waits_on=soaked.ring,
            )
        chosen = newer[-1]
        draft = _Draft(
            pool.name,
            "node_image",
            str(current),
            str(chosen),
            f"ring {soaked.ring} soaked {chosen.version}",
            gates=_soak_gate(
                ring, soaked.targets[str(chosen)], f"ring {soaked.ring} reached {chosen.version}"
            ),
        )
        if soaked.failures:
            return replace(draft, blocked=f"ring {soaked.ring} had a failure: {soaked.failures[0]}")
        return self._canaried(ring, current.family, self._selected(draft, pool, chosen, latest))

    def _bounded_image(
        self, ring: Ring, pool: PoolState, soaked: Soaked, latest: NodeImageVersion | None
    ) -> _Draft | None:
        """`selection: bounded`: AKS's latest, once the earlier ring soaked an image near it.

        AKS upgrades a node image only to the region's latest, and ships Linux
        images about weekly, so "exactly what the earlier ring ran" is often
        impossible. The latest is taken once the earlier ring soaked some image
        newer than the pool's whose build is at most `max_drift_days` from the
        latest's; of those, the soak that ends first opens the gate (a newer
        arrival in the earlier ring does not close it again), and the canary
        check holds it until every first-ring pool runs the latest.
        """
        current = pool.node_image
        if latest is None or not latest.newer_than(current):
            return None
        drift = self.policy.node_images.max_drift_days
        draft = _Draft(
            pool.name, "node_image", str(current), str(latest), f"AKS offers {latest.version}"
        )
        if soaked.failures:
            return replace(draft, blocked=f"ring {soaked.ring} had a failure: {soaked.failures[0]}")
        proofs = [
            image
            for image in soaked.images
            if image.newer_than(current)
            and abs((latest.build_date - image.build_date).days) <= drift
        ]
        if not proofs:
            return replace(
                draft,
                gates=self._windows_gate(pool, latest),
                blocked=f"ring {ring.name} waits for ring {soaked.ring} to soak an image built "
                f"within {drift} days of AKS's latest {latest.version} ({soaked.summary})",
                waits_on=soaked.ring,
            )
        proof = min(proofs, key=lambda image: _sortable(soaked.targets[str(image)]))
        days = abs((latest.build_date - proof.build_date).days)
        why = f"ring {soaked.ring} soaked {proof.version}" + (
            "" if proof == latest else f", {days} days of build from AKS's latest {latest.version}"
        )
        reached = f"ring {soaked.ring} reached {proof.version}"
        gates = _soak_gate(ring, soaked.targets[str(proof)], reached)
        draft = replace(draft, why=why, gates=gates + self._windows_gate(pool, latest))
        return self._canaried(ring, current.family, draft)

    def _canaried(self, ring: Ring, subject: str, draft: _Draft) -> _Draft:
        """The canary check: every first-ring member runs the target (or newer), long enough.

        "Long enough" is `promotion.canary_days` or the first ring's own soak,
        whichever is longer, so a later ring never takes what no earlier-ring
        member ran for that ring's soak. Stragglers of the first ring count:
        nothing reaches the last ring (prod) before every first-ring member has
        it. A ring between them waits only for the first-ring members whose
        region offers the target: AKS's regional rollout (up to a week) is not
        a reason to hold staging, whose own soak still comes before prod's.
        """
        days = self.policy.promotion.canary_days
        first = self.policy.first_ring
        if days is None or ring == first or draft.target is None or draft.blocked:
            return draft
        tally = self.rings.first_ring(subject)
        if tally is None:
            return draft
        noun = "cluster" if subject == KUBERNETES else f"{subject} pool"
        if ring == self.policy.rings[-1]:
            running = tally.on_or_past(draft.target, subject)
            since = tally.arrived_by(draft.target, subject)
            if running < tally.members:
                return replace(
                    draft,
                    blocked=f"ring {ring.name} waits for every {noun} of ring {first.name} to "
                    f"run {draft.target} or newer ({running} of {tally.members} do)",
                    waits_on=first.name,
                )
        else:
            is_open, since = self.rings.opened(tally, subject, draft.target, or_newer=True)
            if not is_open:
                return replace(
                    draft,
                    blocked=f"ring {ring.name} waits for every {noun} of ring {first.name} in "
                    f"the regions that offer {draft.target} to run it or newer",
                    waits_on=first.name,
                )
        days = max(days, first.soak_days)
        if days == 0 or since is None:
            return draft
        gate = (since + dt.timedelta(days=days), f"the {days}-day canary on ring {first.name}")
        return replace(draft, gates=(*draft.gates, gate))

    def _selected(
        self,
        draft: _Draft,
        pool: PoolState,
        chosen: NodeImageVersion,
        latest: NodeImageVersion | None,
    ) -> _Draft:
        """Apply `selection` and what AKS lets us request (a version, or only the latest)."""
        if latest is None or latest.sort_key < chosen.sort_key:
            gates = draft.gates + self._windows_gate(pool, chosen)
            return replace(
                draft, gates=gates, blocked=f"{chosen.version} is not offered in this region yet"
            )
        if self.policy.node_images.selection == "latest":
            why = f"{draft.why}; selection latest takes {latest.version}"
            gates = draft.gates + self._windows_gate(pool, latest)
            return replace(draft, target=str(latest), why=why, gates=gates)
        gates = draft.gates + self._windows_gate(pool, chosen)
        if latest != chosen and not self.fleet.node_image_pinning:
            return replace(
                draft,
                gates=gates,
                blocked=f"AKS only upgrades to the latest image "
                f"({latest.version}), not the soaked {chosen.version}: waits until the "
                "earlier ring soaks it (or set node_images.selection: latest)",
            )
        return replace(draft, gates=gates)

    def _windows_gate(
        self, pool: PoolState, image: NodeImageVersion
    ) -> tuple[tuple[dt.datetime, str], ...]:
        """Windows pools wait for the Patch Tuesday their target image covers, plus the offset."""
        if pool.os_type != "Windows":
            return ()
        offset = self.policy.node_images.patch_tuesday_offset_days
        tuesday = covered_patch_tuesday(image.build_date)
        due = windows_due_from(tuesday, offset)
        return ((due, f"Patch Tuesday {tuesday.isoformat()} + {offset} days"),)

    def _image_policy_enabled(self, pool: PoolState) -> bool:
        images = self.policy.node_images
        return images.windows_enabled if pool.os_type == "Windows" else images.linux_enabled

    def _image_manager(self, cluster: ClusterState, pool: PoolState) -> str | None:
        """Who else patches this pool's node image, if anyone (then Patch Pilot stays off)."""
        channel = cluster.node_os_upgrade_channel
        if cluster.auto_upgrade_channel == "node-image":
            managed = f"{AKS_MANAGED} auto-upgrade channel node-image"
        elif channel in ("NodeImage", "SecurityPatch"):
            managed = f"{AKS_MANAGED} node OS channel {channel}"
        else:
            return None
        message = f"node image upgrades {managed}: Patch Pilot leaves them to AKS"
        if pool.os_type == "Windows" and channel == "SecurityPatch":
            message = (
                "AKS's SecurityPatch channel does not patch Windows pools, so nothing "
                "patches this one: set the channel to NodeImage, or None to let Patch Pilot"
            )
        self._find(cluster, pool.name, "aks_channel_overlap", message)
        return managed

    # Finishing: the blocks' table, then windows --------------------------------------

    def _finish(self, cluster: ClusterState, ring: Ring, draft: _Draft) -> Action:
        """The draft's status and reason: the first block of the table, else its window."""
        action = Action(
            cluster=cluster.id,
            pool=draft.pool,
            kind=draft.kind,
            current=draft.current,
            target=draft.target,
            status="blocked",
            not_before=None,
            reason="",
            ring=ring.name,
        )
        candidate = self._candidate(cluster, ring, draft)
        blocked = first_block(candidate)
        if blocked is not None:
            # The ring a draft waits for is followed only when the draft's own block is said.
            waits_on = draft.waits_on if draft.blocked and blocked == draft.blocked else None
            return replace(action, reason=f"blocked: {blocked}", waits_on=waits_on)
        schedule = candidate.schedule
        assert schedule is not None  # the no_window block speaks otherwise
        return self._placed(cluster, draft, action, (schedule, candidate.schedule_name))

    def _candidate(self, cluster: ClusterState, ring: Ring, draft: _Draft) -> Candidate:
        """What the blocks read about one draft (:data:`.blocks.BLOCKS`)."""
        schedule, schedule_name = self._schedule(cluster, draft.kind)
        return Candidate(
            cluster=cluster,
            ring=ring,
            pool=draft.pool,
            kind=draft.kind,
            current=draft.current,
            target=draft.target,
            drafted=draft.blocked,
            schedule=schedule,
            schedule_name=schedule_name,
            policy=self.policy,
            history=self.history,
            now=self.now,
        )

    def _placed(
        self, cluster: ClusterState, draft: _Draft, action: Action, window: tuple[Schedule, str]
    ) -> Action:
        """Due or scheduled in the first allowed window past every time gate, if one opens."""
        schedule, schedule_name = window
        earliest, waits_for = self._earliest(draft)
        aks = self._blackouts(cluster)
        piece = allowed_piece(schedule, self._closed(aks), earliest)
        if piece is None:
            return replace(
                action,
                reason=f"blocked: no allowed {schedule_name} window within "
                f"{HORIZON.days} days of {iso(earliest)}",
            )
        start, end = max(piece.start, earliest), piece.end
        window_text = f"window {iso(start)} to {iso(end)} ({schedule_name})"
        action = replace(
            action,
            allowed_from=max((m for m, _ in draft.gates), default=None),
            window_start=piece.start,
            not_before=start,
            window_end=end,
        )
        if start <= self.now:
            passed = "".join(f"; {gate} ended {iso(moment)}" for moment, gate in draft.gates)
            reason = f"due: {draft.why}{passed}; inside allowed {window_text}"
            return replace(action, status="due", reason=reason)
        wait = f"waits for {waits_for} until {iso(earliest)}, then " if waits_for else ""
        freeze = self._freeze_note(earliest, start)
        aks_note = self._aks_note(cluster, aks, (schedule, earliest), start)
        return replace(
            action,
            status="scheduled",
            reason=f"scheduled: {draft.why}; {aks_note}{wait}first allowed {window_text}{freeze}",
        )

    def _schedule(self, cluster: ClusterState, kind: Kind) -> tuple[Schedule | None, str]:
        return window_schedule(cluster, self.policy, kind)

    def _earliest(self, draft: _Draft) -> tuple[dt.datetime, str | None]:
        """The latest of now and every time gate, with what that gate waits for."""
        earliest, waits_for = self.now, None
        for moment, reason in draft.gates:
            if moment > earliest:
                earliest, waits_for = moment, reason
        return earliest, waits_for

    def _blackouts(self, cluster: ClusterState) -> tuple[Blackout, ...]:
        """Where AKS announced its own maintenance on the cluster (margins included)."""
        if not cluster.aks_maintenance:
            return ()  # the common case: no window lookups
        return blackouts(cluster.aks_maintenance, cluster.maintenance, self.now)

    def _closed(self, aks: tuple[Blackout, ...]) -> tuple[Window, ...]:
        """What no start may fall in: the policy's freezes, and AKS's own announced work.

        AKS's spans are subtracted from the window like freezes, so a start
        moves past them into the next allowed piece (it does not block: the
        span has an end, and the plan says when Patch Pilot goes on).
        """
        freezes = self.policy.freeze_spans
        return freezes + tuple(b.span for b in aks) if aks else freezes

    def _aks_note(
        self,
        cluster: ClusterState,
        aks: tuple[Blackout, ...],
        search: tuple[Schedule, dt.datetime],
        start: dt.datetime,
    ) -> str:
        """Say so when AKS's own announced work moved the start (it would be sooner without)."""
        if not aks:
            return ""
        schedule, earliest = search
        plain = allowed_piece(schedule, self.policy.freeze_spans, earliest)
        if plain is not None and max(plain.start, earliest) >= start:
            return ""
        held = [b for b in aks if b.span.start < start and earliest < b.span.end]
        if not held:
            return ""
        return f"{held[-1].describe(cluster.id.name)}: waiting until it ends, then "

    def _freeze_note(self, earliest: dt.datetime, start: dt.datetime) -> str:
        skipped = [
            f.reason for f in self.policy.freezes if earliest < f.span.end and f.span.start < start
        ]
        return f" (after freeze: {'; '.join(skipped)})" if skipped else ""

    def _check_gate_pace(self, cluster: ClusterState, ring: Ring) -> None:
        """Say so when this cluster's rare node OS window would hold a later ring back.

        A later ring takes an image once the members of this ring that hold it
        soaked it (invariant 5). A member whose window can stay shut longer
        than `promotion.straggler_gap_days` either stops holding (a
        straggler, `stragglers: release`, outside the first ring) or sets the
        later ring's pace; the finding says which, and what it costs.
        """
        later = self.policy.ring_after(ring)
        schedule, _ = self._schedule(cluster, "node_image")
        if later is None or schedule is None or schedule.unusable or not cluster.pools:
            return
        rules = self.policy.promotion
        gap = longest_gap(schedule, day_start(self.now))
        if gap is not None and gap <= rules.straggler_gap:
            return
        every = "does not open" if gap is None else f"can stay shut {gap.days} days"
        shut = f"its node OS window {every} within {GAP_SPAN.days} days"
        advice = f"open it at least every {rules.straggler_gap_days} days"
        if rules.stragglers == "release" and ring != self.policy.first_ring:
            message = (
                f"{shut}: it no longer holds ring {later.name} (a straggler, promotion."
                f"stragglers: release), which takes a node image once the other clusters "
                f"of ring {ring.name} have it; it patches itself only in that window "
                f"({advice} to patch sooner)"
            )
        else:
            holds = (
                "every later ring (the first ring's canary check)"
                if ring == (self.policy.first_ring)
                else f"ring {later.name}"
            )
            cost = "holds it indefinitely" if gap is None else f"can cost it up to {gap.days} days"
            message = (
                f"{shut}, and it holds {holds}: ring {later.name} takes a node image only "
                f"once every cluster of ring {ring.name} has it, so this window {cost} "
                f"a release (AKS ships Linux images about weekly; {advice})"
            )
        self._find(cluster, None, "slow_ring_gate", message)

    def _find(self, cluster: ClusterState, pool: str | None, code: str, message: str) -> None:
        self.findings.append(Finding(cluster.id, pool, code, message))


def plan(
    fleet: FleetState,
    policy: Policy,
    history: History,
    now: dt.datetime,
    *,
    only: str | None = None,
) -> Plan:
    """Plan every cluster of the fleet at `now` (timezone-aware), or `only` the one with that key.

    With `only`, the rest of the fleet still gates the cluster's ring (what
    earlier rings soaked) but is not planned itself: a reconcile acts on one
    cluster, so its cost does not grow with the fleet's planning.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(dt.UTC)
    planner = _Planner(fleet, policy, history, now)
    actions = []
    for cluster in sorted(fleet.clusters, key=lambda c: c.key):
        if only is None or cluster.key == only:
            actions.extend(planner.cluster(cluster))
    findings = sorted(set(planner.findings), key=lambda f: (f.cluster.key, f.pool or "", f.code))
    return Plan(now, tuple(actions), tuple(findings))


def first_opening(
    schedule: Schedule, freezes: tuple[Window, ...], earliest: dt.datetime
) -> tuple[dt.datetime, dt.datetime] | None:
    """The first allowed instant at or after `earliest`, and when that window closes."""
    piece = allowed_piece(schedule, freezes, earliest)
    return None if piece is None else (max(piece.start, earliest), piece.end)


@functools.lru_cache(maxsize=8192)
def allowed_piece(
    schedule: Schedule, freezes: tuple[Window, ...], earliest: dt.datetime
) -> Window | None:
    """The first allowed stretch (a window less the freezes) that ends after `earliest`.

    Memoised: thousands of pools share a handful of schedules, and a plan asks
    with one `earliest` (usually `now`) for most of them.
    """
    horizon = earliest + HORIZON
    for window in schedule.iter_windows(earliest):
        if window.start > horizon:
            return None
        for piece in subtract(window, freezes):
            if piece.end > earliest:
                return piece
    return None


def _soak_gate(
    ring: Ring, since: dt.datetime | None, what: str
) -> tuple[tuple[dt.datetime, str], ...]:
    """The ring's soak as a time gate; none without a soak or a known start."""
    if since is None or ring.soak_days == 0:
        return ()
    until = since + dt.timedelta(days=ring.soak_days)
    return ((until, f"ring {ring.name}'s {ring.soak_days}-day soak after {what}"),)


def _sortable(moment: dt.datetime | None) -> dt.datetime:
    """An arrival for ordering: unknown (long ago) first."""
    return moment if moment is not None else dt.datetime.min.replace(tzinfo=dt.UTC)


def _text(value: object | None) -> str | None:
    return None if value is None else str(value)


def _ordered(pools: tuple[PoolState, ...]) -> list[PoolState]:
    """System pools first (AKS needs them healthy), then by name: a stable order."""
    return sorted(pools, key=lambda pool: (pool.mode != "System", pool.name))


def _in_order(drafts: list[_Draft], cluster: ClusterState) -> list[_Draft]:
    """Control plane first, then each pool's Kubernetes before its node image."""
    rank = {pool.name: index for index, pool in enumerate(_ordered(cluster.pools))}
    return sorted(
        drafts,
        key=lambda d: (d.pool is not None, rank.get(d.pool or "", -1), d.kind != "kubernetes"),
    )


def _asked(request: Requested) -> str:
    return f"requested by {request.by}: {request.reason}"
