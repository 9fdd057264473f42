"""A ring of clusters in one subscription, all due at once, against AKS's per-subscription throttle.

Runs the real Function App (timers, queue, reconciles) on the simulator and
a virtual clock (`patchpilot.localhost.harness.running_app`), with Resource Graph
discovery as in production. `--clusters` clusters (default 200) sit in ONE
subscription and ring, each with two Linux pools one node image behind and
windows open all day, so the first sweep makes every cluster due at the same
instant. The simulator plays AKS's per-subscription throttle
(`patchpilot.sim.throttle.AksThrottle`: read and write token buckets, burst
60 and 1 request/s each unless `--burst` / `--rate` say otherwise, 429 with
`Retry-After` beyond them).

Two runs, the same fleet and throttle:

- before: no request budget (the app learns of the limit from its 429s);
- after: the app's per-subscription budget
  (`patchpilot.adapters.arm.budget.RequestBudget`) with the same limits.

For each it prints, for requests that reached AKS's throttle: the total;
the mean rate while busy; the 429s (and those on starts); the peak reads
sent (429s included) in any one-second and any one-minute window, against
what the read bucket allows in that window (burst + rate x window); starts
(upgrade calls let through) in the peak minute; when the last start went
out; and whether every due start happened.
Last line: after/before ratios (429s, peak rates, starts per minute) and
the starts of both runs (goal: 429s near 0, every start made, later).

Run: `.venv/bin/python -m bench.arm_throttle [--clusters 200] [--burst 60] [--rate 1]`
Each reconcile still reads the whole fleet's state (issue 14, point 1), so a
run's wall time grows with the square of `--clusters`: `--clusters 50
--burst 20 --rate 0.5` (the same ring-to-bucket ratio, smaller) takes about
nine minutes for both runs on the development machine.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patchpilot.adapters.arm.budget import BucketLimits, BudgetLimits
from patchpilot.domain.policy import Policy, parse_policy
from patchpilot.localhost.harness import Harness, running_app
from patchpilot.sim.faults import FaultPlan
from patchpilot.sim.throttle import AksThrottle, Arrival

SUB = "00000000-0000-0000-0000-000000000000"
REGION = "westeurope"
UBUNTU = "AKSUbuntu-2204gen2containerd"
OLD, NEW = "202511.03.0", "202511.17.0"
AT = dt.datetime(2025, 11, 22, 1, 30, tzinfo=dt.UTC)
ALL_DAY = {"schedule": {"daily": {"intervalDays": 1}}, "durationHours": 24, "startTime": "00:00"}
STARTS = frozenset({"write"})
HORIZON = dt.timedelta(hours=12)
STEP = dt.timedelta(hours=1)


def fleet(count: int) -> dict[str, Any]:
    """`count` clusters in one subscription and region, both Linux pools one image behind."""
    image = f"{UBUNTU}-{OLD}"
    pools = [
        {"name": name, "os": "Linux", "os_sku": "Ubuntu", "mode": mode, "version": "1.33.2",
         "node_image": image, "count": 2}
        for name, mode in (("system", "System"), ("user", "User"))
    ]  # fmt: skip
    clusters = [
        {
            "id": f"/subscriptions/{SUB}/resourceGroups/rg-{index % 10}"
            f"/providers/Microsoft.ContainerService/managedClusters/c{index}",
            "location": REGION,
            "tags": {"env": "prod"},
            "kubernetes_version": "1.33.2",
            "maintenance_configurations": {
                "aksManagedNodeOSUpgradeSchedule": {"maintenanceWindow": ALL_DAY}
            },
            "pools": pools,
        }
        for index in range(count)
    ]
    catalog = {REGION: {"kubernetes": [{"version": "1.33.2"}], "node_images": {UBUNTU: [OLD, NEW]}}}
    return {"catalog": catalog, "clusters": clusters}


def policy() -> Policy:
    """One ring, open all day: the run lasts what the throttle and the upgrades take."""
    return parse_policy(
        {
            "scopes": [f"/subscriptions/{SUB}"],
            "default_window": ALL_DAY,
            "rings": [{"name": "prod", "match": {"tags": {"env": "prod"}}, "soak_days": 0}],
            "kubernetes": {"channel": "none"},
        }
    )


@dataclass(frozen=True)
class Figures:
    """What one run made AKS's throttle see (peaks are of reads, the bucket a ring empties)."""

    requests: int
    throttled: int
    throttled_writes: int
    peak_second: int
    peak_minute: int
    mean_per_second: float
    starts: int
    starts_peak_minute: int
    last_start: dt.timedelta
    behind: int
    wall_seconds: float


