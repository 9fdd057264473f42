"""State at scale: store rows per reconcile by fleet size and age; the sweep's largest invocation.

Issue 14 asks that a reconcile read its own cluster and small summaries, not
the fleet and its history, that every stored kind stay bounded over years,
and that no sweep invocation hold the whole fleet. This prints the ratios
that say so; it asserts nothing. Everything goes through the app's entry
points (`handle_reconcile_message`, `save_clusters`, the registered functions
in the local host) and the store's row primitives, counted by
:mod:`bench.row_counts`, so it measures whatever table layout the store has.

Parts (`--part`, any number; default all three):

- `reconcile`: rows read and written and store requests of one reconcile
  that starts an upgrade, one that finds nothing to do, and the same idle
  one again, at `--sizes` clusters (default 100 and 10,000) in three rings
  (the reconciled clusters are in prod, behind the rings before). Every
  cluster is in the ARM simulator; the store is seeded with `save_clusters`
  from the generated cluster states, then one sweep through Resource Graph
  (which then reads each cluster from its row, and completes whatever the
  sweep maintains, such as ring gates). `--seed sweep`: the sweep alone, which
  observes every cluster in full (much slower at 10k). Last line: rows read
  at the large size / at the small one (goal <= 1.2).
- `year`: `--days` (365) of the real release calendar (bench.replay_calendar,
  as bench/time_to_patch.py replays it) over `--clusters` (30) clusters,
  through the local host on a virtual clock. Every `--every` (30) simulated
  days: the rows each stored kind holds (per table; per snapshot kind, the
  partition's prefix before `~`), the longest stored value (Table Storage caps
  a string property at 32K characters) and rows read per reconcile in that
  stretch; then, per ring and for first tries and follow-ups apart (and
  both), rows read per reconcile in the last `--edge` (10) days / in the
  first `--edge` days from the ring's first reconcile; last line: the worst
  of those ratios (goal <= 1.2), and the worst mixed mean.
- `sweep`: a sweep of `--sweep-sizes` clusters (default 1,000 and 10,000, one
  subscription per 100 clusters) found through the simulator's Resource Graph,
  run as the timer runs it, with whatever invocations it causes (today one;
  a fan-out of per-subscription messages later). For the first sweep (no
  stored picture) and a steady one: the largest invocation's duration, then
  a steady sweep again under tracemalloc for the largest peak memory.

Run: `.venv/bin/python bench/state_scale.py [--part reconcile year sweep]
[--sizes 100 10000] [--seed save|sweep] [--clusters 30] [--days 365]
[--sweep-sizes 1000 10000] [--quick]`. `--quick` is a smoke test with small
sizes (a few seconds per part). Times are wall-clock and noisy; row counts
are exact.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make `bench` importable
    sys.path.insert(0, str(ROOT))

from bench.replay_calendar import (  # noqa: E402
    build_catalog,
    generate_fleet,
    generate_policy,
    read_releases,
)
from bench.row_counts import CountingRows, Invocation, InvocationLog, Tally, stored_kinds  # noqa: E402
from patchpilot.adapters.store import TableNames  # noqa: E402
from patchpilot.demo.runner import SECONDS_PER_NODE, SWEEP_HOURS  # noqa: E402
from patchpilot.domain.fleet import parse_fleet  # noqa: E402
from patchpilot.domain.messages import ReconcileRequest  # noqa: E402
from patchpilot.domain.policy import Policy, parse_policy  # noqa: E402
from patchpilot.domain.resource_ids import parse_cluster_id  # noqa: E402
from patchpilot.localhost.harness import Harness, running_app  # noqa: E402
from patchpilot.service.deps import Tuning  # noqa: E402
from patchpilot.service.messages import handle_reconcile_message  # noqa: E402
from patchpilot.service.snapshots import save_clusters  # noqa: E402
from patchpilot.service.sweep import sweep  # noqa: E402
from patchpilot.sim.pace import Pace  # noqa: E402

DAY: Final = dt.timedelta(days=1)
AT: Final = dt.datetime(2025, 11, 22, 1, 30, tzinfo=dt.UTC)
REGIONS: Final = ("westeurope", "northeurope", "eastus", "westus2", "southeastasia")
UBUNTU: Final = "AKSUbuntu-2204gen2containerd"
WINDOWS: Final = "AKSWindows-2022-containerd"
OLD_LINUX, NEW_LINUX = "202511.03.0", "202511.17.0"
WINDOWS_IMAGE: Final = "20348.4405.251112"
KUBERNETES: Final = "1.33.2"
ALL_DAY: Final = {
    "schedule": {"daily": {"intervalDays": 1}},
    "durationHours": 24,
    "startTime": "00:00",
}
RINGS: Final = ("dev", "staging", "prod")
CLUSTERS_PER_SUBSCRIPTION: Final = 100
# No timer fires by itself in the reconcile and sweep parts: the benchmark fires them.
NEVER: Final = {
    "PATCHPILOT_SWEEP_SCHEDULE": "0 0 0 1 1 *",
    "PATCHPILOT_WINDOWS_SCHEDULE": "0 0 0 1 1 *",
    "PATCHPILOT_RETENTION_SCHEDULE": "0 17 * * * *",
}
GOAL: Final = 1.2
# How reconciles are grouped in the year part (see _year_ratio).
FIRST_TRY: Final = "first tries"
FOLLOW_UP: Final = "follow-ups"
MIXED: Final = "both"
# Small sizes for a smoke test; the year starts two days before the 2025-07-20 release.
QUICK: Final = {"sizes": [10, 60], "clusters": 6, "days": 24, "start": dt.date(2025, 7, 18),
                "edge": 6, "every": 8, "sweep_sizes": [20, 100]}  # fmt: skip


# --------------------------------------------------------------------------- the fleet


def subscription(index: int) -> str:
    """The subscription of the `index`-th block of clusters."""
    return f"00000000-0000-0000-0000-{index:012d}"


def ring_of(index: int) -> str:
    """A tenth of the fleet in dev, a fifth in staging, the rest in prod."""
    tenth = index % 10
    return "dev" if tenth == 0 else "staging" if tenth in {1, 2} else "prod"


def fleet_document(count: int, *, behind: frozenset[int] = frozenset()) -> dict[str, Any]:
    """`count` clusters in three rings, five regions and one subscription per hundred.

    Each has two Linux pools (one image behind for the indices in `behind`)
    and every fifth a Windows pool; windows are open all day, so what a
    reconcile does depends on the rings, not on the calendar.
    """
    images = {UBUNTU: [OLD_LINUX, NEW_LINUX], WINDOWS: [WINDOWS_IMAGE]}
    region = {"kubernetes": [{"version": KUBERNETES}], "node_images": images}
    return {
        "catalog": dict.fromkeys(REGIONS, region),
        "clusters": [_cluster(index, index in behind) for index in range(count)],
    }


def _cluster(index: int, behind: bool) -> dict[str, Any]:
    linux = f"{UBUNTU}-{OLD_LINUX if behind else NEW_LINUX}"
    pools = [_pool("system", "Linux", "System", linux), _pool("user", "Linux", "User", linux)]
    if index % 5 == 0:
        pools.append(_pool("win22", "Windows", "User", f"{WINDOWS}-{WINDOWS_IMAGE}"))
    ring = ring_of(index)
    return {
        "id": f"/subscriptions/{subscription(index // CLUSTERS_PER_SUBSCRIPTION)}"
        f"/resourceGroups/rg-{ring}-{index % 7}"
        f"/providers/Microsoft.ContainerService/managedClusters/{ring}-{index}",
        "location": REGIONS[index % len(REGIONS)],
        "tags": {"env": ring},
        "kubernetes_version": KUBERNETES,
        "maintenance_configurations": {
            "aksManagedNodeOSUpgradeSchedule": {"maintenanceWindow": ALL_DAY}
        },
        "pools": pools,
    }


def _pool(name: str, os: str, mode: str, image: str) -> dict[str, Any]:
    sku = "Ubuntu" if os == "Linux" else "Windows2022"
    return {"name": name, "os": os, "os_sku": sku, "mode": mode, "version": KUBERNETES,
            "node_image": image, "count": 2}  # fmt: skip


def fleet_policy(count: int) -> Policy:
    """Three rings, no soak or canary days, windows open all day, every subscription in scope."""
    blocks = max(1, -(-count // CLUSTERS_PER_SUBSCRIPTION))
    return parse_policy(
        {
            "scopes": [f"/subscriptions/{subscription(i)}" for i in range(blocks)],
            "default_window": ALL_DAY,
            "rings": [{"name": r, "match": {"tags": {"env": r}}, "soak_days": 0} for r in RINGS],
            "kubernetes": {"channel": "patch"},
            # No canary days either: the starting reconcile starts when the sweep saw dev done.
            "promotion": {"canary_days": 0},
        }
    )


@contextmanager
def app_on(
    fleet: dict[str, Any], policy: Policy, workdir: Path, **options: Any
) -> Iterator[Harness]:
    """The whole app (simulator, SQLite, local host) with counted store rows and invocations."""
    settings = {**NEVER, **options.pop("app_settings", {})}
    # One message at a time: rows are counted per invocation, which threads would mix.
    options.setdefault("threads", 1)
    with running_app(fleet, policy, AT, workdir, app_settings=settings, **options) as app:
        yield app


def counted(app: Harness) -> tuple[CountingRows, InvocationLog]:
    """Count the app's store rows (the `Rows` object `RowStore` wraps) and its invocations."""
    rows = getattr(app.services.store, "_rows")  # noqa: B009  # the backend under RowStore
    counting = CountingRows(rows).install()
    return counting, InvocationLog(app.host, counting).install()


