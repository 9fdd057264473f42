"""The composition root: builds the use cases' collaborators from settings, once per process.

Azure Functions has no dependency injection, so each blueprint asks
:func:`current_runtime` for the :class:`Runtime` (services and clock). In
Azure it is built on first use from the environment (never at import: cold
start); the local host and the tests install their own with
:func:`use_runtime` (the simulator, SQLite or Azurite, a virtual clock). The
clock is read once per invocation by the trigger and passed down as `now`.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from patchpilot.settings import Settings, load_settings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from patchpilot.adapters.publisher import Publisher
    from patchpilot.adapters.queues import MessageQueue
    from patchpilot.adapters.store import Store
    from patchpilot.service.deps import Services

# The queue the reconcile trigger listens on; the Functions host moves messages
# that fail `maxDequeueCount` times (host.json) to the poison queue beside it.
RECONCILE_QUEUE = "reconcile"
POISON_QUEUE = f"{RECONCILE_QUEUE}-poison"


@dataclass(frozen=True)
class Runtime:
    """What a trigger needs: the services and the clock to read `now` from."""

    services: Services
    clock: Callable[[], dt.datetime]

    def now(self) -> dt.datetime:
        """The instant of this invocation (aware UTC)."""
        return self.clock().astimezone(dt.UTC)


_installed: ContextVar[Runtime | None] = ContextVar("patchpilot_runtime", default=None)


def current_runtime() -> Runtime:
    """The runtime a local host installed, else this process's own (built on first use)."""
    return _installed.get() or _process_runtime()


@contextmanager
def use_runtime(runtime: Runtime) -> Iterator[Runtime]:
    """Run the registered functions against `runtime` (local host, tests)."""
    token = _installed.set(runtime)
    try:
        yield runtime
    finally:
        _installed.reset(token)


@functools.cache
def _process_runtime() -> Runtime:
    return Runtime(build_services(load_settings()), _utc_now)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def build_services(settings: Settings) -> Services:
    """Every collaborator for the Function App, from settings."""
    from patchpilot.adapters.arm.budget import ARM_LIMITS, RequestBudget
    from patchpilot.adapters.arm.client import ArmClients, build_credential
    from patchpilot.adapters.arm.gateway import ArmGateway
    from patchpilot.adapters.discovery import discovery_from
    from patchpilot.adapters.fleet_gates import FleetGates
    from patchpilot.files import load_policy
    from patchpilot.service.deps import Services, Tuning
    from patchpilot.service.shadow import with_mode
    from patchpilot.telemetry import Telemetry

    policy = load_policy(settings.policy_path)
    credential = build_credential(settings)
    # One budget per process at ARM's documented per-subscription buckets; AKS's own
    # (stricter, per operation) limits lower it through the remaining-count headers and
    # every 429's Retry-After, which hold back the whole subscription at once.
    clients = ArmClients(settings, credential=credential, budget=RequestBudget(ARM_LIMITS))
    telemetry = Telemetry.default()
    return Services(
        policy=policy,
        store=open_store(settings, credential),
        queue=open_queue(settings, credential),
        gateway=with_mode(ArmGateway(clients, policy.scopes, observer=telemetry), settings.mode),
        discovery=discovery_from(settings, clients),
        telemetry=telemetry,
        publisher=open_publisher(settings, credential),
        tuning=Tuning(notice=dt.timedelta(hours=settings.notice_hours)),
        holder=f"{socket.gethostname()}:{os.getpid()}",
        clock=_utc_now,
        # Its SDK client is built on the first gate judged (cold start), on the same identity.
        fleet_gates=FleetGates(settings, credential=credential, observer=telemetry),
    )


def open_store(settings: Settings, credential: TokenCredential) -> Store:
    """Table Storage in Azure; SQLite for local runs."""
    from patchpilot.adapters.store import open_sqlite_store, open_table_store

    if settings.store == "sqlite":
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        return open_sqlite_store(settings.sqlite_path)
    settings.require_storage()
    if settings.storage_connection:
        return open_table_store(connection_string=settings.storage_connection)
    return open_table_store(account_url=settings.table_service_uri, credential=credential)


def open_queue(settings: Settings, credential: TokenCredential) -> MessageQueue:
    """The reconcile queue beside the store."""
    from patchpilot.adapters.queues.sqlite import SqliteQueue
    from patchpilot.adapters.queues.storage import StorageQueue

    if settings.store == "sqlite":
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteQueue(settings.sqlite_path, RECONCILE_QUEUE)
    settings.require_storage()
    if settings.storage_connection:
        return StorageQueue(RECONCILE_QUEUE, connection_string=settings.storage_connection)
    return StorageQueue(
        RECONCILE_QUEUE, account_url=settings.queue_service_uri, credential=credential
    )


def open_publisher(settings: Settings, credential: TokenCredential) -> Publisher:
    """Event Grid when a topic is configured; otherwise notices are only logged."""
    from patchpilot.adapters.publisher import EventGridPublisher, NullPublisher

    if settings.events_endpoint is None:
        return NullPublisher()
    return EventGridPublisher(settings.events_endpoint, credential)
