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

The app runs once per `node_images.selection` asked for (`--selection
soaked|latest|both`, default both), on the same fleet and calendar, side by
side against one NodeImage model: `soaked` keeps design invariant 7 (a later
ring gets exactly the image the earlier ring soaked) and so waits whenever AKS
ships a newer image before the soak ends; `latest` takes AKS's latest once the
earlier ring has soaked some newer image. Each selection runs in its own
process (`--jobs`, default one per selection up to the CPU count), and the app
finds the clusters through the simulator's Resource Graph, as it does in
Azure, so a sweep costs requests per region and image family, not per cluster.

The report ends with two lines. The `ratios:` line gives every selection's
ratios to the model. The last line, `exposure:`, is the one issue 16's goal is
judged by and keeps its format so runs can be compared by eye or by script:

    exposure: linux prod median <d> model <d> floor <d> never-patched <n>;
    windows prod median <d> model <d> floor <d> never-patched <n>;
    prod-before-dev <k>/<n>; start/earliest <r>; early <n>

(one line in the output). It is for the selection the app's default policy
uses (the parser's default of `node_images.selection`, read by parsing the
generated policy without it, so a new default moves the line with it); when
the run does not include that selection it is the first selection's, named:
`exposure (selection latest): ...`. `median` is the prod ring's median days
exposed under Patch Pilot, `model` the NodeImage model's for the same prod
pools, `floor` the model's median plus the soak days the policy asks before
prod may take an image (:func:`soak_days_to`: the `soak_days` of every ring up
to and including prod, as invariant 5 counts them: dev's from the day AKS
offered the image, each later ring's from when the ring before it finished;
0 + 2 + 5 = 7 in the generated policy), read from the run's own policy. A
Patch Pilot median at the floor means the rules, not the windows, set prod's
pace. `never-patched` is not the tables' `open` column: `open` counts every
prod pool-release still unpatched at the end, including releases that
reached the region days before it and could not yet have passed the soaks;
`never-patched` counts only those that reached the region at least
NEVER_PATCHED_AGE (30 days) before the end, the goal's "left unpatched".
`<d>` is `-` when there is no sample (a replay too short for prod to move).

