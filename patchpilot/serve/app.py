"""The local API's app: the registered functions on a local host, ARM, SQLite, one clock.

:func:`serving` starts it (the in-process simulator or a given ARM endpoint,
the store and queues in a folder, this run's tokens and keys, the front door
and the clock pump) and stops all of it when the block ends. Called by the
`patchpilot serve` command and by the tests.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from patchpilot.errors import InvalidInputError
from patchpilot.serve.credentials import AuthMode, Credentials
from patchpilot.serve.front_door import HOST, ApiServer

if TYPE_CHECKING:
    import azure.functions as func

    from patchpilot.adapters.queues import MessageQueue
    from patchpilot.adapters.store import Store
    from patchpilot.domain.policy import Policy
    from patchpilot.localhost.host import LocalHost
    from patchpilot.service.deps import Services
    from patchpilot.settings import Settings
    from patchpilot.sim.clock import Clock, VirtualClock

_log = logging.getLogger(__name__)


@dataclass
class LocalApi:
    """A running local API: where it listens, its credentials, and the host and clock behind it."""

    url: str
    credentials: Credentials
    host: LocalHost
    services: Services
    clock: VirtualClock
    arm_endpoint: str
    state: Path
    served: int = 0

    @property
    def key(self) -> str:
        """The host key: opens every function (people's routes only with authentication off)."""
        return self.credentials.host_key


@contextmanager
def serving(
    policy: Policy,
    *,
    fleet: Mapping[str, Any] | None,
    state: Path,
    port: int = 0,
    arm_endpoint: str | None = None,
    ca_bundle: Path | None = None,
    source: Clock | None = None,
    key: str | None = None,
    auth: AuthMode = "entra",
    pump_seconds: float | None = 1.0,
) -> Iterator[LocalApi]:
    """Run the API until the block ends; `pump_seconds` None leaves the clock to the caller.

    `auth`: ``entra`` models App Service authentication on (a token per
    role), ``keys`` models it off (the host key `key`, identity headers
    ignored); see :mod:`patchpilot.serve.credentials`.
    """
    from patchpilot.sim.clock import RealClock, VirtualClock

    source = source or RealClock()
    clock = VirtualClock(source.now())
    with ExitStack() as stack:
        api = _start_app(
            stack, policy, fleet, state, clock, arm_endpoint=arm_endpoint, ca_bundle=ca_bundle
        )
        api.credentials = Credentials.generate(auth, key)
        server = ApiServer(port, api)
        stack.callback(server.server_close)
        # A short poll so the block ends promptly: shutdown() waits for the next poll.
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="patchpilot-serve",
            daemon=True,
        )
        thread.start()
        stack.callback(thread.join, 10)
        stack.callback(server.shutdown)
        api.url = f"http://{HOST}:{server.server_address[1]}/api"
        if pump_seconds is not None:
            stack.enter_context(_pumping(api, source, pump_seconds))
        yield api


def _start_app(
    stack: ExitStack,
    policy: Policy,
    fleet: Mapping[str, Any] | None,
    state: Path,
    clock: VirtualClock,
    *,
    arm_endpoint: str | None,
    ca_bundle: Path | None,
) -> LocalApi:
    """The registered functions on a local host: ARM, SQLite store and queues, one clock."""
    from patchpilot.adapters.queues.sqlite import SqliteQueue
    from patchpilot.adapters.store import open_sqlite_store
    from patchpilot.localhost.harness import APP_SETTINGS, ROOT, EventInbox
    from patchpilot.localhost.host import HostConfig, LocalHost
    from patchpilot.runtime import POISON_QUEUE, RECONCILE_QUEUE, Runtime
    from patchpilot.sim.fleet_gates import fleets_of
    from patchpilot.sim.server import run_simulator

    state.mkdir(parents=True, exist_ok=True)
    inbox = EventInbox()
    sim = None
    if arm_endpoint is None:
        if fleet is None:
            raise InvalidInputError("a fleet is needed to simulate ARM", path="--fleet")
        sim = stack.enter_context(run_simulator(fleet, clock=clock, event_sink=inbox))
    if sim is not None:
        settings = _settings(sim.url, sim.ca_path, own_simulator=True)
    else:
        assert arm_endpoint is not None
        settings = _settings(arm_endpoint, ca_bundle, own_simulator=False)
    store = open_sqlite_store(state / "state.db")
    stack.callback(store.close)
    queues = {
        name: SqliteQueue(state / "queues.db", name) for name in (RECONCILE_QUEUE, POISON_QUEUE)
    }
    services = _services(settings, policy, fleet, store, queues[RECONCILE_QUEUE])
    services.clock = clock.now
    host_json = ROOT / "host.json"
    config = (
        HostConfig.load(host_json, APP_SETTINGS)
        if host_json.is_file()
        else HostConfig(settings=APP_SETTINGS)
    )
    host = LocalHost(_function_app(), Runtime(services, clock.now), clock, config, queues)
    if sim is not None:
        handle = sim

        def deliver() -> int:
            handle.aks.tick()
            events = inbox.take() + fleets_of(handle.aks).take_events()
            for event in events:
                host.deliver_event(event)
            return len(events)

        host.tick_hooks.append(deliver)
    # The first picture of the fleet, so status and plan have something to show.
    host.fire_timer("sweep")
    return LocalApi(
        "", Credentials.generate("keys"), host, services, clock, settings.arm_endpoint, state
    )