def scratch() -> Path | None:
    """Memory-backed /dev/shm when there is one: the SQLite store's fsyncs do not wait on a disk."""
    shm = Path("/dev/shm")  # a private temporary directory is made inside
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


# --------------------------------------------------------------------------- part 1: reconcile


@dataclass(frozen=True)
class ReconcileFigures:
    """One fleet size: the store traffic of each measured reconcile, by label."""

    size: int
    seeded_seconds: float
    spent: dict[str, Tally]
    seconds: dict[str, float]


# Index 3 is a prod cluster (ring_of), index 4 the next one: both exist from 5 clusters.
STARTING, IDLE = 3, 4


def measure_reconcile(size: int, seed: str) -> ReconcileFigures:
    """Seed `size` clusters, then reconcile a prod cluster that is behind and one that is not."""
    fleet = fleet_document(size, behind=frozenset({STARTING}))
    policy = fleet_policy(size)
    with (
        tempfile.TemporaryDirectory(prefix="patchpilot-scale-", dir=scratch()) as work,
        app_on(fleet, policy, Path(work), discovery="resource_graph") as app,
    ):
        began = time.perf_counter()
        if seed == "save":
            save_clusters(app.services.store, parse_fleet(fleet).clusters, app.clock.now())
        sweep(app.services, app.clock.now())
        seeded = time.perf_counter() - began
        _drop_queued(app)
        counting, _ = counted(app)
        spent, seconds = {}, {}
        for label, index in (("starting", STARTING), ("idle", IDLE), ("idle again", IDLE)):
            app.clock.advance(dt.timedelta(minutes=1))
            before, began = counting.tally.copy(), time.perf_counter()
            outcome = _reconcile(app, str(fleet["clusters"][index]["id"]))
            seconds[label] = time.perf_counter() - began
            if label == "starting" and (outcome is None or not outcome.started):
                print(f"  note: the 'starting' reconcile started nothing: {outcome}")
            spent[label] = counting.tally.since(before)
        return ReconcileFigures(size, seeded, spent, seconds)