def run(count: int, throttle: AksThrottle, *, budget: bool) -> Figures:
    """The whole app over the fleet until every pool is upgraded (or the horizon passes)."""
    limits = BudgetLimits(
        read=BucketLimits(throttle.read_burst, throttle.read_per_second),
        write=BucketLimits(throttle.write_burst, throttle.write_per_second),
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work, running_app(
        fleet(count), policy(), AT, Path(work),
        faults=FaultPlan(aks_throttle=throttle),
        discovery="resource_graph",
        budget=limits if budget else None,
    ) as app:  # fmt: skip
        app.host.fire_timer("sweep")  # every cluster is due now
        while app.clock.now() < AT + HORIZON and _behind(app):
            app.host.run_until(min(app.clock.now() + STEP, AT + HORIZON))
        gate = app.sim.throttle()
        assert gate is not None  # the plan turns it on
        return _figures(gate.arrivals(), _behind(app), time.perf_counter() - started)


def _behind(app: Harness) -> int:
    """Pools not yet on the new image."""
    with app.sim.aks.transaction():
        return sum(
            1
            for cluster in app.sim.aks.clusters()
            for pool in cluster.pools
            if pool.node_image.version != NEW
        )


def _figures(arrivals: Sequence[Arrival], behind: int, wall: float) -> Figures:
    moments = [a.at.timestamp() for a in arrivals]
    reads = [a.at.timestamp() for a in arrivals if a.kind == "read"]
    starts = [a.at.timestamp() for a in arrivals if a.kind in STARTS and a.admitted]
    span = (max(moments) - min(moments)) if moments else 0.0
    last = max(starts, default=AT.timestamp()) - AT.timestamp()
    return Figures(
        requests=len(arrivals),
        throttled=sum(1 for a in arrivals if not a.admitted),
        throttled_writes=sum(1 for a in arrivals if not a.admitted and a.kind == "write"),
        peak_second=_peak(reads, 1.0),
        peak_minute=_peak(reads, 60.0),
        mean_per_second=len(moments) / span if span else float(len(moments)),
        starts=len(starts),
        starts_peak_minute=_peak(starts, 60.0),
        last_start=dt.timedelta(seconds=round(last)),
        behind=behind,
        wall_seconds=wall,
    )


def _peak(moments: Sequence[float], window: float) -> int:
    """The most instants in any half-open window [t, t + window)."""
    ordered = sorted(moments)
    return max(
        (bisect.bisect_left(ordered, t + window) - i for i, t in enumerate(ordered)), default=0
    )


def _report(label: str, figures: Figures, throttle: AksThrottle) -> None:
    second = throttle.read_burst + throttle.read_per_second
    minute = throttle.read_burst + 60 * throttle.read_per_second
    print(f"{label} ({figures.wall_seconds:.1f} s):")
    print(
        f"  requests at AKS {figures.requests} (mean {figures.mean_per_second:.2f}/s while "
        f"busy), 429s {figures.throttled} ({figures.throttled_writes} on starts); reads sent: "
        f"peak {figures.peak_second} in 1 s (the bucket allows {second:g}), "
        f"{figures.peak_minute} in 1 min (allows {minute:g})"
    )
    print(
        f"  starts {figures.starts} (peak {figures.starts_peak_minute} in a minute), "
        f"last at +{figures.last_start}; pools still behind: {figures.behind}"
    )


def main() -> None:
    """Both runs, their figures and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--burst", type=int, default=60, help="each bucket's burst")
    parser.add_argument("--rate", type=float, default=1.0, help="each bucket's refill per second")
    args = parser.parse_args()
    # Each 429 retried is a warning line; the figures count them instead.
    logging.getLogger("patchpilot.adapters.arm.retry").setLevel(logging.ERROR)
    throttle = AksThrottle(args.burst, args.rate, args.burst, args.rate)
    print(
        f"{args.clusters} clusters in one subscription, {2 * args.clusters} due starts; AKS "
        f"throttle per subscription: reads and writes burst {args.burst}, refill {args.rate:g}/s"
    )
    before = run(args.clusters, throttle, budget=False)
    _report("before (no budget)", before, throttle)
    after = run(args.clusters, throttle, budget=True)
    _report("after (per-subscription budget)", after, throttle)
    print(
        f"ratios after/before: 429s {after.throttled}/{before.throttled} = "
        f"{_ratio(after.throttled, before.throttled)}; peak per second "
        f"{_ratio(after.peak_second, before.peak_second)}; peak per minute "
        f"{_ratio(after.peak_minute, before.peak_minute)}; starts per peak minute "
        f"{_ratio(after.starts_peak_minute, before.starts_peak_minute)}; starts made "
        f"{after.starts}/{before.starts} (due {2 * args.clusters}); pools behind "
        f"{after.behind} and {before.behind}"
    )


def _ratio(after: float, before: float) -> str:
    return f"{after / before:.2f}" if before else "n/a"


if __name__ == "__main__":
    main()
