"""The whole app on one machine: simulator, store, queues, local host, one virtual clock.

Used by the demo and the tests. The Function App's own blueprints run in the
:class:`~patchpilot.localhost.host.LocalHost`; the ARM adapter talks HTTPS to the
simulator with the real SDK; state lives in SQLite (or in Azurite when the
caller passes a Table store and Storage queues). Events the simulator emits
(NodePoolRolling*, NewKubernetesVersionAvailable, and Fleet Manager's
FleetGate* of :mod:`patchpilot.sim.fleet_gates`) reach the Event Grid
triggers at the instant they happen, as Event Grid would deliver them: the
harness tells the host when the simulator next changes on its own (an upgrade
step starting, failing or ending; a region's catalog gaining a version; a
pool operation someone else starts), so the host's clock stops there and
nowhere in between.

Time passes where it would on Azure: a retry's wait (the RetryPolicy's sleep)
and a slow ARM answer move the one virtual clock on, so a use case that
re-reads its clock (`Services.clock`) sees the seconds a throttle storm cost.
AKS's per-subscription throttle is the fault plan's (``FaultPlan.aks_throttle``);
the app's own request budget is ``running_app(budget=...)``: each instance
then gets a :class:`~patchpilot.adapters.arm.budget.RequestBudget` of those
limits on the virtual clock, as each Function App process has its own.
Reliability tests add instances (:meth:`Harness.add_instance`: another
`Services` on the same store and simulator, its own holder name and a clock
off by a skew) and make reconciles collide (:meth:`Harness.collide`).
"""

from __future__ import annotations

import bisect
import datetime as dt
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import azure.functions as func

from patchpilot.adapters.arm.budget import BudgetLimits, RequestBudget
from patchpilot.adapters.arm.client import ArmClients
from patchpilot.adapters.arm.gateway import ArmGateway
from patchpilot.adapters.arm.retry import RetryPolicy
from patchpilot.adapters.discovery import Discovery, ResourceGraphDiscovery, StaticDiscovery
from patchpilot.adapters.fleet_gates import FleetGates
from patchpilot.adapters.publisher import RecordingPublisher
from patchpilot.adapters.queues import MessageQueue
from patchpilot.adapters.queues.sqlite import SqliteQueue
from patchpilot.adapters.store import Store, open_sqlite_store
from patchpilot.domain.fleet import parse_fleet
from patchpilot.domain.policy import Policy
from patchpilot.domain.resource_ids import ClusterId
from patchpilot.localhost.host import DISABLED_SETTING, HostConfig, LocalHost
from patchpilot.localhost.workers import RacePlan, Workers
from patchpilot.runtime import POISON_QUEUE, RECONCILE_QUEUE, Runtime
from patchpilot.service.deps import Services, Tuning
from patchpilot.settings import Settings
from patchpilot.sim.aks_maintenance import announcements_of
from patchpilot.sim.clock import VirtualClock
from patchpilot.sim.faults import FaultPlan
from patchpilot.sim.fleet_gates import fleets_of
from patchpilot.sim.pace import Pace
from patchpilot.sim.server import SimulatorHandle, run_simulator
from patchpilot.telemetry import Telemetry

ROOT = Path(__file__).resolve().parents[2]
APP_SETTINGS = {
    "PATCHPILOT_SWEEP_SCHEDULE": "0 */15 * * * *",
    "PATCHPILOT_WINDOWS_SCHEDULE": "0 0 18 8-14 * Tue",
    "PATCHPILOT_RETENTION_SCHEDULE": "0 17 * * * *",
    "PATCHPILOT_FLEET_GATES_SCHEDULE": "0 */5 * * * *",
}


@dataclass
class EventInbox:
    """Events the simulator emitted, waiting for the host's next tick."""

    pending: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: dict[str, Any]) -> None:
        with self.lock:
            self.pending.append(event)

    def take(self) -> list[dict[str, Any]]:
        with self.lock:
            taken, self.pending = self.pending, []
        return taken


@dataclass(frozen=True)
class _Kit:
    """What another instance is built from: the settings, a store opener, the shared parts."""

    settings: Settings
    open_store: Callable[[], Store]
    discovery: Discovery
    telemetry: Telemetry
    stack: ExitStack
    budget: BudgetLimits | None = None