def _reconcile(app: Harness, cluster: str) -> Any:
    now = app.clock.now()
    body = ReconcileRequest(parse_cluster_id(cluster), "bench", now).encode()
    return handle_reconcile_message(app.services, body, now)


def _drop_queued(app: Harness) -> None:
    """What the seeding sweep enqueued: measured here one reconcile at a time instead."""
    queue, now = app.services.queue, app.clock.now()
    while batch := queue.receive(now=now, limit=64, lock=dt.timedelta(days=1)):
        for delivery in batch:
            queue.delete(delivery)


def reconcile_part(sizes: Sequence[int], seed: str) -> None:
    """Print each size's reconciles and the ratio of rows read, largest size to smallest."""
    figures = []
    for size in sizes:
        found = measure_reconcile(size, seed)
        figures.append(found)
        print(f"reconcile, {size:,} clusters (seeded by {seed} in {found.seeded_seconds:.1f} s):")
        for label, tally in found.spent.items():
            print(f"  {label}: {tally.describe()}; {found.seconds[label]:.2f} s")
    small, large = figures[0], figures[-1]
    ratios = ", ".join(
        f"{label} {_ratio(large.spent[label].read, small.spent[label].read)}"
        for label in small.spent
    )
    print(
        f"ratio rows read per reconcile {large.size:,}/{small.size:,} clusters: {ratios} "
        f"(goal <= {GOAL})"
    )


