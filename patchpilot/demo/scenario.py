"""The trouble the demo injects, and when: a 429 storm, a drain failure, an operator's resume.

A real fleet has bad nights. The demo shows Patch Pilot through three:

- a throttling storm: for a few hours ARM answers half of all requests with
  429 and a ``Retry-After``; it starts the night the Windows pools become due
  (Patch Tuesday plus the policy's offset), when the fleet is busiest;
- a drain failure: the first upgrade of one pool fails draining a node on a
  Pod Disruption Budget, AKS sends NodePoolRollingFailed, and Patch Pilot
  pauses the cluster;
- an operator's resume six hours later (the start of the working day): the
  budget is fixed, the cluster is put right as ``az aks update`` does, the
  failed attempt is retired and the pauses deleted, so Patch Pilot tries
  again in the next window;
- a Fleet Manager update run that reaches its approval gate before the last
  ring while an Azure Monitor alert fires on one of that ring's clusters
  (:class:`FleetGateScene`): Patch Pilot holds the gate, says why, and
  approves it once the alert resolves (only when the policy names a fleet
  under ``fleet_gates``, as the bundled one does);
- AKS's own node OS work on every cluster whose node OS channel is
  NodeImage or SecurityPatch, as that channel does it (one NodeOSUpgrade at
  each node OS window's start, :func:`~patchpilot.sim.aks_maintenance.node_os_work`),
  announced by the simulated AKS Communication Manager 7 days and 24 hours
  ahead: Patch Pilot keeps its own starts on that cluster out of the work
  (on the bundled fleet, prod-neu-2's Kubernetes upgrade waits for AKS's
  Completed).

:func:`scenario_for` picks the drain-failure pool from any fleet (the first
user pool of the second ring), so a user's own fleet replays the same story.
Pure values; the runner applies them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from patchpilot.domain.cadence import latest_patch_tuesday, next_patch_tuesday, windows_due_from
from patchpilot.domain.fleet import ClusterState, FleetState, PoolState
from patchpilot.domain.policy import Policy
from patchpilot.sim.aks_maintenance import node_os_work
from patchpilot.sim.faults import AksWork, FaultPlan

STORM_HOURS: Final = 6
STORM_THROTTLE_RATE: Final = 0.5
STORM_RETRY_AFTER_SECONDS: Final = 5
RESUME_AFTER: Final = dt.timedelta(hours=6)
# The Fleet gate scene: a working-day morning, the alert firing for two hours and a bit
# (it resolves between two runs of the five-minute follow-up timer, which then approves).
SCENE_AFTER: Final = dt.timedelta(days=8)
SCENE_HOUR: Final = 9
SCENE_WEEKDAY: Final = 2  # Wednesday: no bundled window is open then
ALERT_FIRING: Final = dt.timedelta(hours=2, minutes=12)
RUN_AFTER_ALERT: Final = dt.timedelta(minutes=30)


@dataclass(frozen=True)
class Storm:
    """A span of time in which ARM throttles a share of all requests."""

    start: dt.datetime
    end: dt.datetime
    throttle_rate: float = STORM_THROTTLE_RATE
    retry_after_seconds: int = STORM_RETRY_AFTER_SECONDS


@dataclass(frozen=True)
class DrainFailure:
    """The pool whose next upgrade fails on a Pod Disruption Budget, and the operator's delay."""

    cluster: str
    pool: str
    resume_after: dt.timedelta = RESUME_AFTER


@dataclass(frozen=True)
class FleetGateScene:
    """A Fleet update run waiting at its gate while an alert fires on a cluster behind it.

    `stages` are (stage name, its clusters' resource IDs) in order; the last
    stage has the approval gate before it, named `gate`.
    """

    fleet: str
    run: str
    gate: str
    stages: tuple[tuple[str, tuple[str, ...]], ...]
    alert_rule: str
    alert_cluster: str
    fires: dt.datetime
    run_starts: dt.datetime
    resolves: dt.datetime


@dataclass(frozen=True)
class Scenario:
    """The faults of one run; `seed` makes the simulator's dice repeatable."""

    storm: Storm | None
    drain_failure: DrainFailure | None
    seed: int = 0
    fleet_gate: FleetGateScene | None = None
    # Maintenance AKS announces and runs on its own, in every fault plan of the run.
    aks_maintenance: tuple[AksWork, ...] = ()

    def faults(self, *, storming: bool, draining: bool) -> FaultPlan:
        """The simulator's fault plan while the storm does or does not blow."""
        pdb: frozenset[tuple[str, str]] = frozenset()
        if draining and self.drain_failure is not None:
            pdb = frozenset({(self.drain_failure.cluster, self.drain_failure.pool)})
        if storming and self.storm is not None:
            return FaultPlan(
                throttle_rate=self.storm.throttle_rate,
                retry_after_seconds=self.storm.retry_after_seconds,
                pdb_failures=pdb,
                seed=self.seed,
                aks_maintenance=self.aks_maintenance,
            )
        return FaultPlan(pdb_failures=pdb, seed=self.seed, aks_maintenance=self.aks_maintenance)


