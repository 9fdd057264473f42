"""The simulated AKS as a whole: clusters, running operations, the catalog's clock, events.

:class:`SimulatedAks` is the one mutable object behind the HTTP surface. Every
request runs inside :meth:`SimulatedAks.transaction`, which reads the clock
once, applies whatever the running operations and the catalog did up to that
instant, lets the handler read or change state under one lock, then delivers
the events that happened, outside the lock (a sink may call the simulator
back). Tests can drive it directly: :meth:`tick`, :meth:`cluster`,
:meth:`operation`, :meth:`emitted`.

A fault plan's :class:`~patchpilot.sim.faults.ExternalStart` (a pool upgrade
started by another tool or a person) is applied the same lazy way: the first
transaction at or after its instant starts it, at that instant, through the
call an ARM request would make, so AKS's own operation list holds it (marked
``external``) and a busy cluster refuses it as it refuses anyone.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from patchpilot.domain.resource_ids import ClusterId, region_key
from patchpilot.sim import arm_errors
from patchpilot.sim.arm_errors import ArmError
from patchpilot.sim.catalog import Catalog
from patchpilot.sim.clock import Clock
from patchpilot.sim.events import EventSchema, EventSink, envelope
from patchpilot.sim.faults import ExternalStart, FaultPlan
from patchpilot.sim.fleet_input import FleetInput
from patchpilot.sim.operations import RUNNING_STATE, Happening, Phase, SimOperation
from patchpilot.sim.pace import Pace
from patchpilot.sim.state import SimCluster, SimPool
from patchpilot.sim.upgrades import UpgradeChecker


class SimulatedAks:
    """Every simulated cluster and operation, evaluated lazily from the clock."""

    def __init__(
        self,
        fleet: FleetInput,
        clock: Clock,
        *,
        pace: Pace,
        faults: FaultPlan | None = None,
        event_sink: EventSink | None = None,
        event_schema: EventSchema = "EventGridSchema",
    ) -> None:
        self.clock = clock
        self.pace = pace
        self.catalog = Catalog(fleet.state.catalog)
        self.event_schema: EventSchema = event_schema
        self._sink = event_sink
        self._lock = threading.RLock()
        self._faults = faults or FaultPlan()
        self._drained: set[tuple[str, str]] = set()
        # What became of each external start: "started", "nothing to do" or AKS's refusal.
        self._external: dict[ExternalStart, str] = {}
        # The plan's external starts not applied yet, soonest first (see _unapplied).
        self._waiting = self._unapplied()
        self._clusters = [
            SimCluster.from_fleet(c, e)
            for c, e in zip(fleet.state.clusters, fleet.extras, strict=False)
        ]
        self._by_key = {c.key: c for c in self._clusters}
        self._operations: dict[str, SimOperation] = {}
        self._active: dict[str, SimOperation] = {}
        self._aborts: list[SimOperation] = []
        self._polls: list[str] = []
        self._pending: list[Happening] = []
        self._emitted: list[dict[str, Any]] = []
        self._planner = UpgradeChecker(self.catalog, pace, self._drain_fails, self._deprecated)
        start = clock.now()
        self._checked = start
        self._seen = {
            r: {o.version for o in self.catalog.offered(r, start)} for r in self.catalog.regions()
        }
        # The catalog never changes once built: each region's release instants, in order, once.
        self._releases = {r: self.catalog.release_instants(r) for r in self.catalog.regions()}

    # -- what tests and the server read ---------------------------------------------------

    @property
    def faults(self) -> FaultPlan:
        """The fault plan in force (drain failures, deprecated API usage)."""
        with self._lock:
            return self._faults

    def set_faults(self, plan: FaultPlan) -> None:
        """Replace the plan; drain failures of the new plan apply to the next upgrades again."""
        with self._lock:
            self._faults = plan
            self._drained.clear()
            self._waiting = self._unapplied()

    def clusters(self) -> list[SimCluster]:
        """Every cluster, in fleet order (live objects: read them inside :meth:`transaction`)."""
        return list(self._clusters)

    def delete_cluster(self, name_or_id: str) -> None:
        """Delete a cluster, as `az aks delete` does: ARM and Resource Graph no longer list it."""
        with self._lock:
            gone = self.cluster(name_or_id)
            self._clusters = [c for c in self._clusters if c is not gone]
            self._by_key = {c.key: c for c in self._clusters}

    def cluster(self, name_or_id: str) -> SimCluster:
        """A cluster by name or resource ID (case-insensitive); KeyError when unknown."""
        key = name_or_id.lower()
        found = self._by_key.get(key) or next(
            (c for c in self._clusters if c.id.name.lower() == key), None
        )
        if found is None:
            raise KeyError(name_or_id)
        return found

    def operation(self, operation_id: str) -> SimOperation | None:
        """An operation by ID, running or finished."""
        with self._lock:
            return self._operations.get(operation_id.lower())

    def operations(self) -> list[SimOperation]:
        """Every operation AKS began, running or finished, in the order it began them."""
        with self._lock:
            return list(self._operations.values())

    def active_operation(self, cluster: SimCluster) -> SimOperation | None:
        """The operation holding a cluster, if any (after advancing to now)."""
        with self.transaction():
            return self._active.get(cluster.key)

    def active_operations(self) -> list[SimOperation]:
        """The operation holding each busy cluster, in fleet order (after advancing to now).

        One transaction for the whole fleet: the harness asks at every stop of
        the host's clock when the model next changes, and a transaction per
        cluster cost more than the stop's own work.
        """
        with self.transaction():
            return [op for c in self._clusters if (op := self._active.get(c.key)) is not None]

    def external_starts(self) -> dict[ExternalStart, str]:
        """Each external start applied so far, and what became of it."""
        with self._lock:
            return dict(self._external)

    def next_external_start(self, after: dt.datetime) -> dt.datetime | None:
        """When the next external start not yet applied is due, after ``after`` (None: never)."""
        with self._lock:
            return next((e.at for e in self._waiting if e.at > after), None)

    def record_poll(self, url: str) -> None:
        """Note the whole URL a client polled an operation's status or result at."""
        with self._lock:
            self._polls.append(url)

    def polls(self) -> list[str]:
        """Every operation status and result URL polled, whole, in the order they came."""
        with self._lock:
            return list(self._polls)

    def emitted(self) -> list[dict[str, Any]]:
        """Every event delivered so far, in delivery order."""
        with self._lock:
            return list(self._emitted)

    def tick(self) -> list[dict[str, Any]]:
        """Advance everything to the clock's now and deliver the events; returns them."""
        with self._lock:
            before = len(self._emitted)
        with self.transaction():
            pass
        with self._lock:
            return self._emitted[before:]

    @contextmanager
    def transaction(self) -> Iterator[dt.datetime]:
        """Hold the model at one instant: advance to it, run the caller, deliver events after."""
        events: list[dict[str, Any]] = []
        try:
            with self._lock:
                now = self.clock.now()
                try:
                    self._advance(now)
                    yield now
                finally:
                    events = self._envelopes()
        finally:
            self._deliver(events)

    # -- lookups the handlers use (inside a transaction) ----------------------------------------

    def find(self, subscription: str, group: str, name: str) -> SimCluster:
        """A cluster by its ID parts, or ARM's 404 for the first part that is unknown."""
        self.require_group(subscription, group)
        found = self._by_key.get(str(ClusterId(subscription.lower(), group, name)).lower())
        if found is None:
            raise arm_errors.resource_not_found(
                "Microsoft.ContainerService/managedClusters", name, group, gateway=True
            )
        return found

    def find_pool(self, cluster: SimCluster, name: str) -> SimPool:
        """A pool of the cluster, or ARM's 404."""
        pool = cluster.pool(name)
        if pool is None:
            raise arm_errors.resource_not_found(
                f"Microsoft.ContainerService/managedClusters/{cluster.id.name}/agentPools",
                name,
                cluster.id.resource_group,
            )
        return pool

    def require_subscription(self, subscription: str) -> list[SimCluster]:
        """The clusters of a subscription; ARM's 404 when the fleet has none there."""
        found = [c for c in self._clusters if c.id.subscription == subscription.lower()]
        if not found:
            raise arm_errors.subscription_not_found(subscription)
        return found

    def require_group(self, subscription: str, group: str) -> list[SimCluster]:
        """The clusters of a resource group; ARM's 404 for an unknown subscription or group."""
        found = [
            c
            for c in self.require_subscription(subscription)
            if c.id.resource_group.lower() == group.lower()
        ]
        if not found:
            raise arm_errors.group_not_found(group)
        return found

    # -- mutations (inside a transaction) ----------------------------------------------------

    def upgrade_node_image(
        self, cluster: SimCluster, pool: SimPool, now: dt.datetime, *, external: bool = False
    ) -> SimOperation | None:
        """Start ``upgradeNodeImageVersion``; None when the pool already runs the latest image."""
        self._refuse_if_busy(cluster)
        return self._start(
            cluster,
            pool.name,
            "upgrade node image version",
            self._planner.node_image(cluster, pool, now),
            now,
            external=external,
        )

    def put_pool(
        self, cluster: SimCluster, pool: SimPool, body: dict[str, Any], now: dt.datetime
    ) -> SimOperation | None:
        """An agent pool PUT: always an operation (``Updating`` when the version stays), as AKS."""
        self._refuse_if_busy(cluster)
        return self._start(
            cluster,
            pool.name,
            "update node pool",
            self._planner.pool_put(cluster, pool, body, now),
            now,
        )

    def put_cluster(
        self, cluster: SimCluster, body: dict[str, Any], now: dt.datetime
    ) -> SimOperation | None:
        """A managed cluster PUT (control plane and pool versions); None when nothing changes."""
        self._refuse_if_busy(cluster)
        return self._start(
            cluster,
            None,
            "update managed cluster",
            self._planner.cluster_put(cluster, body, now),
            now,
        )

    def abort(self, cluster: SimCluster, pool: SimPool | None, now: dt.datetime) -> SimOperation:
        """Abort the running operation (of the cluster, or touching the pool); returns the abort."""
        running = self._active.get(cluster.key)
        involved = running is not None and (
            pool is None or any(p.pool == pool.name for p in running.phases)
        )
        if running is None or not involved:
            state = pool.provisioning_state if pool is not None else cluster.provisioning_state
            raise arm_errors.bad_request(
                f"Cancel operation is not allowed when the ProvisioningState is {state}: "
                "there is no operation in progress to abort.",
                code="OperationNotAllowed",
            )
        abort = SimOperation(str(uuid.uuid4()), "abort", cluster, pool.name if pool else None, now)
        self._pending.extend(running.abort(now, abort.id))
        del self._active[cluster.key]
        # Recorded (azure-cli test_aks_abort): the abort's own status is InProgress for a few
        # seconds, then Succeeded; the aborted operation and the resources are Canceled at once
        # here (AKS shows "Canceling" meanwhile, per the REST reference; not modelled).
        abort.due = now + dt.timedelta(seconds=self.pace.update)
        self._operations[abort.id] = abort
        self._aborts.append(abort)
        return abort

    # -- internals ----------------------------------------------------------------------------

    def _refuse_if_busy(self, cluster: SimCluster) -> None:
        """AKS's 409 while any operation runs on the cluster: on any pool or the control plane."""
        running = self._active.get(cluster.key)
        if running is None:
            return
        scope = f"agent pool {running.pool}" if running.pool else "managed cluster"
        raise arm_errors.operation_not_allowed(
            running.name, running.id, scope, running.started, pool=running.pool is not None
        )

    def _start(
        self,
        cluster: SimCluster,
        pool: str | None,
        name: str,
        phases: list[Phase],
        now: dt.datetime,
        *,
        external: bool = False,
    ) -> SimOperation | None:
        if not phases:
            return None
        operation = SimOperation(
            str(uuid.uuid4()), name, cluster, pool, now, phases, external=external
        )
        for phase in phases:
            touched = cluster.pool(phase.pool) if phase.pool else None
            if touched is not None:
                touched.provisioning_state, touched.error = RUNNING_STATE[phase.kind], None
        if pool is None:
            # Only the cluster's own operation (a managed cluster PUT) shows on the cluster; a
            # pool's operation shows on that pool while the cluster stays Succeeded, as the
            # recorded azure-cli traffic shows. Both hold the cluster: see _refuse_if_busy.
            cluster.provisioning_state, cluster.error = RUNNING_STATE[phases[0].kind], None
        self._operations[operation.id] = operation
        self._active[cluster.key] = operation
        self._pending.extend(operation.advance(now, self.catalog))
        return operation

    def _advance(self, now: dt.datetime) -> None:
        for external in self._due_external(now):
            # The model as it stood at the external start's instant decides its fate.
            at = max(external.at, self._checked)
            self._advance_operations(at)
            self._external[external] = self._start_external(external, at)
        self._advance_operations(now)
        if now > self._checked:
            self._release_versions(self._checked, now)
            self._checked = now

    def _advance_operations(self, now: dt.datetime) -> None:
        if self._aborts:
            for abort in self._aborts:
                abort.settle(now)
            self._aborts = [a for a in self._aborts if a.running]
        for key, operation in list(self._active.items()):
            self._pending.extend(operation.advance(now, self.catalog))
            if not operation.running:
                del self._active[key]

    def _due_external(self, now: dt.datetime) -> list[ExternalStart]:
        """The waiting external starts due by `now`, soonest first; they leave the waiting list."""
        if not self._waiting or self._waiting[0].at > now:
            return []
        count = bisect.bisect_right([e.at for e in self._waiting], now)
        due, self._waiting = self._waiting[:count], self._waiting[count:]
        return due

    def _unapplied(self) -> list[ExternalStart]:
        """The plan's external starts not applied yet, by instant (the plan's order among ties).

        Kept apart so a transaction, of which the host makes one or more at
        every stop, does not scan the whole plan.
        """
        waiting = [e for e in self._faults.external_starts if e not in self._external]
        return sorted(waiting, key=lambda e: e.at)

    def _start_external(self, external: ExternalStart, at: dt.datetime) -> str:
        """Start someone else's node image upgrade as AKS would; what became of it."""
        try:
            cluster = self.cluster(external.cluster)
        except KeyError:
            return f"no cluster {external.cluster!r}"
        pool = cluster.pool(external.pool)
        if pool is None:
            return f"no pool {external.pool!r} in {cluster.id.name}"
        try:
            started = self.upgrade_node_image(cluster, pool, at, external=True)
        except ArmError as exc:
            return f"refused: {exc.code}: {exc.message}"
        return "started" if started is not None else "nothing to do"

    def _release_versions(self, after: dt.datetime, until: dt.datetime) -> None:
        """NewKubernetesVersionAvailable for each cluster of a region that gained a version."""
        for region, instants in self._releases.items():
            first = bisect.bisect_right(instants, after)
            for instant in instants[first : bisect.bisect_right(instants, until)]:
                offered = {o.version for o in self.catalog.offered(region, instant)}
                if offered <= self._seen[region]:
                    continue
                self._seen[region] |= offered
                data = self.catalog.new_version_data(region, instant)
                for cluster in self._clusters:
                    if region_key(cluster.location) == region:
                        self._pending.append(
                            Happening("NewKubernetesVersionAvailable", cluster, dict(data), instant)
                        )

    def _envelopes(self) -> list[dict[str, Any]]:
        if not self._pending:
            return []
        happened = sorted(self._pending, key=lambda h: h.at)
        self._pending = []
        events = [
            envelope(h.event, str(h.cluster.id), h.data, h.at, self.event_schema) for h in happened
        ]
        self._emitted.extend(events)
        return events

    def _deliver(self, events: list[dict[str, Any]]) -> None:
        if self._sink is None:
            return
        for event in events:
            self._sink(event)

    def _drain_fails(self, cluster: SimCluster, pool: SimPool) -> bool:
        """The fault plan's PDB failure for this pool, once per plan."""
        key = (cluster.key, pool.name.lower())
        if key in self._drained or not self._faults.fails_drain(str(cluster.id), pool.name):
            return False
        self._drained.add(key)
        return True

    def _deprecated(self, cluster: SimCluster) -> bool:
        return self._faults.blocks_on_deprecated_api(str(cluster.id))