@dataclass
class Harness:
    """A running app: the host, its services, the simulator and the clock they share."""

    host: LocalHost
    services: Services
    sim: SimulatorHandle
    clock: VirtualClock
    publisher: RecordingPublisher
    inbox: EventInbox
    release_instants: tuple[dt.datetime, ...] = ()
    instances: list[Runtime] = field(default_factory=list)
    _kit: _Kit | None = field(default=None, repr=False)

    def add_instance(self, holder: str, skew: dt.timedelta = dt.timedelta(0)) -> Runtime:
        """Another instance of the app: its own Services on the same store, queue and simulator.

        Its store object is opened anew on the same storage (its own SQLite
        connection or Table client), its gateway has its own ARM clients, its
        lease holder is `holder`, and its clock (`now` and `Services.clock`)
        reads the virtual clock plus `skew`, as a machine whose clock is off.
        """
        assert self._kit is not None  # running_app builds every Harness with one
        kit, main = self._kit, self.services
        store = kit.open_store()
        kit.stack.callback(store.close)
        services = _services(
            kit.settings,
            policy=main.policy,
            store=store,
            queue=main.queue,
            tuning=main.tuning,
            telemetry=kit.telemetry,
            discovery=kit.discovery,
            clock=self.clock,
            holder=holder,
            skew=skew,
            publisher=self.publisher,
            budget=kit.budget,
        )
        closer = getattr(services.gateway, "close", None)
        if closer is not None:
            kit.stack.callback(closer)
        if isinstance(services.fleet_gates, FleetGates):
            kit.stack.callback(services.fleet_gates.close)
        assert services.clock is not None  # _services always gives one
        runtime = Runtime(services, services.clock)
        self.instances.append(runtime)
        return runtime

    def collide(self, plan: RacePlan) -> Workers:
        """Make reconciles collide as `plan` says, over every instance added so far."""
        return Workers(self.host, tuple(self.instances), plan, self.behind_pool_request).install()

    def behind_pool_request(self, cluster: str) -> dict[str, Any] | None:
        """An operator's request body: the node image upgrade of the cluster's first pool behind."""
        aks = self.sim.aks
        with aks.transaction() as now:
            found = aks.cluster(cluster)
            for pool in found.pools:
                latest = aks.catalog.latest_image(found.location, pool.node_image.family, now)
                if latest is not None and latest.newer_than(pool.node_image):
                    return {"cluster": str(found.id), "pool": pool.name, "kind": "node_image"}
        return None

    def deliver_pending_events(self) -> int:
        """Hand the simulator's events to the Event Grid triggers; returns how many.

        AKS's events and Fleet Manager's gate events each reach the function
        their subscription names (:data:`patchpilot.localhost.host.EVENT_ROUTES`).
        """
        self.sim.aks.tick()
        aks, now = self.sim.aks, self.clock.now()
        events = (
            self.inbox.take()
            + fleets_of(aks).take_events()
            + announcements_of(aks).take_events(now)
        )
        for event in events:
            self.host.deliver_event(event)
        return len(events)

    def next_simulated_change(self, after: dt.datetime) -> dt.datetime | None:
        """When the simulated AKS next changes on its own, after `after` (None: never).

        That is a phase of a running operation starting, failing or ending
        (each emits a NodePoolRolling* event), or a region's catalog gaining a
        Kubernetes version (NewKubernetesVersionAvailable).
        """
        aks = self.sim.aks
        moments = [
            _first_after(self.release_instants, after),
            aks.next_external_start(after),
            announcements_of(aks).next_change(after),
        ]
        # One transaction for the fleet: this runs at every stop of the host's clock.
        for operation in aks.active_operations():
            for phase in operation.phases:
                if not phase.done:
                    moments.extend((phase.start, phase.end, phase.fail_at))
        later = [moment for moment in moments if moment is not None and moment > after]
        return min(later, default=None)


