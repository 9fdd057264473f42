"""Long-running operations: the steps of an AKS upgrade, laid out in clock time.

An operation is a list of phases (the control plane, then each pool). A pool
phase surges one node, then cordons, drains and deletes each old node in turn,
one ``Pace.seconds_per_node`` per step. Nothing ticks in the background: the
simulated AKS calls :meth:`SimOperation.advance` with the current instant on each
request, which applies every phase that has ended by then and reports the
NodePoolRolling* events that happened, each at the instant it happened.

Where AKS shows an operation (recorded azure-cli traffic, the cassettes in
``shared/fixtures/arm-recordings``): a managed cluster PUT shows the cluster
``Upgrading`` and every pool it rolls ``Upgrading`` at once; a pool's own
operation (``upgradeNodeImageVersion``, an agent pool PUT) shows on that pool
only (``UpgradingNodeImageVersion``, ``Upgrading``; ``Updating`` for a PUT
that puts a broken pool right) while the cluster stays ``Succeeded``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from patchpilot.domain.node_images import NodeImageVersion
from patchpilot.domain.versions import KubernetesVersion
from patchpilot.sim.arm_errors import ArmError
from patchpilot.sim.catalog import Catalog
from patchpilot.sim.state import SimCluster, SimPool, UsedVersion

PhaseKind = Literal["control_plane", "kubernetes", "node_image", "reconcile"]
Status = Literal["InProgress", "Succeeded", "Failed", "Canceled"]

# The provisioningState AKS shows while each kind of phase runs (on the pool it rolls; on
# the cluster only for the cluster's own operations).
RUNNING_STATE: dict[PhaseKind, str] = {
    "control_plane": "Upgrading",
    "kubernetes": "Upgrading",
    "node_image": "UpgradingNodeImageVersion",
    "reconcile": "Updating",
}
BROKEN_STATES = ("Failed", "Canceled")


@dataclass(frozen=True)
class Happening:
    """Something an operation did that AKS reports as an Event Grid event."""

    event: str
    cluster: SimCluster
    data: dict[str, Any]
    at: dt.datetime


@dataclass
class Phase:
    """One part of an operation: the control plane, or one pool, with its time span."""

    kind: PhaseKind
    pool: str | None
    start: dt.datetime
    step_seconds: float
    steps: tuple[str, ...]
    target_version: KubernetesVersion | None = None
    target_image: NodeImageVersion | None = None
    failure: ArmError | None = None
    fail_after_steps: int | None = None
    started: bool = False
    done: bool = False

    @property
    def end(self) -> dt.datetime:
        """When the last step finishes."""
        return self.start + dt.timedelta(seconds=self.step_seconds * len(self.steps))

    @property
    def fail_at(self) -> dt.datetime | None:
        """When the phase fails (a drain times out), if it is set to fail."""
        if self.failure is None or self.fail_after_steps is None:
            return None
        return self.start + dt.timedelta(seconds=self.step_seconds * self.fail_after_steps)

    def step_at(self, now: dt.datetime) -> str | None:
        """The step running at ``now`` (None before the phase or after it)."""
        if now < self.start or now >= self.end:
            return None
        index = int((now - self.start).total_seconds() // self.step_seconds)
        return self.steps[min(index, len(self.steps) - 1)]


@dataclass
class SimOperation:
    """One long-running operation, its phases and its outcome (ARM's async operation).

    ``pool`` is the agent pool whose own operation this is (None: the cluster's).
    ``external`` marks an operation started outside Patch Pilot (another tool, a
    person), which the chaos tests inject through the same model calls.
    ``due`` is when an operation without phases (an abort) ends Succeeded.
    ``status_url`` is the ``Azure-AsyncOperation`` URL AKS handed out for it.
    """

    id: str
    name: str
    cluster: SimCluster
    pool: str | None
    started: dt.datetime
    phases: list[Phase] = field(default_factory=list)
    status: Status = "InProgress"
    ended: dt.datetime | None = None
    error: dict[str, Any] | None = None
    external: bool = False
    due: dt.datetime | None = None
    status_url: str | None = None

    @property
    def running(self) -> bool:
        """Whether the operation still holds the cluster."""
        return self.status == "InProgress"

    def settle(self, now: dt.datetime) -> None:
        """An operation without phases (an abort) succeeds once its time is up."""
        if self.running and self.due is not None and self.due <= now:
            self.status, self.ended = "Succeeded", self.due

    def upgrades(self) -> list[tuple[str | None, str, str]]:
        """(pool or None, kind, target) of each upgrade this operation carries out.

        Kinds and targets are named as Patch Pilot's ledger names them
        (``kubernetes`` with a version, ``node_image`` with the full image
        name), so a test can compare AKS's own record with the ledger.
        """
        found: list[tuple[str | None, str, str]] = []
        for phase in self.phases:
            if phase.target_image is not None:
                found.append((phase.pool, "node_image", str(phase.target_image)))
            elif phase.target_version is not None:
                found.append((phase.pool, "kubernetes", str(phase.target_version)))
        return found

    def expected_end(self) -> dt.datetime:
        """When the operation ends if nothing fails."""
        return self.phases[-1].end if self.phases else self.started

    def step_at(self, now: dt.datetime) -> str | None:
        """What AKS is doing at ``now`` ("surge node ...", "cordon and drain node ...")."""
        if not self.running:
            return None
        return next((s for p in self.phases if (s := p.step_at(now)) is not None), None)

    def advance(self, now: dt.datetime, catalog: Catalog) -> list[Happening]:
        """Apply everything that has happened by ``now``; return the events, in order."""
        happened: list[Happening] = []
        for phase in self.phases:
            if not self.running or phase.done:
                continue
            if now < phase.start:
                break
            if not phase.started:
                phase.started = True
                happened.extend(self._rolling("NodePoolRollingStarted", phase, phase.start))
            fail_at = phase.fail_at
            if fail_at is not None and fail_at <= now:
                happened.extend(self._fail(phase, fail_at))
                break
            if phase.end > now:
                break
            self._complete(phase, catalog)
            happened.extend(self._rolling("NodePoolRollingSucceeded", phase, phase.end))
        if self.running and all(p.done for p in self.phases):
            self._finish(self.expected_end())
        return happened

    def abort(self, now: dt.datetime, by: str) -> list[Happening]:
        """Stop where it is, as AKS's abort does: the operation and the pool end Canceled."""
        happened: list[Happening] = []
        for phase in self.phases:
            if phase.done:
                continue
            pool = self._pool(phase)
            if pool is not None:
                # Every pool the operation shows as running ends Canceled, rolled or not yet
                # (recorded: the cluster's abort left its pool Canceled).
                pool.provisioning_state = "Canceled"
                if phase.started:
                    happened.extend(self._rolling("NodePoolRollingFailed", phase, now))
            phase.done = True
        self.status, self.ended = "Canceled", now
        self.error = {
            "code": "OperationCanceled",
            "message": f"The operation was canceled by abort operation {by}.",
        }
        # Recorded for a cluster's abort (azure-cli test_aks_abort): the cluster and its pool
        # end Canceled. A pool's abort is not recorded; it is taken to do the same.
        self.cluster.provisioning_state = "Canceled"
        return happened

    def _pool(self, phase: Phase) -> SimPool | None:
        return self.cluster.pool(phase.pool) if phase.pool is not None else None

    def _rolling(self, event: str, phase: Phase, at: dt.datetime) -> list[Happening]:
        # A reconcile rolls no nodes, so AKS reports no rolling for it.
        if phase.pool is None or phase.kind == "reconcile":
            return []
        return [Happening(event, self.cluster, {"nodePoolName": phase.pool}, at)]

    def _complete(self, phase: Phase, catalog: Catalog) -> None:
        phase.done = True
        cluster, pool = self.cluster, self._pool(phase)
        if phase.kind == "reconcile":
            if pool is not None:
                pool.provisioning_state, pool.error = "Succeeded", None
            for broken in cluster.pools if pool is None else ():
                if broken.provisioning_state in BROKEN_STATES:
                    broken.provisioning_state, broken.error = "Succeeded", None
            return
        if phase.kind == "control_plane" and phase.target_version is not None:
            cluster.current_kubernetes_version = phase.target_version
            return
        if pool is None:
            return
        pool.recently_used.append(
            UsedVersion(pool.current_orchestrator_version, pool.node_image, phase.end)
        )
        if phase.kind == "kubernetes" and phase.target_version is not None:
            pool.current_orchestrator_version = phase.target_version
            # A Kubernetes upgrade reimages the nodes with the family's latest image.
            latest = catalog.latest_image(cluster.location, pool.node_image.family, phase.end)
            if latest is not None and latest.newer_than(pool.node_image):
                pool.node_image = latest
        elif phase.target_image is not None:
            pool.node_image = phase.target_image
        pool.provisioning_state, pool.error = "Succeeded", None

    def _fail(self, phase: Phase, at: dt.datetime) -> list[Happening]:
        if phase.failure is None:  # fail_at is only set with a failure
            return []
        detail = phase.failure.detail()
        for other in self.phases:
            pool = self._pool(other)
            if pool is not None and not other.done:
                pool.provisioning_state = "Failed" if other is phase else "Succeeded"
            other.done = True
        pool = self._pool(phase)
        if pool is not None:
            pool.error = detail
        self.status, self.ended, self.error = "Failed", at, detail
        # A failed pool operation leaves the cluster Failed too, as AKS reports a failed node
        # pool upgrade (Azure/AKS#4975); Patch Pilot reads the cause from the pool first.
        self.cluster.provisioning_state, self.cluster.error = "Failed", detail
        return self._rolling("NodePoolRollingFailed", phase, at)

    def _finish(self, at: dt.datetime) -> None:
        self.status, self.ended = "Succeeded", at
        self.cluster.provisioning_state, self.cluster.error = "Succeeded", None
