"""Time to patch: a year of real AKS node image releases, Patch Pilot against the NodeImage channel.

Users will trade AKS's built-in node OS `NodeImage` channel for Patch Pilot
only if rings, soaks and the Patch Tuesday offset do not cost them much
exposure. This replays the real release calendar
(`../shared/data/aks_releases.csv`, Ubuntu 22.04 and Windows Server 2022
images, two regions with a seeded rollout lag; :mod:`bench.replay_calendar`)
over a generated fleet (default 30 clusters, 3 rings, Linux and Windows
pools, varied node OS windows and UTC offsets) through the demo runner: the
real registered functions, the ARM simulator, SQLite and the local host on
one virtual clock, without injected faults.

It prints, per OS and ring:

- days exposed: for every pool and every release of its family, from the
  day the release reached the pool's region to the end of the first
  successful upgrade to it or a newer image (median, p95; releases still
  unpatched at the end are counted apart, not averaged);
- start against earliest allowed: sum(started - available) / sum(earliest
  allowed - available) over the upgrades (goal 1.00), and how many started
  before their earliest allowed moment (must be 0);

and the same for a model of the `NodeImage` channel computed straight from
the catalog and the same node OS windows (and the same freeze): no rings, no
soak, no Patch Tuesday offset; each pool takes the newest image of its region
in the first window opening after a release, taking five minutes per node.
Both report how often a prod pool took an image before every dev pool had it.

Run: `.venv/bin/python bench/time_to_patch.py [--clusters 30] [--start 2025-07-01]
[--days 365] [--out records.json]`. Last line: the ratios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make `bench` importable
    sys.path.insert(0, str(ROOT))

from bench.replay_calendar import (  # noqa: E402
    RINGS,
    Catalog,
    build_catalog,
    generate_fleet,
    generate_policy,
    read_releases,
)
from patchpilot.demo.records import UpgradeRecord, upgrade_records  # noqa: E402
from patchpilot.demo.runner import SECONDS_PER_NODE, DemoConfig, DemoRun, run_demo  # noqa: E402
from patchpilot.domain.fleet import NODE_OS_SCHEDULE, FleetState  # noqa: E402
from patchpilot.domain.node_images import NodeImageVersion, parse_node_image  # noqa: E402
from patchpilot.domain.plan import iso  # noqa: E402
from patchpilot.domain.planner import first_opening  # noqa: E402
from patchpilot.domain.policy import Policy  # noqa: E402

DAY: Final = dt.timedelta(days=1)
OSES: Final = ("Linux", "Windows")
PoolKey = tuple[str, str]  # (cluster resource ID lowercased, pool name)


@dataclass(frozen=True)
class Operation:
    """One node image upgrade of one pool, by Patch Pilot or by the NodeImage model."""

    cluster: str
    pool: str
    os: str
    ring: str
    target: NodeImageVersion
    available_at: dt.datetime | None
    earliest_allowed_at: dt.datetime | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    outcome: str

    @property
    def key(self) -> PoolKey:
        """The pool this operation upgraded."""
        return (self.cluster.lower(), self.pool)

    def to_json(self, source: str) -> dict[str, Any]:
        """The `--out` object: the record's fields plus who did it, the OS and the ring."""
        return {
            "source": source,
            "cluster": self.cluster,
            "pool": self.pool,
            "os": self.os,
            "ring": self.ring,
            "to": str(self.target),
            "available_at": iso(self.available_at),
            "earliest_allowed_at": iso(self.earliest_allowed_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "outcome": self.outcome,
        }


@dataclass(frozen=True)
class Pool:
    """A pool of the replayed fleet, with what the figures group it by."""

    cluster: str
    name: str
    os: str
    ring: str
    region: str
    family: str
    nodes: int

    @property
    def key(self) -> PoolKey:
        """(cluster resource ID lowercased, pool name)."""
        return (self.cluster.lower(), self.name)


@dataclass(frozen=True)
class Figures:
    """What one side of the comparison printed, for the ratios line and the test."""

    exposures: Mapping[tuple[str, str], tuple[float, ...]]
    unpatched: Mapping[tuple[str, str], int]
    start_ratio: float | None
    early_starts: int
    operations: int
    prod_before_dev: int
    prod_operations: int


@dataclass(frozen=True)
class Replay:
    """A finished replay: the app's run, the operations of both sides, and their figures."""

    run: DemoRun
    pools: tuple[Pool, ...]
    patchpilot: tuple[Operation, ...]
    model: tuple[Operation, ...]
    patchpilot_figures: Figures
    model_figures: Figures
    start: dt.datetime
    end: dt.datetime
    elapsed_seconds: float


def replay(start: dt.date, days: int, clusters: int, *, seed: int = 0) -> Replay:
    """Run the app over the calendar from `start` for `days`, and model NodeImage on the same."""
    began = time.perf_counter()
    end_day = start + days * DAY
    catalog = build_catalog(read_releases(), start, end_day, seed=seed)
    with tempfile.TemporaryDirectory(prefix="patchpilot-ttp-") as workdir:
        fleet_path, policy_path = Path(workdir, "fleet.json"), Path(workdir, "policy.json")
        fleet_path.write_text(json.dumps(generate_fleet(catalog, clusters, start)), "utf-8")
        policy_path.write_text(json.dumps(generate_policy()), "utf-8")
        config = DemoConfig(
            fleet_path=fleet_path,
            policy_path=policy_path,
            start=dt.datetime.combine(start, dt.time(), dt.UTC),
            days=days,
            seed=seed,
            faults=False,
        )
        run = run_demo(config)
    fleet, policy = run.inputs.fleet, run.inputs.policy
    pools = _pools(fleet, policy)
    by_key = {pool.key: pool for pool in pools}
    ours = tuple(
        op for op in (_operation(r, by_key) for r in upgrade_records(run)) if op is not None
    )
    model = tuple(_node_image_model(pools, fleet, policy, catalog, run.start, run.end))
    return Replay(
        run=run,
        pools=pools,
        patchpilot=ours,
        model=model,
        patchpilot_figures=figures(pools, ours, catalog, run.end),
        model_figures=figures(pools, model, catalog, run.end),
        start=run.start,
        end=run.end,
        elapsed_seconds=time.perf_counter() - began,
    )


def _pools(fleet: FleetState, policy: Policy) -> tuple[Pool, ...]:
    pools = []
    for cluster in fleet.clusters:
        ring = policy.ring_of(cluster.tags)
        for pool in cluster.pools:
            pools.append(
                Pool(
                    cluster=str(cluster.id),
                    name=pool.name,
                    os=pool.os_type,
                    ring=ring.name if ring is not None else "none",
                    region=cluster.location,
                    family=pool.node_image.family,
                    nodes=pool.count,
                )
            )
    return tuple(pools)


def _operation(record: UpgradeRecord, pools: Mapping[PoolKey, Pool]) -> Operation | None:
    """A node image record as an Operation; None for control plane or Kubernetes upgrades."""
    if record.kind != "node_image" or record.pool is None:
        return None
    pool = pools[(record.cluster.lower(), record.pool)]
    return Operation(
        cluster=record.cluster,
        pool=record.pool,
        os=pool.os,
        ring=pool.ring,
        target=parse_node_image(record.target),
        available_at=record.available_at,
        earliest_allowed_at=record.earliest_allowed_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        outcome=record.outcome,
    )


def _node_image_model(  # noqa: PLR0917  # one model, six inputs; a class would only wrap them
    pools: Iterable[Pool],
    fleet: FleetState,
    policy: Policy,
    catalog: Catalog,
    start: dt.datetime,
    end: dt.datetime,
) -> Iterable[Operation]:
    """AKS's NodeImage channel as modelled: newest regional image in the first window after it.

    The opening comes from the same schedule and freeze the app obeys
    (`first_opening`), so the comparison isolates rings, soaks and the Patch
    Tuesday offset. The roll takes SECONDS_PER_NODE per node, as in the
    simulator.
    """
    clusters = {c.key: c for c in fleet.clusters}
    for pool in pools:
        schedule = clusters[pool.cluster.lower()].maintenance.get(NODE_OS_SCHEDULE)
        schedule = schedule or policy.default_window
        if schedule is None:
            continue
        released = [
            (image, at)
            for image, at in catalog.released(pool.region)
            if image.family == pool.family
        ]
        current = catalog.initial(pool.family)
        for image, at in released:
            if not image.newer_than(current) or at >= end:
                continue
            opening = first_opening(schedule, policy.freeze_spans, max(at, start))
            if opening is None or opening[0] >= end:
                break
            began = opening[0]
            target = max(
                (i for i, a in released if a <= began), key=lambda i: i.sort_key, default=image
            )
            yield Operation(
                cluster=pool.cluster,
                pool=pool.name,
                os=pool.os,
                ring=pool.ring,
                target=target,
                available_at=next(a for i, a in released if i == target),
                earliest_allowed_at=began,
                started_at=began,
                finished_at=began + pool.nodes * dt.timedelta(seconds=SECONDS_PER_NODE),
                outcome="succeeded",
            )
            current = target


# --------------------------------------------------------------------------- figures


def figures(
    pools: Sequence[Pool], operations: Sequence[Operation], catalog: Catalog, end: dt.datetime
) -> Figures:
    """Exposure per (OS, ring), start against earliest allowed, and prod-before-dev counts."""
    done: dict[PoolKey, list[Operation]] = defaultdict(list)
    for op in operations:
        if op.outcome == "succeeded" and op.finished_at is not None:
            done[op.key].append(op)
    exposures: dict[tuple[str, str], list[float]] = defaultdict(list)
    unpatched: dict[tuple[str, str], int] = defaultdict(int)
    for pool in pools:
        for image, at in catalog.released(pool.region):
            if image.family != pool.family or at >= end:
                continue
            patched = _patched_at(done[pool.key], image)
            if patched is None:
                unpatched[(pool.os, pool.ring)] += 1
            else:
                exposures[(pool.os, pool.ring)].append((patched - at) / DAY)
    timed = [
        (o.available_at, o.earliest_allowed_at, o.started_at)
        for o in operations
        if o.available_at is not None and o.earliest_allowed_at is not None
    ]
    waited = sum(((started - available) / DAY for available, _, started in timed), 0.0)
    allowed = sum(((earliest - available) / DAY for available, earliest, _ in timed), 0.0)
    early = sum(
        1 for o in operations if o.earliest_allowed_at and o.started_at < o.earliest_allowed_at
    )
    prod = [o for o in operations if o.ring == RINGS[-1]]
    dev_pools = [p for p in pools if p.ring == RINGS[0]]
    ahead = sum(1 for o in prod if _ahead_of_dev(o, dev_pools, done))
    return Figures(
        exposures={k: tuple(v) for k, v in exposures.items()},
        unpatched=dict(unpatched),
        start_ratio=waited / allowed if allowed > 0 else None,
        early_starts=early,
        operations=len(operations),
        prod_before_dev=ahead,
        prod_operations=len(prod),
    )


def _patched_at(done: Sequence[Operation], image: NodeImageVersion) -> dt.datetime | None:
    """When the pool first finished an upgrade to `image` or newer."""
    ends = [
        o.finished_at
        for o in done
        if o.finished_at is not None and o.target.sort_key >= image.sort_key
    ]
    return min(ends, default=None)


def _ahead_of_dev(
    op: Operation, dev_pools: Sequence[Pool], done: Mapping[PoolKey, Sequence[Operation]]
) -> bool:
    """Whether some dev pool of the same family was not yet on the image when `op` started."""
    for pool in dev_pools:
        if pool.family != op.target.family:
            continue
        patched = _patched_at(done.get(pool.key, ()), op.target)
        if patched is None or patched > op.started_at:
            return True
    return False


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile: a value that occurred, so p95 of few samples is not invented."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


def _median_p95(values: Sequence[float]) -> str:
    if not values:
        return "     -      -"
    return f"{percentile(values, 0.5):6.2f} {percentile(values, 0.95):6.2f}"


def _overall(figures: Figures, os: str) -> tuple[float, ...]:
    return tuple(v for (o, _), values in figures.exposures.items() if o == os for v in values)


def render(result: Replay) -> str:
    """The printed report; the last line holds the ratios."""
    ours, model = result.patchpilot_figures, result.model_figures
    lines = [
        f"time to patch: {len(result.pools)} pools in "
        f"{len({p.cluster for p in result.pools})} clusters, "
        f"{result.start:%Y-%m-%d} to {result.end:%Y-%m-%d} "
        f"({(result.end - result.start) / DAY:.0f} days), replay took "
        f"{result.run.elapsed_seconds:.0f} s",
        "",
        "days exposed (release in region -> pool patched), median p95; unpatched at end",
        f"{'os':8} {'ring':8} {'patchpilot':>13} {'open':>4}   {'nodeimage model':>15} {'open':>4}",
    ]
    for os in OSES:
        for ring in RINGS:
            key = (os, ring)
            lines.append(
                f"{os:8} {ring:8} {_median_p95(ours.exposures.get(key, ())):>13} "
                f"{ours.unpatched.get(key, 0):>4}   "
                f"{_median_p95(model.exposures.get(key, ())):>15} {model.unpatched.get(key, 0):>4}"
            )
        lines.append(
            f"{os:8} {'all':8} {_median_p95(_overall(ours, os)):>13} {'':>4}   "
            f"{_median_p95(_overall(model, os)):>15}"
        )
    lines += [
        "",
        f"{'':40} {'patchpilot':>12} {'nodeimage':>12}",
        f"{'node image upgrades':40} {ours.operations:>12} {model.operations:>12}",
        f"{'start/earliest allowed (days, summed)':40} {_ratio(ours.start_ratio):>12} "
        f"{_ratio(model.start_ratio):>12}",
        f"{'started before earliest allowed':40} {ours.early_starts:>12} {model.early_starts:>12}",
        f"{'prod upgrades before every dev pool':40} "
        f"{_share(ours.prod_before_dev, ours.prod_operations):>12} "
        f"{_share(model.prod_before_dev, model.prod_operations):>12}",
        "",
        "ratios: " + "; ".join(_ratios(ours, model)),
    ]
    return "\n".join(lines)


def _ratios(ours: Figures, model: Figures) -> list[str]:
    parts = []
    for os in OSES:
        mine, theirs = _overall(ours, os), _overall(model, os)
        if mine and theirs:
            median = percentile(mine, 0.5) / max(percentile(theirs, 0.5), 1e-9)
            parts.append(f"{os} median exposed patchpilot/nodeimage {median:.2f}")
    parts.append(f"start/earliest allowed {_ratio(ours.start_ratio)} (goal 1.00)")
    parts.append(f"early starts {ours.early_starts} (goal 0)")
    parts.append(
        f"prod before dev patchpilot {_share(ours.prod_before_dev, ours.prod_operations)}"
        f" vs nodeimage {_share(model.prod_before_dev, model.prod_operations)}"
    )
    return parts


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _share(count: int, total: int) -> str:
    return f"{count}/{total}" if total else "0/0"


def write_operations(path: Path, result: Replay) -> None:
    """`--out`: both sides' per-operation records as one JSON document."""
    document = {
        "start": iso(result.start),
        "end": iso(result.end),
        "patchpilot": [op.to_json("patchpilot") for op in result.patchpilot],
        "nodeimage_model": [op.to_json("nodeimage_model") for op in result.model],
    }
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse options, replay, print; exits 1 when an upgrade started before it was allowed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clusters", type=int, default=30, help="generated clusters (default 30)")
    parser.add_argument(
        "--start", type=dt.date.fromisoformat, default=dt.date(2025, 7, 1), help="first day"
    )
    parser.add_argument("--days", type=int, default=365, help="days replayed (1 to 366)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the regional rollout lags")
    parser.add_argument("--out", type=Path, help="write the per-operation records as JSON")
    args = parser.parse_args(argv)
    # The app logs every plan and pause; the figures tell the story.
    logging.getLogger().addHandler(logging.NullHandler())
    result = replay(args.start, args.days, args.clusters, seed=args.seed)
    if args.out is not None:
        write_operations(args.out, result)
    sys.stdout.write(f"{render(result)}\n")
    return 1 if result.patchpilot_figures.early_starts else 0


if __name__ == "__main__":
    raise SystemExit(main())