def _ratio(top: float, bottom: float) -> str:
    return f"{top / bottom:.2f}" if bottom else "n/a"


# --------------------------------------------------------------------------- part 2: a year


@dataclass(frozen=True)
class YearOptions:
    """How long to replay, over how many clusters, and how often to print."""

    clusters: int
    days: int
    start: dt.date
    edge: int
    every: int


def year_part(options: YearOptions) -> None:
    """Replay the calendar through the local host; print stored kinds and rows per reconcile."""
    start = dt.datetime.combine(options.start, dt.time(), dt.UTC)
    end = start + options.days * DAY
    catalog = build_catalog(read_releases(), options.start, end.date(), seed=0)
    fleet = generate_fleet(catalog, options.clusters, options.start)
    policy = parse_policy(generate_policy("soaked"))
    began = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="patchpilot-year-", dir=scratch()) as work,
        running_app(
            fleet,
            policy,
            start,
            Path(work),
            pace=Pace(seconds_per_node=SECONDS_PER_NODE),
            tuning=Tuning(lookahead=dt.timedelta(hours=SWEEP_HOURS)),
            app_settings={"PATCHPILOT_SWEEP_SCHEDULE": f"0 0 */{SWEEP_HOURS} * * *"},
            discovery="resource_graph",
            threads=1,  # rows are counted per invocation, which threads would mix
        ) as app,
    ):
        _, log = counted(app)
        print(f"year: {options.clusters} clusters, {options.days} days from {options.start}")
        day, mark = 0, 0
        while day < options.days:
            day += 1
            app.host.run_until(start + day * DAY)
            if day % options.every == 0 or day == options.days:
                stretch = [i for i in log.invocations if start + mark * DAY <= i.at]
                _checkpoint(Path(work) / "state.db", day, stretch, time.perf_counter() - began)
                mark = day
        _year_ratio(log.invocations, start, options, _rings_of(fleet))
        failures = app.host.failures
        print(f"  host failures: {len(failures)}" + (f", first: {failures[0]}" if failures else ""))


def _checkpoint(db: Path, day: int, stretch: list[Invocation], seconds: float) -> None:
    """One line of stored kinds, and rows read per reconcile since the last line."""
    kinds = stored_kinds(db, frozenset({TableNames().snapshots}))
    cells = ", ".join(f"{kind} {k.rows:,}" for kind, k in sorted(kinds.items()))
    longest = max(kinds.items(), key=lambda item: item[1].longest, default=None)
    widest = f"{longest[0]} {longest[1].longest:,} chars" if longest else "none"
    print(
        f"  day {day:>3} ({seconds:5.0f} s): {_per_reconcile(stretch)}; "
        f"rows stored: {cells}; longest value: {widest}"
    )


