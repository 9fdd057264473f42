"""How many ARM requests a sweep and a patch cycle cost: 100 against 1,000 clusters.

Runs the real use cases (`sweep`, `handle_reconcile_message`) against the AKS
simulator on a virtual clock, with a SQLite store and queue and discovery
through Resource Graph, as in production. Each generated cluster sits in one
of five regions and has two Linux pools; every fifth has a Windows pool too
(two image families per region). Windows are open all day, so a cycle is
not stretched by the calendar. For each size it prints the requests the
simulator counted, by operation, for:

(a) a sweep in which nothing is due (after a first sweep that has no stored
    picture yet and observes every cluster in full, printed apart);
(b) a full patch cycle: the Linux pools of `--due` clusters are one node
    image behind; one sweep (the store already filled by an earlier one),
    then queued reconciles on the virtual clock until the queue is empty and
    every pool runs the latest image. A follow-up of a running upgrade polls
    its operation only; the cluster is read (its resource and maintenance
    configurations: the guard read) right before each start, and the
    region's versions and latest images at most every 15 minutes.

Last line: requests(1000)/requests(100) for the no-op sweep (goal: under 2,
growing with regions and image families, not clusters) and, for the cycle,
requests against the upgrade calls plus their polling (goal 1.00), and
against those plus the guard reads.

Run: `.venv/bin/python bench/arm_cost.py [--sizes 100 1000]`
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patchpilot.adapters.arm.client import ArmClients
from patchpilot.adapters.arm.gateway import ArmGateway
from patchpilot.adapters.arm.retry import RetryPolicy
from patchpilot.adapters.discovery import ResourceGraphDiscovery
from patchpilot.adapters.queues.sqlite import SqliteQueue
from patchpilot.adapters.store import open_sqlite_store
from patchpilot.domain.policy import Policy, parse_policy
from patchpilot.service.deps import Services
from patchpilot.service.messages import handle_reconcile_message
from patchpilot.service.sweep import sweep
from patchpilot.settings import Settings
from patchpilot.sim.clock import VirtualClock
from patchpilot.sim.server import SimulatorHandle, run_simulator
from patchpilot.telemetry import Telemetry

SUB = "00000000-0000-0000-0000-000000000000"
REGIONS = ("westeurope", "northeurope", "eastus", "westus2", "southeastasia")
UBUNTU = "AKSUbuntu-2204gen2containerd"
WINDOWS = "AKSWindows-2022-containerd"
OLD_LINUX, NEW_LINUX = "202511.03.0", "202511.17.0"
WINDOWS_IMAGE = "20348.4405.251112"
AT = dt.datetime(2025, 11, 22, 1, 30, tzinfo=dt.UTC)
ALL_DAY = {"schedule": {"daily": {"intervalDays": 1}}, "durationHours": 24, "startTime": "00:00"}
UPGRADES = ("AgentPools_UpgradeNodeImageVersion",)
POLLING = ("AsyncOperation_Get",)
GUARD_READS = ("ManagedClusters_Get", "MaintenanceConfigurations_ListByManagedCluster")
# A cycle that has not drained its queue after this much virtual time is stuck.
CYCLE_LIMIT = dt.timedelta(days=2)
STEP = dt.timedelta(minutes=1)


def generate(count: int, *, behind: int = 0) -> dict[str, Any]:
    """A fleet of `count` clusters in five regions; the first `behind` run one Linux image back."""
    images = {UBUNTU: [OLD_LINUX, NEW_LINUX], WINDOWS: [WINDOWS_IMAGE]}
    region = {"kubernetes": [{"version": "1.33.2"}], "node_images": images}
    clusters = []
    for index in range(count):
        linux = f"{UBUNTU}-{OLD_LINUX if index < behind else NEW_LINUX}"
        pools = [_pool("system", "Linux", "System", linux), _pool("user", "Linux", "User", linux)]
        if index % 5 == 0:
            pools.append(_pool("win22", "Windows", "User", f"{WINDOWS}-{WINDOWS_IMAGE}"))
        clusters.append(
            {
                "id": f"/subscriptions/{SUB}/resourceGroups/rg-{index % 20}"
                f"/providers/Microsoft.ContainerService/managedClusters/c{index}",
                "location": REGIONS[index % len(REGIONS)],
                "tags": {"env": "prod"},
                "kubernetes_version": "1.33.2",
                "maintenance_configurations": {
                    "aksManagedNodeOSUpgradeSchedule": {"maintenanceWindow": ALL_DAY}
                },
                "pools": pools,
            }
        )
    return {"catalog": dict.fromkeys(REGIONS, region), "clusters": clusters}


def _pool(name: str, os: str, mode: str, image: str) -> dict[str, Any]:
    sku = "Ubuntu" if os == "Linux" else "Windows2022"
    return {"name": name, "os": os, "os_sku": sku, "mode": mode, "version": "1.33.2",
            "node_image": image, "count": 2}  # fmt: skip


def policy() -> Policy:
    """One ring, windows open all day: the cycle's length is the upgrades', not the calendar's."""
    return parse_policy(
        {
            "scopes": [f"/subscriptions/{SUB}"],
            "default_window": ALL_DAY,
            "rings": [{"name": "prod", "match": {"tags": {"env": "prod"}}, "soak_days": 0}],
            "kubernetes": {"channel": "patch"},
        }
    )