@contextmanager
def running_app(
    fleet: Mapping[str, Any] | Path,
    policy: Policy,
    start: dt.datetime,
    workdir: Path,
    *,
    faults: FaultPlan | None = None,
    pace: Pace | None = None,
    tuning: Tuning | None = None,
    store: Store | None = None,
    queues: tuple[MessageQueue, MessageQueue] | None = None,
    telemetry: Telemetry | None = None,
    event_schema: Literal["EventGridSchema", "CloudEventSchemaV1_0"] = "EventGridSchema",
    app_settings: Mapping[str, str] | None = None,
    discovery: Literal["static", "resource_graph"] = "static",
    threads: int | None = None,
    skew: dt.timedelta = dt.timedelta(0),
    open_store: Callable[[], Store] | None = None,
    budget: BudgetLimits | None = None,
) -> Iterator[Harness]:
    """Start the simulator and the local host on one virtual clock; stop both at the end.

    `app_settings` override the Function App's settings the host reads
    (:data:`APP_SETTINGS`), such as a less frequent sweep schedule.
    `discovery`: the fleet's fixed cluster list (every sweep then observes
    each cluster in full, two requests apiece), or the simulator's Resource
    Graph, as the app finds clusters in Azure (a sweep then costs requests
    per region and image family, not per cluster). `threads`: the worker's
    thread pool for queue messages (None: as in Azure, see
    :attr:`~patchpilot.localhost.host.HostConfig.worker_threads`; 1: one message
    after another, in order). `skew`: how far this instance's clock is
    off the virtual clock. `open_store` opens another store object on the same
    storage for each added instance (default: the SQLite file, or the given
    `store` itself). `budget`: the limits of the request budget each
    instance's ARM calls share, on the virtual clock (None: no budget).
    """
    app = _function_app()
    clock = VirtualClock(start)
    inbox = EventInbox()
    with ExitStack() as stack:
        sim = stack.enter_context(
            run_simulator(
                fleet,
                clock=clock,
                faults=faults,
                pace=pace,
                event_sink=inbox,
                event_schema=event_schema,
            )
        )
        settings = _simulator_settings(sim)
        open_store = open_store or _store_opener(store, workdir)
        store = store or open_store()
        stack.callback(store.close)
        reconcile_queue, poison_queue = queues or (
            SqliteQueue(workdir / "queues.db", RECONCILE_QUEUE),
            SqliteQueue(workdir / "queues.db", POISON_QUEUE),
        )
        recorder = telemetry or Telemetry.default()
        found = _discovery(discovery, settings, fleet, stack, clock)
        services = _services(
            settings,
            policy=policy,
            store=store,
            queue=reconcile_queue,
            tuning=tuning,
            telemetry=recorder,
            discovery=found,
            clock=clock,
            skew=skew,
            budget=budget,
        )
        assert services.clock is not None  # _services always gives one
        if isinstance(services.fleet_gates, FleetGates):
            stack.callback(services.fleet_gates.close)
        runtime = Runtime(services, services.clock)
        config = HostConfig.load(
            ROOT / "host.json", {**APP_SETTINGS, **_disabled(policy), **(app_settings or {})}
        )
        host = LocalHost(
            app,
            runtime,
            clock,
            config,
            {RECONCILE_QUEUE: reconcile_queue, POISON_QUEUE: poison_queue},
            threads=threads,
        )
        stack.callback(host.close)
        assert isinstance(services.publisher, RecordingPublisher)
        kit = _Kit(settings, open_store, found, recorder, stack, budget)
        harness = Harness(
            host, services, sim, clock, services.publisher, inbox, _releases(sim), [runtime], kit
        )
        host.tick_hooks.append(harness.deliver_pending_events)
        host.wakeups.append(harness.next_simulated_change)
        yield harness


def _simulator_settings(sim: SimulatorHandle) -> Settings:
    """The app's settings pointed at the simulator: its URL, its CA, a static token."""
    return Settings.from_env(
        {
            "PATCHPILOT_ARM_ENDPOINT": sim.url,
            "PATCHPILOT_ARM_CA_BUNDLE": str(sim.ca_path),
            "PATCHPILOT_CREDENTIAL": "static",
        }
    )


def _store_opener(store: Store | None, workdir: Path) -> Callable[[], Store]:
    """How each instance opens the store: the given one itself, else the SQLite file."""
    if store is not None:
        return lambda: store
    return lambda: open_sqlite_store(workdir / "state.db")


def _releases(sim: SimulatorHandle) -> tuple[dt.datetime, ...]:
    """Every instant the simulated catalog changes in some region, soonest first."""
    catalog = sim.aks.catalog
    return tuple(
        sorted({i for region in catalog.regions() for i in catalog.release_instants(region)})
    )