def _per_reconcile(invocations: Sequence[Invocation]) -> str:
    reads = _reconcile_reads(invocations)
    if not reads:
        return "no reconciles"
    return f"{len(reads)} reconciles, rows read mean {statistics.fmean(reads):.0f} max {max(reads)}"


def _reconcile_reads(invocations: Sequence[Invocation]) -> list[int]:
    return [i.tally.read for i in invocations if i.name == "reconcile"]


def _year_ratio(
    invocations: list[Invocation],
    start: dt.datetime,
    options: YearOptions,
    rings: Mapping[str, str],
) -> None:
    """Mean and most rows read per reconcile at the two ends of the run, ring by ring.

    Ring by ring, because what a reconcile reads depends on its ring: the
    first ring reads no gate, a later one reads the gate sums of the rings
    before it, and new releases reach dev in the first days and prod in the
    last, so a fleet-wide ratio would compare dev then with prod now. A
    ring's first end starts at its first reconcile (a replay can open with
    days in which nothing is released, hence nothing reconciled).

    Within a ring, first tries (a message from the sweep or an event, which
    plans: gate sums, history) and follow-ups (the same message requeued to
    poll a running operation) are compared apart: a follow-up reads a few
    rows and a first try several times more, so a mean over both moves with
    how many polls an upgrade took, not with history. The mixed mean is
    printed too. Last line: the worst ratios over every ring and kind.
    """
    groups: dict[tuple[str, str], list[Invocation]] = defaultdict(list)
    for invocation in invocations:
        message = _message_of(invocation) if invocation.name == "reconcile" else None
        if message is not None:
            cluster, kind = message
            ring = rings.get(cluster, "?")
            groups[(ring, kind)].append(invocation)
            groups[(ring, MIXED)].append(invocation)
    if not groups:
        print("ratio rows read per reconcile: n/a (no reconciles)")
        return
    worst: tuple[float, float] = (0.0, 0.0)
    mixed = 0.0
    for (ring, kind), reconciles in sorted(groups.items()):
        ratios = _ring_ratio(f"{ring}, {kind}", sorted(reconciles, key=_at), start, options)
        if ratios is None:
            continue
        if kind == MIXED:
            mixed = max(mixed, ratios[0])
        else:
            worst = (max(worst[0], ratios[0]), max(worst[1], ratios[1]))
    print(
        f"ratio rows read per reconcile, last {options.edge} days / first {options.edge}, "
        f"worst ring: mean {worst[0]:.2f}, most {worst[1]:.2f} (goal <= {GOAL}); "
        f"first tries and follow-ups mixed: mean {mixed:.2f}"
    )


def _at(invocation: Invocation) -> dt.datetime:
    return invocation.at


def _ring_ratio(
    ring: str, reconciles: list[Invocation], start: dt.datetime, options: YearOptions
) -> tuple[float, float] | None:
    """Print one ring's two ends; its (mean, most) ratios, or None without a last end."""
    edge, opened = options.edge * DAY, reconciles[0].at
    early = [i.tally.read for i in reconciles if i.at < opened + edge]
    late = [i.tally.read for i in reconciles if i.at >= start + options.days * DAY - edge]
    if not late:
        print(f"  {ring}: n/a (no reconcile in the last {options.edge} days)")
        return None
    mean_late, mean_early = statistics.fmean(late), statistics.fmean(early)
    print(
        f"  {ring} (from {opened:%Y-%m-%d}): mean {_ratio(mean_late, mean_early)} "
        f"({mean_late:.1f} / {mean_early:.1f}, {len(late)} / {len(early)} reconciles), "
        f"most {_ratio(max(late), max(early))} ({max(late)} / {max(early)})"
    )
    return mean_late / max(mean_early, 1e-9), max(late) / max(*early, 1)