@dataclass
class Bench:
    """The simulator, the services on it, and the virtual clock both read."""

    sim: SimulatorHandle
    services: Services
    clock: VirtualClock

    def counted(self) -> Counter[str]:
        """Requests served so far, by operation (any status)."""
        found: Counter[str] = Counter()
        for (operation, _), count in self.sim.requests().items():
            found[operation] += count
        return found


@contextmanager
def running(fleet: dict[str, Any], workdir: Path) -> Iterator[Bench]:
    """Simulator, SQLite store and queue, Resource Graph discovery: production's wiring."""
    workdir.mkdir(parents=True, exist_ok=True)
    clock = VirtualClock(AT)
    with run_simulator(fleet, clock=clock) as sim:
        settings = Settings.from_env(
            {
                "PATCHPILOT_ARM_ENDPOINT": sim.url,
                "PATCHPILOT_ARM_CA_BUNDLE": str(sim.ca_path),
                "PATCHPILOT_CREDENTIAL": "static",
            }
        )
        clients = ArmClients(settings)
        # Retries wait on the virtual clock's terms: no real sleeping in a simulated run.
        retry = RetryPolicy(sleep=lambda seconds: None)
        rules = policy()
        store = open_sqlite_store(workdir / "state.db")
        services = Services(
            policy=rules,
            store=store,
            queue=SqliteQueue(workdir / "queues.db", "reconcile"),
            gateway=ArmGateway(clients, rules.scopes, retry=retry),
            discovery=ResourceGraphDiscovery(clients, retry=retry),
            telemetry=Telemetry.default(),
        )
        try:
            yield Bench(sim, services, clock)
        finally:
            store.close()
            clients.close()


def noop_sweeps(bench: Bench) -> tuple[Counter[str], Counter[str]]:
    """Requests of the first sweep (no stored picture) and of the next, with nothing due."""
    before = bench.counted()
    first = sweep(bench.services, bench.clock.now())
    cold = bench.counted() - before
    bench.clock.advance(dt.timedelta(minutes=30))
    before = bench.counted()
    second = sweep(bench.services, bench.clock.now())
    if first.enqueued or second.enqueued:
        raise AssertionError(f"nothing should be due, yet {second.enqueued} were enqueued")
    return cold, bench.counted() - before


