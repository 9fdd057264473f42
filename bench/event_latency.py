"""How long the Event Grid trigger takes per event, with the store and queue on Azurite.

Calls the registered `on_aks_event` function in process, as the Functions
worker does: each event is JSON decoded by `EventGridEventInConverter`, under
`use_runtime` with services whose store is Table Storage and whose reconcile
queue is a Storage queue, both on Azurite (started here on 127.0.0.1; `npm ci`
installs it). The gateway points at the AKS simulator, which counts every ARM
request: the event path must send none (events are hints; the reconcile reads
ARM). Events are the six AKS types over distinct clusters, plus duplicates of
some of them (acknowledged without a second reconcile).

Prints p50, p99 and max milliseconds per invocation, for first deliveries and
for duplicates; last line: the ratio p99/p50 and the ARM requests served.

Run: `.venv/bin/python bench/event_latency.py [--events 500] [--duplicates 100]`
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import azure.functions as func
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

from bench.arm_cost import AT, SUB, generate, policy
from patchpilot.adapters.arm.client import ArmClients
from patchpilot.adapters.arm.gateway import ArmGateway
from patchpilot.adapters.arm.retry import RetryPolicy
from patchpilot.adapters.discovery import StaticDiscovery
from patchpilot.adapters.queues.storage import StorageQueue
from patchpilot.adapters.store import open_table_store
from patchpilot.localhost.host import registered_functions
from patchpilot.runtime import Runtime, use_runtime
from patchpilot.service.deps import Services
from patchpilot.settings import Settings
from patchpilot.sim.clock import VirtualClock
from patchpilot.sim.server import SimulatorHandle, run_simulator
from patchpilot.telemetry import Telemetry
from tests.integration import azurite

TYPES = (
    ("NewKubernetesVersionAvailable", {"latestSupportedKubernetesVersion": "1.34.1"}),
    ("ClusterSupportEnding", {"kubernetesVersion": "1.31.8"}),
    ("ClusterSupportEnded", {"kubernetesVersion": "1.30.9"}),
    ("NodePoolRollingStarted", {"nodePoolName": "user"}),
    ("NodePoolRollingSucceeded", {"nodePoolName": "user"}),
    ("NodePoolRollingFailed", {"nodePoolName": "user"}),
)


def event(index: int) -> dict[str, Any]:
    """The index-th event, in the Event Grid schema, for cluster c<index>."""
    kind, data = TYPES[index % len(TYPES)]
    group = f"rg-{index % 20}"
    return {
        "id": f"evt-{index:06d}",
        "topic": f"/subscriptions/{SUB}/resourceGroups/{group}"
        f"/providers/Microsoft.ContainerService/managedClusters/c{index}",
        "subject": f"c{index}",
        "eventType": f"Microsoft.ContainerService.{kind}",
        "eventTime": AT.isoformat().replace("+00:00", "Z"),
        "dataVersion": "1",
        "metadataVersion": "1",
        "data": data,
    }


def decoded(payload: dict[str, Any]) -> func.EventGridEvent | func.CloudEvent:
    """The event as the Python worker hands it to the function."""
    return EventGridEventInConverter.decode(
        meta.Datum(json.dumps(payload), "json"), trigger_metadata={}
    )


def services_on(connection: str, sim: SimulatorHandle) -> Services:
    """Production's services, with Azurite for storage and the simulator for ARM."""
    settings = Settings.from_env(
        {
            "PATCHPILOT_ARM_ENDPOINT": sim.url,
            "PATCHPILOT_ARM_CA_BUNDLE": str(sim.ca_path),
            "PATCHPILOT_CREDENTIAL": "static",
        }
    )
    clients = ArmClients(settings)
    rules = policy()
    return Services(
        policy=rules,
        store=open_table_store(connection_string=connection),
        queue=StorageQueue("reconcile", connection_string=connection),
        gateway=ArmGateway(clients, rules.scopes, retry=RetryPolicy(sleep=lambda s: None)),
        discovery=StaticDiscovery(()),
        telemetry=Telemetry.default(),
    )


def deliver(trigger: Callable[..., Any], payload: dict[str, Any]) -> float:
    """Milliseconds one invocation took, decoding included (the worker decodes too)."""
    started = time.perf_counter()
    trigger(decoded(payload))
    return (time.perf_counter() - started) * 1000


def percentile(values: list[float], share: float) -> float:
    """The `share` quantile (nearest rank) of the values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def report(label: str, values: list[float]) -> None:
    """One line of figures."""
    print(
        f"  {label}: {len(values)} events, p50 {percentile(values, 0.50):.2f} ms, "
        f"p99 {percentile(values, 0.99):.2f} ms, max {max(values):.2f} ms, "
        f"mean {statistics.fmean(values):.2f} ms"
    )


def main() -> None:
    """Deliver the events, print latencies and the ARM requests the simulator served."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--duplicates", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    # Pauses for NodePoolRollingFailed log warnings; the figures are what this prints.
    logging.basicConfig(level=logging.ERROR)
    rng = random.Random(args.seed)
    payloads = [event(i) for i in range(args.events)]
    repeats = [rng.choice(payloads) for _ in range(args.duplicates)]
    import function_app

    trigger = registered_functions(function_app.app)["on_aks_event"].call
    clock = VirtualClock(AT)
    with (
        azurite.running(("table", "queue")) as emulator,
        run_simulator(generate(args.events + 1), clock=clock) as sim,
    ):
        services = services_on(emulator.connection_string, sim)
        with use_runtime(Runtime(services, clock.now)):
            # The first invocation creates the tables and the queue: timed apart.
            warm = deliver(trigger, event(args.events))
            first = [deliver(trigger, p) for p in payloads]
            again = [deliver(trigger, p) for p in repeats]
        queued = services.queue.count()
        arm = sum(sim.requests().values())
    print(f"Event Grid trigger, store and queue on Azurite (first invocation {warm:.1f} ms)")
    report("first deliveries", first)
    report("duplicates", again)
    print(f"  reconcile messages queued: {queued} (expected {args.events + 1})")
    every = first + again
    ratio = percentile(every, 0.99) / percentile(every, 0.50)
    print(
        f"ratios: p99/p50 = {ratio:.2f}; p50 {percentile(every, 0.5):.2f} ms, "
        f"p99 {percentile(every, 0.99):.2f} ms; ARM requests on the event path: {arm} (goal 0)"
    )
    if arm:
        raise SystemExit(f"the event path sent {arm} ARM requests: {dict(sim.requests())}")


if __name__ == "__main__":
    main()