Run: `.venv/bin/python bench/time_to_patch.py [--clusters 30] [--start 2025-07-01]
[--days 365] [--selection both] [--jobs 2] [--windows varied|graded]
[--out records.json]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make `bench` importable
    sys.path.insert(0, str(ROOT))

from bench.replay_calendar import (  # noqa: E402
    CANDIDATES,
    RINGS,
    Catalog,
    WindowLayout,
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
from patchpilot.domain.policy import Policy, parse_policy  # noqa: E402

DAY: Final = dt.timedelta(days=1)
OSES: Final = ("Linux", "Windows")
SELECTIONS: Final = ("bounded", "soaked", "latest")
NEVER_PATCHED_AGE: Final = dt.timedelta(days=30)  # issue 16: older releases must be patched
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

    def to_json(self, source: str, selection: str | None = None) -> dict[str, Any]:
        """The `--out` object: the record's fields plus who did it (and under which
        `node_images.selection`; None for the model), the OS and the ring."""
        return {
            "source": source,
            "selection": selection,
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
    never_patched: Mapping[tuple[str, str], int]  # unpatched, in region NEVER_PATCHED_AGE or more
    start_ratio: float | None
    early_starts: int
    operations: int
    prod_before_dev: int
    prod_operations: int


@dataclass(frozen=True)
class Side:
    """Patch Pilot's replay under one `node_images.selection`: its run, operations, figures."""

    selection: str
    run: DemoRun
    operations: tuple[Operation, ...]
    figures: Figures


@dataclass(frozen=True)
class Replay:
    """A finished replay: one side per selection, and the NodeImage model they are held to."""

    pools: tuple[Pool, ...]
    sides: tuple[Side, ...]
    model: tuple[Operation, ...]
    model_figures: Figures
    start: dt.datetime
    end: dt.datetime
    elapsed_seconds: float

    def side(self, selection: str) -> Side:
        """The side that ran with `selection`."""
        return next(side for side in self.sides if side.selection == selection)


@dataclass(frozen=True)
class _Job:
    """One app run to make: picklable, so it can go to a worker process."""

    fleet_path: Path
    policy_path: Path
    start: dt.date
    days: int
    seed: int


def replay(
    start: dt.date,
    days: int,
    clusters: int,
    *,
    seed: int = 0,
    selections: Sequence[str] = SELECTIONS,
    jobs: int = 1,
    windows: WindowLayout = "varied",
) -> Replay:
    """Run the app over the calendar once per selection, and model NodeImage once.

    Every selection sees the same catalog and fleet; only the policy's
    `node_images.selection` differs. With `jobs` above 1 the runs go to as
    many worker processes: one run is held to one core by the interpreter
    lock, so two cores run two selections in about the time of one.
    """
    began = time.perf_counter()
    catalog = build_catalog(read_releases(), start, start + days * DAY, seed=seed)
    with tempfile.TemporaryDirectory(prefix="patchpilot-ttp-") as workdir:
        fleet_path = Path(workdir, "fleet.json")
        document = generate_fleet(catalog, clusters, start, windows)
        fleet_path.write_text(json.dumps(document), "utf-8")
        work = []
        for selection in selections:
            policy_path = Path(workdir, f"policy-{selection}.json")
            policy_path.write_text(json.dumps(generate_policy(selection)), "utf-8")
            work.append(_Job(fleet_path, policy_path, start, days, seed))
        runs = _run_all(work, jobs)
    fleet, policy = runs[0].inputs.fleet, runs[0].inputs.policy
    pools = _pools(fleet, policy)
    end = runs[0].end
    model = tuple(_node_image_model(pools, fleet, policy, catalog, runs[0].start, end))
    return Replay(
        pools=pools,
        sides=tuple(
            _side(selection, run, pools, catalog)
            for selection, run in zip(selections, runs, strict=True)
        ),
        model=model,
        model_figures=figures(pools, model, catalog, end),
        start=runs[0].start,
        end=end,
        elapsed_seconds=time.perf_counter() - began,
    )


def _run_all(work: Sequence[_Job], jobs: int) -> list[DemoRun]:
    """The app's runs, in `work`'s order; in worker processes when `jobs` allows more than one."""
    workers = min(jobs, len(work))
    if workers <= 1:
        return [_run(job) for job in work]
    with ProcessPoolExecutor(max_workers=workers, initializer=_quiet) as pool:
        return list(pool.map(_run, work))


def _run(job: _Job) -> DemoRun:
    """One run of the app: the demo runner, calm, clusters found through Resource Graph."""
    config = DemoConfig(
        fleet_path=job.fleet_path,
        policy_path=job.policy_path,
        start=dt.datetime.combine(job.start, dt.time(), dt.UTC),
        days=job.days,
        seed=job.seed,
        faults=False,
        discovery="resource_graph",
    )
    return run_demo(config)


def _quiet() -> None:
    """The app logs every plan and pause; the figures tell the story (also in workers)."""
    logging.getLogger().addHandler(logging.NullHandler())


def _side(selection: str, run: DemoRun, pools: tuple[Pool, ...], catalog: Catalog) -> Side:
    """A run's node image records as operations, and their figures (in the parent process,
    where the catalog is)."""
    by_key = {pool.key: pool for pool in pools}
    ours = tuple(
        op for op in (_operation(r, by_key) for r in upgrade_records(run)) if op is not None
    )
    return Side(selection, run, ours, figures(pools, ours, catalog, run.end))


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
    never_patched: dict[tuple[str, str], int] = defaultdict(int)
    for pool in pools:
        for image, at in catalog.released(pool.region):
            if image.family != pool.family or at >= end:
                continue
            patched = _patched_at(done[pool.key], image)
            if patched is None:
                unpatched[(pool.os, pool.ring)] += 1
                if at <= end - NEVER_PATCHED_AGE:
                    never_patched[(pool.os, pool.ring)] += 1
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
        never_patched=dict(never_patched),
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


def _overall(figures: Figures, os_name: str) -> tuple[float, ...]:
    return tuple(v for (o, _), values in figures.exposures.items() if o == os_name for v in values)


def render(result: Replay) -> str:
    """The printed report, one column per selection next to the model; then the ratios line,
    and last the `exposure:` line of the default selection (see the module docstring)."""
    model = result.model_figures
    runs = ", ".join(f"{s.selection} {s.run.elapsed_seconds:.0f} s" for s in result.sides)
    lines = [
        f"time to patch: {len(result.pools)} pools in "
        f"{len({p.cluster for p in result.pools})} clusters, "
        f"{result.start:%Y-%m-%d} to {result.end:%Y-%m-%d} "
        f"({(result.end - result.start) / DAY:.0f} days); app runs {runs}; "
        f"{result.elapsed_seconds:.0f} s in all",
        "",
        "days exposed (release in region -> pool patched), median p95; unpatched at end",
        f"{'os':8} {'ring':8} "
        + "".join(f"{s.selection:>13} {'open':>4}   " for s in result.sides)
        + f"{'nodeimage model':>15} {'open':>4}",
    ]
    for os_name in OSES:
        lines += _exposure_rows(result, os_name)
    names = [s.selection for s in result.sides] + ["nodeimage"]
    table = [*(s.figures for s in result.sides), model]
    lines += [
        "",
        f"{'node_images.selection':40} " + " ".join(f"{n:>12}" for n in names),
        _row("node image upgrades", [str(f.operations) for f in table]),
        _row("start/earliest allowed (days, summed)", [_ratio(f.start_ratio) for f in table]),
        _row("started before earliest allowed", [str(f.early_starts) for f in table]),
        _row(
            "prod upgrades before every dev pool",
            [_share(f.prod_before_dev, f.prod_operations) for f in table],
        ),
        "",
        "ratios: "
        + " | ".join(
            f"{s.selection}: " + "; ".join(_ratios(s.figures, model)) for s in result.sides
        )
        + f" | nodeimage: prod before dev {_share(model.prod_before_dev, model.prod_operations)}",
        exposure_line(result),
    ]
    return "\n".join(lines)


def default_selection() -> str:
    """The `node_images.selection` a policy gets when it names none: the generated policy
    parsed without the field, so the answer is the parser's, not a copy of it."""
    return parse_policy(generate_policy()).node_images.selection


def soak_days_to(policy: Policy, ring_name: str) -> int:
    """Days of soak the rules put between AKS offering an image and `ring_name` taking it.

    Invariant 5: the first ring's `soak_days` count from the offer, each later
    ring's from when the ring before it finished; so the sum over the rings up
    to and including this one (dev 0 + staging 2 + prod 5 in the generated
    policy). With every window always open that is prod's whole wait.
    """
    ring = next(r for r in policy.rings if r.name == ring_name)
    return sum(r.soak_days for r in (*policy.rings_before(ring), ring))


def floor_days(model_median: float | None, soak_days: int) -> float | None:
    """The least median exposure rings can give: NodeImage's (same windows) plus the soaks."""
    return None if model_median is None else model_median + soak_days


def exposure_line(result: Replay) -> str:
    """The stable last line: prod exposure against the model and floor, for the default selection
    (or the first selection run, named, when the default was not run)."""
    default = default_selection()
    side = next((s for s in result.sides if s.selection == default), result.sides[0])
    label = "exposure" if side.selection == default else f"exposure (selection {side.selection})"
    prod = RINGS[-1]
    soak = soak_days_to(side.run.inputs.policy, prod)
    parts = []
    for os_name in OSES:
        ours = _prod_median(side.figures, os_name, prod)
        model = _prod_median(result.model_figures, os_name, prod)
        parts.append(
            f"{os_name.lower()} prod median {_days(ours)} model {_days(model)} "
            f"floor {_days(floor_days(model, soak))} "
            f"never-patched {side.figures.never_patched.get((os_name, prod), 0)}"
        )
    figures = side.figures
    parts += [
        f"prod-before-dev {_share(figures.prod_before_dev, figures.prod_operations)}",
        f"start/earliest {_ratio(figures.start_ratio)}",
        f"early {figures.early_starts}",
    ]
    return f"{label}: " + "; ".join(parts)


def _prod_median(figures: Figures, os_name: str, ring: str) -> float | None:
    values = figures.exposures.get((os_name, ring), ())
    return percentile(values, 0.5) if values else None


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _exposure_rows(result: Replay, os_name: str) -> list[str]:
    """One OS's rows: each ring, then all rings, every selection and the model side by side."""
    rows = []
    for ring in (*RINGS, "all"):
        sides = [*(s.figures for s in result.sides), result.model_figures]
        cells = [_exposure_cell(f, os_name, ring) for f in sides]
        rows.append(f"{os_name:8} {ring:8} " + "   ".join(cells))
    return rows


def _exposure_cell(figures: Figures, os_name: str, ring: str) -> str:
    """`median p95 open` for one ring, or `median p95` over all rings (open left blank)."""
    if ring == "all":
        return f"{_median_p95(_overall(figures, os_name)):>13} {'':>4}"
    key = (os_name, ring)
    return f"{_median_p95(figures.exposures.get(key, ())):>13} {figures.unpatched.get(key, 0):>4}"


def _row(label: str, cells: Sequence[str]) -> str:
    """A summary row: the label, then one right-aligned cell per selection and the model."""
    return f"{label:40} " + " ".join(f"{cell:>12}" for cell in cells)


def _ratios(ours: Figures, model: Figures) -> list[str]:
    parts = []
    for os_name in OSES:
        mine, theirs = _overall(ours, os_name), _overall(model, os_name)
        if mine and theirs:
            median = percentile(mine, 0.5) / max(percentile(theirs, 0.5), 1e-9)
            parts.append(f"{os_name} median exposed patchpilot/nodeimage {median:.2f}")
    parts.append(f"start/earliest allowed {_ratio(ours.start_ratio)} (goal 1.00)")
    parts.append(f"early starts {ours.early_starts} (goal 0)")
    parts.append(f"prod before dev {_share(ours.prod_before_dev, ours.prod_operations)}")
    return parts


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _share(count: int, total: int) -> str:
    return f"{count}/{total}" if total else "0/0"


def write_operations(path: Path, result: Replay) -> None:
    """`--out`: every side's per-operation records as one JSON document, each with its selection.

    The fleet (clusters with their maintenance configurations as ARM returns
    them, the catalog with release days) and each selection's policy
    (rings, soaks, freezes) come along, so the records can be checked
    against windows computed by other code than Patch Pilot's.
    """
    document = {
        "start": iso(result.start),
        "end": iso(result.end),
        "fleet": result.sides[0].run.inputs.document,
        "policies": {side.selection: generate_policy(side.selection) for side in result.sides},
        "selections": [side.selection for side in result.sides],
        "patchpilot": [
            op.to_json("patchpilot", side.selection)
            for side in result.sides
            for op in side.operations
        ],
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
    parser.add_argument(
        "--selection",
        choices=(*CANDIDATES, "both"),
        nargs="+",
        default=["both"],
        help="rule sets to run side by side (bench.replay_calendar.CANDIDATES; "
        "default both: bounded, soaked and latest)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(len(SELECTIONS), os.cpu_count() or 1),
        help="worker processes, one selection each (default: up to the CPU count)",
    )
    parser.add_argument(
        "--windows",
        choices=("varied", "graded"),
        default="varied",
        help="node OS windows by cluster (varied: half of staging monthly) or graded by ring",
    )
    parser.add_argument("--out", type=Path, help="write the per-operation records as JSON")
    args = parser.parse_args(argv)
    _quiet()
    selections = SELECTIONS if "both" in args.selection else tuple(args.selection)
    result = replay(
        args.start,
        args.days,
        args.clusters,
        seed=args.seed,
        selections=selections,
        jobs=args.jobs,
        windows=args.windows,
    )
    if args.out is not None:
        write_operations(args.out, result)
    sys.stdout.write(f"{render(result)}\n")
    return 1 if any(side.figures.early_starts for side in result.sides) else 0


if __name__ == "__main__":
    raise SystemExit(main())
