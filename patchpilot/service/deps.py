"""The collaborators and timings the use cases need, passed explicitly.

The Function App builds one :class:`Services` per process from settings
(`patchpilot.runtime`); the local host and the tests build their own with the
simulator, SQLite or Azurite. Nothing here reads the environment or a clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from patchpilot.adapters.arm.actions import OperationStatus, Started, StartResult
from patchpilot.adapters.arm.catalog_cache import CatalogMemory, SweepCache
from patchpilot.adapters.arm.failures import FailureCause
from patchpilot.adapters.arm.observe import ClusterObservation
from patchpilot.adapters.discovery import Discovery
from patchpilot.adapters.publisher import NullPublisher, Publisher
from patchpilot.adapters.queues import MessageQueue
from patchpilot.adapters.store import Store
from patchpilot.adapters.store.records import MAX_CLOCK_SKEW
from patchpilot.domain.fleet_gates import FleetGate, UpdateRun
from patchpilot.domain.fleet_ids import FleetId
from patchpilot.domain.policy import Policy
from patchpilot.domain.resource_ids import ClusterId
from patchpilot.domain.schedule import Schedule
from patchpilot.domain.versions import KubernetesVersion
from patchpilot.telemetry import Telemetry

# Runs before each attempt of a start call; raises NotNowError to keep it from going out.
Guard = Callable[[], None]


class Gateway(Protocol):
    """What the use cases need of AKS (implemented by `ArmGateway`)."""

    def admit(self, cluster: ClusterId) -> ClusterId:
        """The cluster's ID if it is inside the scopes; ScopeError otherwise."""
        ...

    def observe(self, cluster: ClusterId, cache: SweepCache) -> ClusterObservation:
        """Read one cluster."""
        ...

    def observe_row(
        self, row: Mapping[str, Any], maintenance: Mapping[str, Schedule], cache: SweepCache
    ) -> ClusterObservation:
        """Read one cluster from its Resource Graph row (no request of its own)."""
        ...

    @property
    def start_deadline(self) -> dt.timedelta:
        """How long one start call may take, retries included."""
        ...

    def upgrade_control_plane(
        self, cluster: ClusterId, version: KubernetesVersion, *, guard: Guard | None = None
    ) -> StartResult:
        """Start a control-plane-only upgrade; `guard` runs before every attempt."""
        ...

    def upgrade_pool_version(
        self,
        cluster: ClusterId,
        pool: str,
        version: KubernetesVersion,
        *,
        guard: Guard | None = None,
    ) -> StartResult:
        """Start one pool's Kubernetes upgrade; `guard` runs before every attempt."""
        ...

    def upgrade_node_image(
        self, cluster: ClusterId, pool: str, *, guard: Guard | None = None
    ) -> StartResult:
        """Start one pool's node image upgrade (to the latest); `guard` as above."""
        ...

    def operation_status(self, started: Started) -> OperationStatus:
        """Where a started operation stands."""
        ...

    def explain_failure(
        self, cluster: ClusterId, pool: str, *, operation: Started | None = None
    ) -> FailureCause | None:
        """Why a pool's rollout failed."""
        ...


class FleetGateApi(Protocol):
    """What the Fleet gate approver needs of Fleet Manager (``adapters.fleet_gates.FleetGates``)."""

    def get_gate(self, fleet: FleetId, gate: str) -> FleetGate | None:
        """The gate now, or None when it is gone."""
        ...

    def pending_gates(self, fleet: FleetId) -> tuple[FleetGate, ...]:
        """The fleet's gates that still wait."""
        ...

    def get_update_run(self, fleet: FleetId, run: str) -> UpdateRun | None:
        """The gate's update run, or None when it is gone."""
        ...

    def approve(self, gate: FleetGate) -> FleetGate:
        """Set the gate Completed (If-Match on its ETag)."""
        ...


@dataclass(frozen=True)
class Tuning:
    """Timings of the use cases; defaults suit Azure, tests shorten them."""

    lease: dt.timedelta = dt.timedelta(minutes=10)
    claim_ttl: dt.timedelta = dt.timedelta(minutes=30)
    event_ttl: dt.timedelta = dt.timedelta(days=7)
    follow_up: dt.timedelta = dt.timedelta(minutes=10)
    # Past this age a running operation is observed in full on each follow-up, not only
    # polled: a safety net for a status URL that never reports an end.
    poll_only: dt.timedelta = dt.timedelta(hours=6)
    lease_retry: dt.timedelta = dt.timedelta(minutes=2)
    lookahead: dt.timedelta = dt.timedelta(minutes=30)
    notice: dt.timedelta = dt.timedelta(hours=24)
    # Azure Storage queues keep a message invisible for at most seven days.
    max_delay: dt.timedelta = dt.timedelta(days=7)
    # The most an instance's clock may be off: a start keeps this far from both ends of
    # its window (with the start call's deadline before the end).
    clock_skew: dt.timedelta = MAX_CLOCK_SKEW


@dataclass
class Services:
    """Everything a use case may touch; built once per process or test."""

    policy: Policy
    store: Store
    queue: MessageQueue
    gateway: Gateway
    discovery: Discovery
    telemetry: Telemetry
    publisher: Publisher = field(default_factory=NullPublisher)
    tuning: Tuning = field(default_factory=Tuning)
    holder: str = "patchpilot"
    # The clock re-read right before every start call (invariant 1 under slow ARM):
    # the invocation's `now` may be minutes old by then. None: only that `now` counts.
    clock: Callable[[], dt.datetime] | None = None
    # What regions offer, shared by this process's reconciles for a few minutes.
    catalogs: CatalogMemory = field(default_factory=CatalogMemory)
    # Fleet Manager's gates and update runs (None: this process approves no gate).
    fleet_gates: FleetGateApi | None = None