def _settings(endpoint: str, ca_bundle: Path | None, *, own_simulator: bool) -> Settings:
    """ARM settings: ours alone for the in-process simulator, else the environment's too.

    `PATCHPILOT_MODE` is read either way, so `PATCHPILOT_MODE=shadow patchpilot
    serve` tries shadow mode against the simulator (docs/shadow.md).
    """
    from patchpilot.settings import (
        ARM_CA_BUNDLE,
        ARM_ENDPOINT,
        CREDENTIAL,
        MODE,
        Settings,
        is_loopback,
        load_settings,
        process_environment,
    )

    overrides = {
        ARM_ENDPOINT: endpoint,
        CREDENTIAL: "static" if is_loopback(endpoint) else "default",
    }
    mode = process_environment().get(MODE)
    if mode:
        overrides[MODE] = mode
    if ca_bundle is not None:
        overrides[ARM_CA_BUNDLE] = str(ca_bundle)
    return Settings.from_env(overrides) if own_simulator else load_settings(overrides)


def _services(
    settings: Settings,
    policy: Policy,
    fleet: Mapping[str, Any] | None,
    store: Store,
    queue: MessageQueue,
) -> Services:
    from patchpilot.adapters.arm.budget import ARM_LIMITS, RequestBudget
    from patchpilot.adapters.arm.client import ArmClients
    from patchpilot.adapters.arm.gateway import ArmGateway
    from patchpilot.adapters.discovery import Discovery, StaticDiscovery, discovery_from
    from patchpilot.adapters.fleet_gates import FleetGates
    from patchpilot.adapters.publisher import NullPublisher
    from patchpilot.service.deps import Services
    from patchpilot.service.shadow import with_mode
    from patchpilot.telemetry import Telemetry

    discovery: Discovery = (
        StaticDiscovery(_cluster_ids(fleet))
        if fleet is not None
        else discovery_from(settings, ArmClients(settings))
    )
    return Services(
        policy=policy,
        store=store,
        queue=queue,
        # PATCHPILOT_MODE=shadow works here as in Azure: every ARM write refused.
        gateway=with_mode(
            ArmGateway.from_settings(settings, policy.scopes, budget=RequestBudget(ARM_LIMITS)),
            settings.mode,
        ),
        discovery=discovery,
        telemetry=Telemetry.default(),
        publisher=NullPublisher(),
        holder="patchpilot-serve",
        fleet_gates=FleetGates(settings),
    )


def _cluster_ids(fleet: Mapping[str, Any]) -> tuple[Any, ...]:
    """The fleet file's cluster IDs (simulator-only `arm_properties` left out)."""
    from patchpilot.domain.fleet import parse_fleet

    clusters = fleet.get("clusters") if isinstance(fleet, Mapping) else None
    stripped = {
        **fleet,
        "clusters": [
            {k: v for k, v in c.items() if k != "arm_properties"}
            for c in (clusters if isinstance(clusters, list) else [])
            if isinstance(c, Mapping)
        ],
    }
    return tuple(c.id for c in parse_fleet(stripped, source="fleet").clusters)


def _function_app() -> func.FunctionApp:
    """`function_app.app`, from the repository root when the console script runs elsewhere."""
    from patchpilot.localhost.harness import ROOT

    try:
        import function_app
    except ModuleNotFoundError:
        if not (ROOT / "function_app.py").is_file():
            raise InvalidInputError(
                "patchpilot serve runs the Function App's code: run it from the repository"
            ) from None
        sys.path.insert(0, str(ROOT))
        import function_app
    app: func.FunctionApp = function_app.app
    return app


@contextmanager
def _pumping(api: LocalApi, source: Clock, seconds: float) -> Iterator[None]:
    """Move the host's clock with `source`: timers fire and messages arrive as they fall due."""
    stop = threading.Event()

    def pump() -> None:
        while not stop.wait(seconds):
            try:
                api.host.run_until(max(source.now(), api.clock.now()))
            except Exception:  # a failed step must not stop the clock for good
                _log.exception("the local host failed to advance")

    thread = threading.Thread(target=pump, name="patchpilot-serve-clock", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