def calm() -> Scenario:
    """No injected faults at all (`--no-faults`)."""
    return Scenario(storm=None, drain_failure=None)


def scenario_for(
    fleet: FleetState, policy: Policy, start: dt.datetime, end: dt.datetime, *, seed: int = 0
) -> Scenario:
    """The demo's trouble, placed on this fleet and inside [start, end)."""
    scene = fleet_gate_scene(fleet, policy, start, end)
    return Scenario(
        _storm(policy, start, end),
        _drain_failure(fleet, policy),
        seed,
        scene,
        aks_maintenance=node_os_work(fleet, policy, start, end),
    )


def fleet_gate_scene(
    fleet: FleetState, policy: Policy, start: dt.datetime, end: dt.datetime
) -> FleetGateScene | None:
    """The policy's first fleet, an update run over every ring, gated before the last one.

    The alert fires on the last ring's first cluster on the first Wednesday
    morning at least :data:`SCENE_AFTER` into the run (outside a freeze),
    the run starts half an hour later, and the alert resolves two hours
    (and twelve minutes) after it fired. None when the policy names no fleet, the fleet has fewer
    than two rings of clusters, or the run is too short.
    """
    if not policy.fleet_gates.fleets:
        return None
    stages = tuple(
        (ring.name, tuple(str(c.id) for c in fleet.clusters if policy.ring_of(c.tags) == ring))
        for ring in policy.rings
    )
    stages = tuple(stage for stage in stages if stage[1])
    fires = _scene_morning(policy, start + SCENE_AFTER)
    if len(stages) < 2 or fires is None or fires + ALERT_FIRING + dt.timedelta(hours=1) > end:
        return None
    last, members = stages[-1]
    return FleetGateScene(
        fleet=policy.fleet_gates.fleets[0],
        run=f"{last}-rollout",
        gate=f"before {last}",
        stages=stages,
        alert_rule=f"{last}-api-latency",
        alert_cluster=members[0],
        fires=fires,
        run_starts=fires + RUN_AFTER_ALERT,
        resolves=fires + ALERT_FIRING,
    )


def _scene_morning(policy: Policy, after: dt.datetime) -> dt.datetime | None:
    """The first Wednesday 09:00 UTC at or after `after` outside every freeze (within 60 days)."""
    day = after.date()
    for _ in range(60):
        moment = dt.datetime.combine(day, dt.time(SCENE_HOUR), dt.UTC)
        frozen = any(f.span.start <= moment < f.span.end for f in policy.freezes)
        if day.weekday() == SCENE_WEEKDAY and moment >= after and not frozen:
            return moment
        day += dt.timedelta(days=1)
    return None


def _storm(policy: Policy, start: dt.datetime, end: dt.datetime) -> Storm:
    """From the first night Windows pools become due inside the run; else 40% into it."""
    offset = policy.node_images.patch_tuesday_offset_days
    tuesday = latest_patch_tuesday(start.date())
    due = windows_due_from(tuesday, offset)
    while due < start:
        tuesday = next_patch_tuesday(tuesday)
        due = windows_due_from(tuesday, offset)
    if due >= end:
        due = start + (end - start) * 0.4
    return Storm(due, min(due + dt.timedelta(hours=STORM_HOURS), end))


def _drain_failure(fleet: FleetState, policy: Policy) -> DrainFailure | None:
    """The first user pool (Linux first) of the first cluster in the second ring (or the first)."""
    rings = policy.rings[1:2] or policy.rings[:1]
    for ring in rings:
        for cluster in fleet.clusters:
            if policy.ring_of(cluster.tags) == ring and cluster.pools:
                pool = _likely_to_hold_a_budget(cluster)
                return DrainFailure(cluster.id.name, pool.name)
    return None


def _likely_to_hold_a_budget(cluster: ClusterState) -> PoolState:
    """Applications, and so Pod Disruption Budgets, live on user pools."""
    ranked = sorted(cluster.pools, key=lambda p: (p.mode != "User", p.os_type != "Linux", p.name))
    return ranked[0]
