"""How planning time grows with fleet size: 1,000 against 10,000 clusters.

Each generated cluster has 4 pools (a Linux system pool, a Linux user pool and
two Windows pools), sits in one of three rings and two regions, and has one of
several real AKS maintenance configurations (or the policy default). Prints
ms per cluster for each size and, last, the ratio t(10k)/t(1k): linear
planning gives about 10 (goal: under 1 ms per cluster, ratio under 11).

Run: `.venv/bin/python bench/plan_scale.py [--sizes 1000 10000] [--repeat 3]`
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import statistics
import time
from typing import Any

from patchpilot.domain.fleet import FleetState, parse_fleet
from patchpilot.domain.history import History
from patchpilot.domain.planner import allowed_piece, plan
from patchpilot.domain.policy import Policy, parse_policy

SUB = "00000000-0000-0000-0000-000000000000"
UBUNTU = "AKSUbuntu-2204gen2containerd"
WINDOWS = "AKSWindows-2022-containerd"
AT = dt.datetime(2025, 11, 22, 1, 30, tzinfo=dt.UTC)

SATURDAY = {
    "schedule": {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Saturday"}},
    "durationHours": 6,
    "utcOffset": "+01:00",
    "startTime": "02:00",
}
WINDOWS_CONFIGS: list[dict[str, Any] | None] = [
    None,
    {
        "schedule": {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Sunday"}},
        "durationHours": 4,
        "utcOffset": "+01:00",
        "startTime": "01:00",
    },
    {"schedule": {"daily": {"intervalDays": 1}}, "durationHours": 4, "startTime": "00:00"},
    {
        "schedule": {
            "relativeMonthly": {"intervalMonths": 1, "weekIndex": "First", "dayOfWeek": "Saturday"}
        },
        "durationHours": 8,
        "utcOffset": "-05:00",
        "startTime": "22:00",
        "notAllowedDates": [{"start": "2025-12-20", "end": "2026-01-04"}],
    },
    {
        "schedule": {"absoluteMonthly": {"intervalMonths": 1, "dayOfMonth": 31}},
        "durationHours": 6,
        "utcOffset": "+05:30",
        "startTime": "02:00",
    },
]


def generate(count: int, seed: int = 1) -> dict[str, Any]:
    """A fleet document of `count` clusters, reproducible from `seed`."""
    rng = random.Random(seed)
    catalog = {
        "kubernetes": [
            {"version": "1.31.8"},
            {"version": "1.32.6"},
            {"version": "1.32.9", "released": "2025-11-17"},
            {"version": "1.33.2"},
        ],
        "node_images": {
            UBUNTU: ["202511.03.0", {"version": "202511.17.0", "released": "2025-11-19"}],
            WINDOWS: [
                "20348.4294.251015",
                {"version": "20348.4405.251112", "released": "2025-11-16"},
            ],
        },
    }
    clusters = [_cluster(index, rng) for index in range(count)]
    return {"catalog": {"westeurope": catalog, "northeurope": catalog}, "clusters": clusters}


def _cluster(index: int, rng: random.Random) -> dict[str, Any]:
    version = rng.choice(["1.32.6", "1.32.6", "1.32.9", "1.31.8"])
    configs = {}
    for name in ("aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule"):
        config = rng.choice(WINDOWS_CONFIGS)
        if config is not None:
            configs[name] = {"maintenanceWindow": config}
    pools = [
        _pool("system", "Linux", "System", version),
        _pool("user", "Linux", "User", version),
        _pool("win1", "Windows", "User", version),
        _pool("win2", "Windows", "User", version),
    ]
    return {
        "id": f"/subscriptions/{SUB}/resourceGroups/rg-{index % 50}"
        f"/providers/Microsoft.ContainerService/managedClusters/c{index}",
        "location": rng.choice(["westeurope", "northeurope"]),
        "tags": {"env": rng.choice(["dev", "staging", "prod", "prod", "prod"])},
        "kubernetes_version": version,
        "maintenance_configurations": configs,
        "pools": pools,
    }


def _pool(name: str, os: str, mode: str, version: str) -> dict[str, Any]:
    image = f"{UBUNTU}-202511.03.0" if os == "Linux" else f"{WINDOWS}-20348.4294.251015"
    return {
        "name": name,
        "os": os,
        "mode": mode,
        "version": version,
        "node_image": image,
        "count": 3,
    }


def policy() -> Policy:
    """The DESIGN.md example policy."""
    return parse_policy(
        {
            "scopes": [f"/subscriptions/{SUB}"],
            "default_window": SATURDAY,
            "freezes": [{"start": "2025-12-20", "end": "2026-01-04", "reason": "year-end freeze"}],
            "rings": [
                {"name": "dev", "match": {"tags": {"env": "dev"}}, "soak_days": 0},
                {"name": "staging", "match": {"tags": {"env": "staging"}}, "soak_days": 2},
                {"name": "prod", "match": {"tags": {"env": "prod"}}, "soak_days": 5},
            ],
            "kubernetes": {"channel": "patch"},
        }
    )


def time_plan(fleet: FleetState, rules: Policy, repeat: int) -> float:
    """Median seconds to plan the fleet from a cold window cache, after one warm-up run.

    The fleet is long-lived data (as in a worker that keeps its snapshot), so
    it is moved out of the garbage collector's view first: otherwise each
    collection rescans 10,000 clusters and measures the heap, not the planner.
    """
    plan(fleet, rules, History(), AT)
    gc.collect()
    gc.freeze()
    samples = []
    for _ in range(repeat):
        allowed_piece.cache_clear()
        start = time.perf_counter()
        plan(fleet, rules, History(), AT)
        samples.append(time.perf_counter() - start)
    gc.unfreeze()
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rules = policy()
    timings = []
    for size in args.sizes:
        fleet = parse_fleet(generate(size))
        seconds = time_plan(fleet, rules, args.repeat)
        actions = len(plan(fleet, rules, History(), AT).actions)
        timings.append(seconds)
        print(
            f"{size:>6} clusters, {actions:>6} actions: {seconds * 1000:8.1f} ms, "
            f"{seconds * 1000 / size:.3f} ms per cluster"
        )
    small, large = args.sizes
    print(
        f"ratio t({large})/t({small}) = {timings[1] / timings[0]:.2f} "
        f"(size ratio {large / small:.0f}; goal < 11 and < 1 ms per cluster)"
    )


if __name__ == "__main__":
    main()