def cycle(bench: Bench) -> Counter[str]:
    """Sweep, then run queued reconciles on the virtual clock until the queue is empty.

    A first sweep, not counted, fills the store as an earlier sweep would
    have; what it enqueued is dropped, and the counted sweep enqueues it again.
    """
    services, clock = bench.services, bench.clock
    sweep(services, clock.now())
    while dropped := services.queue.receive(now=clock.now(), limit=64, lock=CYCLE_LIMIT):
        for delivery in dropped:
            services.queue.delete(delivery)
    clock.advance(dt.timedelta(minutes=30))
    before = bench.counted()
    sweep(services, clock.now())
    deadline = clock.now() + CYCLE_LIMIT
    while services.queue.count() and clock.now() < deadline:
        batch = services.queue.receive(now=clock.now(), limit=64, lock=dt.timedelta(minutes=5))
        if not batch:
            clock.advance(STEP)
            continue
        for delivery in batch:
            handle_reconcile_message(services, delivery.text, clock.now())
            services.queue.delete(delivery)
    behind = [
        f"{c.id.name}/{p.name}"
        for c in bench.sim.aks.clusters()
        for p in c.pools
        if p.os_type == "Linux" and p.node_image.version != NEW_LINUX
    ]
    if behind:
        raise AssertionError(f"{len(behind)} pools never reached {NEW_LINUX}: {behind[:5]}")
    return bench.counted() - before


def _line(label: str, counts: Counter[str]) -> str:
    parts = ", ".join(f"{op} {n}" for op, n in sorted(counts.items()))
    return f"  {label}: {sum(counts.values())} requests ({parts})"


def measure(size: int, due: int) -> tuple[int, int, int, int, int]:
    """Print one size's figures; return (no-op sweep, cycle, upgrades, polls, guard reads)."""
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        with running(generate(size), Path(work) / "noop") as bench:
            cold, noop = noop_sweeps(bench)
        with running(generate(size, behind=due), Path(work) / "cycle") as bench:
            spent = cycle(bench)
        seconds = time.perf_counter() - started
    upgrades = sum(spent[op] for op in UPGRADES)
    polls = sum(spent[op] for op in POLLING)
    guards = sum(spent[op] for op in GUARD_READS)
    print(f"{size} clusters in {len(REGIONS)} regions, {due} of them due ({seconds:.1f} s)")
    print(_line("first sweep (no stored picture)", cold))
    print(_line("no-op sweep", noop))
    print(_line("patch cycle", spent))
    total = sum(spent.values())
    print(
        f"  cycle: {upgrades} upgrades, {polls} polls, {guards} guard reads, "
        f"{total - upgrades - polls - guards} fleet and region reads; "
        f"{total / max(upgrades, 1):.2f} requests per upgrade"
    )
    return sum(noop.values()), total, upgrades, polls, guards


def main() -> None:
    """Measure each size and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[100, 1000])
    # Each reconcile still reads the fleet's ring progress, so a cycle's time grows with fleet size.
    parser.add_argument("--due", type=int, default=20, help="clusters due in the cycle")
    args = parser.parse_args()
    small, large = (measure(size, min(args.due, size)) for size in args.sizes)
    noop_ratio = large[0] / small[0]
    per_upgrade = [(run[1] / max(run[2], 1)) for run in (small, large)]
    cycle_ratio = large[1] / max(large[2] + large[3], 1)
    guarded_ratio = large[1] / max(large[2] + large[3] + large[4], 1)
    print(
        f"ratios: no-op sweep requests({args.sizes[1]})/requests({args.sizes[0]}) = "
        f"{noop_ratio:.2f} (goal < 2); cycle requests per upgrade {per_upgrade[0]:.2f} "
        f"vs {per_upgrade[1]:.2f}; cycle requests / (upgrades + polls) at "
        f"{args.sizes[1]} = {cycle_ratio:.2f} (goal 1.00), / (upgrades + polls + guard "
        f"reads) = {guarded_ratio:.2f}"
    )


if __name__ == "__main__":
    main()