def _disabled(policy: Policy) -> dict[str, str]:
    """The functions the deployment disables for this policy, as infra/main.bicep does.

    With no fleet in the policy's `fleet_gates` (Bicep's `fleetIds` empty),
    the Fleet gate follow-up has nothing to judge: the app setting
    ``AzureWebJobs.follow_fleet_gates.Disabled`` keeps its timer from firing
    288 times a day for nothing. A caller's `app_settings` can override it.
    """
    if policy.fleet_gates.fleets:
        return {}
    return {DISABLED_SETTING.format("follow_fleet_gates"): "true"}


def _function_app() -> func.FunctionApp:
    """The Function App object, as the Functions host loads it from the app's root folder.

    `function_app.py` sits at the repository root (where Azure Functions looks
    for it), outside the installed `patchpilot` package; a console script
    such as `patchpilot demo` does not have that folder on its path, so it is
    added here, as the host adds the app root.
    """
    try:
        import function_app
    except ModuleNotFoundError:
        if not (ROOT / "function_app.py").is_file():
            raise
        sys.path.insert(0, str(ROOT))
        import function_app
    app: func.FunctionApp = function_app.app
    return app


def _first_after(moments: tuple[dt.datetime, ...], after: dt.datetime) -> dt.datetime | None:
    """The first of sorted `moments` strictly after `after`."""
    index = bisect.bisect_right(moments, after)
    return moments[index] if index < len(moments) else None


def _services(
    settings: Settings,
    *,
    policy: Policy,
    store: Store,
    queue: MessageQueue,
    tuning: Tuning | None,
    telemetry: Telemetry,
    discovery: Discovery,
    clock: VirtualClock,
    holder: str = "local-host",
    skew: dt.timedelta = dt.timedelta(0),
    publisher: RecordingPublisher | None = None,
    budget: BudgetLimits | None = None,
) -> Services:
    retry = _virtual_retry(clock)
    # ARM calls report to the same telemetry as the functions: one trace per reconcile.
    gateway = ArmGateway.from_settings(
        settings,
        policy.scopes,
        retry=retry,
        observer=telemetry,
        budget=virtual_budget(budget, clock) if budget is not None else None,
    )
    return Services(
        policy=policy,
        store=store,
        queue=queue,
        gateway=gateway,
        discovery=discovery,
        telemetry=telemetry,
        publisher=publisher or RecordingPublisher(),
        tuning=tuning or Tuning(),
        holder=holder,
        clock=_skewed(clock, skew),
        # The real Fleet client to the simulator's Fleet gate API, retrying on the virtual clock.
        fleet_gates=FleetGates(settings, retry=retry, observer=telemetry),
    )


def virtual_budget(limits: BudgetLimits, clock: VirtualClock) -> RequestBudget:
    """A request budget whose seconds are the virtual clock's (the waits a retry sleeps)."""
    return RequestBudget(limits, clock=lambda: clock.now().timestamp())


def _skewed(clock: VirtualClock, skew: dt.timedelta) -> Callable[[], dt.datetime]:
    """An instance's clock: the virtual clock, off by `skew` (a machine's clock drifts)."""
    if not skew:
        return clock.now
    return lambda: clock.now() + skew


def _discovery(
    kind: Literal["static", "resource_graph"],
    settings: Settings,
    fleet: Mapping[str, Any] | Path,
    stack: ExitStack,
    clock: VirtualClock,
) -> Discovery:
    """The fleet's own cluster list, or Resource Graph queries to the simulator."""
    if kind == "static":
        return StaticDiscovery(_cluster_ids(fleet))
    clients = ArmClients(settings)
    stack.callback(clients.close)
    return ResourceGraphDiscovery(clients, retry=_virtual_retry(clock))


def _virtual_retry(clock: VirtualClock) -> RetryPolicy:
    """Retries wait on the virtual clock: the seconds tenacity sleeps pass for everyone, at once.

    tenacity measures its own deadline on the real monotonic clock, which
    does not move here: in the harness a call stops on `max_attempts` only, so
    its retries can span more virtual time than the deadline allows on Azure
    (harsher than Azure, never kinder).
    """

    # Threads that sleep at once overlap and wake in order, as real sleeps do
    # (VirtualClock.sleep), instead of adding up.
    return RetryPolicy(sleep=clock.sleep)


def _cluster_ids(fleet: Mapping[str, Any] | Path) -> tuple[ClusterId, ...]:
    from patchpilot.files import read_document

    # The fleet parser accepts the simulator's `arm_properties` overlays as they are.
    document = read_document(fleet) if isinstance(fleet, Path) else fleet
    return tuple(c.id for c in parse_fleet(document).clusters)
