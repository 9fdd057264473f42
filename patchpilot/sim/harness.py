"""The whole app on one machine: simulator, store, queues, local host, one virtual clock.

Used by the demo and the tests. The Function App's own blueprints run in the
:class:`~patchpilot.sim.host.LocalHost`; the ARM adapter talks HTTPS to the
simulator with the real SDK; state lives in SQLite (or in Azurite when the
caller passes a Table store and Storage queues). Events the simulator emits
(NodePoolRolling*, NewKubernetesVersionAvailable) reach the Event Grid
trigger on the next tick of the clock, as Event Grid would deliver them.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from patchpilot.adapters.arm.gateway import ArmGateway
from patchpilot.adapters.arm.retry import RetryPolicy
from patchpilot.adapters.discovery import StaticDiscovery
from patchpilot.adapters.publisher import RecordingPublisher
from patchpilot.adapters.queues import MessageQueue
from patchpilot.adapters.queues.sqlite import SqliteQueue
from patchpilot.adapters.store import Store, open_sqlite_store
from patchpilot.domain.fleet import parse_fleet
from patchpilot.domain.policy import Policy
from patchpilot.runtime import POISON_QUEUE, RECONCILE_QUEUE, Runtime
from patchpilot.service.deps import Services, Tuning
from patchpilot.settings import Settings
from patchpilot.sim.clock import VirtualClock
from patchpilot.sim.faults import FaultPlan
from patchpilot.sim.host import HostConfig, LocalHost
from patchpilot.sim.pace import Pace
from patchpilot.sim.server import SimulatorHandle, run_simulator
from patchpilot.telemetry import Telemetry

ROOT = Path(__file__).resolve().parents[2]
APP_SETTINGS = {
    "PATCHPILOT_SWEEP_SCHEDULE": "0 */15 * * * *",
    "PATCHPILOT_WINDOWS_SCHEDULE": "0 0 18 8-14 * Tue",
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


@dataclass
class Harness:
    """A running app: the host, its services, the simulator and the clock they share."""

    host: LocalHost
    services: Services
    sim: SimulatorHandle
    clock: VirtualClock
    publisher: RecordingPublisher
    inbox: EventInbox

    def deliver_pending_events(self) -> None:
        """Hand the simulator's events to the Event Grid trigger."""
        self.sim.aks.tick()
        for event in self.inbox.take():
            self.host.deliver_event(event)


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
) -> Iterator[Harness]:
    """Start the simulator and the local host on one virtual clock; stop both at the end."""
    import function_app

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
        settings = Settings.from_env(
            {
                "PATCHPILOT_ARM_ENDPOINT": sim.url,
                "PATCHPILOT_ARM_CA_BUNDLE": str(sim.ca_path),
                "PATCHPILOT_CREDENTIAL": "static",
            }
        )
        store = store or open_sqlite_store(workdir / "state.db")
        stack.callback(store.close)
        reconcile_queue, poison_queue = queues or (
            SqliteQueue(workdir / "queues.db", RECONCILE_QUEUE),
            SqliteQueue(workdir / "queues.db", POISON_QUEUE),
        )
        services = _services(
            settings,
            policy=policy,
            store=store,
            queue=reconcile_queue,
            fleet=fleet,
            tuning=tuning,
            telemetry=telemetry,
        )
        runtime = Runtime(services, clock.now)
        config = HostConfig.load(ROOT / "host.json", APP_SETTINGS)
        host = LocalHost(
            function_app.app,
            runtime,
            clock,
            config,
            {RECONCILE_QUEUE: reconcile_queue, POISON_QUEUE: poison_queue},
        )
        assert isinstance(services.publisher, RecordingPublisher)
        harness = Harness(host, services, sim, clock, services.publisher, inbox)
        host.tick_hooks.append(harness.deliver_pending_events)
        yield harness


def _services(
    settings: Settings,
    *,
    policy: Policy,
    store: Store,
    queue: MessageQueue,
    fleet: Mapping[str, Any] | Path,
    tuning: Tuning | None,
    telemetry: Telemetry | None,
) -> Services:
    # Retries wait on the virtual clock's terms: no real sleeping in a simulated run.
    retry = RetryPolicy(sleep=lambda seconds: None)
    gateway = ArmGateway.from_settings(settings, policy.scopes, retry=retry)
    return Services(
        policy=policy,
        store=store,
        queue=queue,
        gateway=gateway,
        discovery=StaticDiscovery(_cluster_ids(fleet)),
        telemetry=telemetry or Telemetry.default(),
        publisher=RecordingPublisher(),
        tuning=tuning or Tuning(),
        holder="local-host",
    )


def _cluster_ids(fleet: Mapping[str, Any] | Path) -> tuple[Any, ...]:
    from patchpilot.files import read_document

    document = read_document(fleet) if isinstance(fleet, Path) else fleet
    stripped = {
        **document,
        "clusters": [
            {k: v for k, v in c.items() if k != "arm_properties"} for c in document["clusters"]
        ],
    }
    return tuple(c.id for c in parse_fleet(stripped).clusters)