def _message_of(invocation: Invocation) -> tuple[str, str] | None:
    """The cluster key a reconcile message names and its kind (first try or follow-up).

    None for a sweep shard or another input.
    """
    body = getattr(invocation.received, "get_body", None)
    if body is None:
        return None
    try:
        document = json.loads(body())
    except ValueError:
        return None
    if not isinstance(document, dict) or not document.get("cluster"):
        return None
    kind = FOLLOW_UP if document.get("attempt") else FIRST_TRY
    return str(document["cluster"]).lower(), kind


def _rings_of(fleet: Mapping[str, Any]) -> dict[str, str]:
    """Cluster key -> ring, from the generated fleet's `env` tag (its ring)."""
    return {
        str(cluster["id"]).lower(): str(cluster.get("tags", {}).get("env", "?"))
        for cluster in fleet.get("clusters", [])
    }


# --------------------------------------------------------------------------- part 3: the sweep


def sweep_part(sizes: Sequence[int]) -> None:
    """The largest invocation a sweep causes, by time and by peak memory, at each size."""
    for size in sizes:
        with (
            tempfile.TemporaryDirectory(prefix="patchpilot-sweep-", dir=scratch()) as work,
            app_on(fleet_document(size), fleet_policy(size), Path(work),
                   discovery="resource_graph") as app,
        ):  # fmt: skip
            _, log = counted(app)
            blocks = len(app.services.policy.scopes)
            print(f"sweep, {size:,} clusters in {blocks} subscription(s):")
            for label, traced in (("first", False), ("steady", False), ("steady, traced", True)):
                _sweep_round(app, log, label, traced)


def _sweep_round(app: Harness, log: InvocationLog, label: str, traced: bool) -> None:
    """Fire the sweep timer and run everything it causes at that instant, then print."""
    app.clock.advance(dt.timedelta(minutes=30))
    if traced:
        tracemalloc.start()
    log.trace_memory = traced
    seen = len(log.invocations)
    began = time.perf_counter()
    try:
        app.host.fire_timer("sweep")
        app.host.run_until(app.clock.now() + dt.timedelta(minutes=1))
    finally:
        log.trace_memory = False
        if traced:
            tracemalloc.stop()
    seconds = time.perf_counter() - began
    ran = log.invocations[seen:]
    longest = max(ran, key=lambda i: i.seconds)
    line = (
        f"  {label}: {len(ran)} invocations in {seconds:.1f} s; largest {longest.name} "
        f"{longest.seconds:.2f} s, {longest.tally.read:,} rows read"
    )
    if traced:
        heaviest = max(ran, key=lambda i: i.peak_bytes or 0)
        line += f"; peak memory {heaviest.name} {(heaviest.peak_bytes or 0) / 2**20:.1f} MiB"
    failed = [i.name for i in ran if i.failed]
    print(line + (f"; FAILED: {failed}" if failed else ""))


# --------------------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The parts to run and their sizes; `--quick` swaps in small ones."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--part", nargs="+", choices=("reconcile", "year", "sweep"),
                        default=["reconcile", "year", "sweep"])  # fmt: skip
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000])
    parser.add_argument("--seed", choices=("save", "sweep"), default="save")
    parser.add_argument("--clusters", type=int, default=30)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2025, 7, 1))
    parser.add_argument("--edge", type=int, default=10, help="days at each end of the year")
    parser.add_argument("--every", type=int, default=30, help="days between stored-kind lines")
    parser.add_argument("--sweep-sizes", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Run the chosen parts in order."""
    args = parse_args(argv)
    # The app logs every plan and start; the figures tell the story.
    logging.disable(logging.WARNING)
    if "reconcile" in args.part:
        reconcile_part(args.sizes, args.seed)
    if "year" in args.part:
        year_part(YearOptions(args.clusters, args.days, args.start, args.edge, args.every))
    if "sweep" in args.part:
        sweep_part(args.sweep_sizes)


if __name__ == "__main__":
    main()
