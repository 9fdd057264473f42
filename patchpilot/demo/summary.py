"""The figures a person checks after a run, and the two that must be zero.

- pools patched (per OS) and the days from availability to patched (median
  and worst, per OS and for control planes);
- upgrades started outside an allowed window: each start checked against the
  cluster's own maintenance schedule for that kind, or the policy's default
  window, minus the freezes, read from the input files and not from the
  planner (:mod:`patchpilot.demo.allowed_windows`). Must be 0;
- duplicate starts: the same (cluster, pool, kind, target) started again
  while its earlier start had not failed (a retry after an operator retired a
  failure is not a duplicate). Must be 0;
- AKS's own announced maintenance, and each start of Patch Pilot's it moved
  (:mod:`patchpilot.demo.aks_avoided`).

The demo command exits non-zero unless both are 0.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Final

from patchpilot.demo.aks_avoided import Avoidance, avoidances, inside_work
from patchpilot.demo.records import CONTROL_PLANE, UpgradeRecord
from patchpilot.demo.runner import DemoRun
from patchpilot.domain.resource_ids import ascii_key

THROTTLED: Final = 429
OS_ORDER: Final = ("Linux", "Windows", CONTROL_PLANE)


@dataclass(frozen=True)
class OsFigures:
    """One OS (or the control planes): how many were patched and how long it took."""

    os: str
    patched: int
    total: int
    median_days: float | None
    worst_days: float | None
    samples: int


@dataclass(frozen=True)
class Summary:
    """A run in figures."""

    clusters: int
    pools: int
    started: int
    succeeded: int
    failed: int
    running: int
    per_os: tuple[OsFigures, ...]
    outside_window: tuple[UpgradeRecord, ...]
    duplicates: tuple[UpgradeRecord, ...]
    arm_requests: int
    throttled: int
    host_failures: int
    elapsed_seconds: float
    # AKS's announced works that moved a start of Patch Pilot's, each with that start.
    aks_avoided: tuple[Avoidance, ...] = ()
    # Patch Pilot's upgrades that ran while AKS's own announced work ran (want: none).
    inside_aks_work: tuple[UpgradeRecord, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no upgrade started outside a window and none started twice."""
        return not self.outside_window and not self.duplicates


def summarize(run: DemoRun, records: tuple[UpgradeRecord, ...]) -> Summary:
    """The summary of a run and its upgrade records."""
    fleet = run.inputs.fleet
    outcomes = [record.outcome for record in records]
    return Summary(
        clusters=len(fleet.clusters),
        pools=sum(len(cluster.pools) for cluster in fleet.clusters),
        started=len(records),
        succeeded=outcomes.count("succeeded"),
        failed=outcomes.count("failed"),
        running=outcomes.count("running"),
        per_os=_per_os(run, records),
        outside_window=tuple(record for record in records if record.window is None),
        duplicates=duplicate_starts(records),
        arm_requests=sum(run.arm_requests.values()),
        throttled=sum(n for (_, status), n in run.arm_requests.items() if status == THROTTLED),
        host_failures=len(run.host_failures),
        elapsed_seconds=run.elapsed_seconds,
        aks_avoided=avoidances(run, records),
        inside_aks_work=tuple(
            record for work in run.scenario.aks_maintenance for record in inside_work(work, records)
        ),
    )


def duplicate_starts(records: tuple[UpgradeRecord, ...]) -> tuple[UpgradeRecord, ...]:
    """Starts of a key whose previous start had not failed."""
    last: dict[tuple[str, str | None, str, str], UpgradeRecord] = {}
    found = []
    for record in sorted(records, key=lambda r: r.started_at):
        before = last.get(record.key)
        if before is not None and before.outcome != "failed":
            found.append(record)
        last[record.key] = record
    return tuple(found)


def _per_os(run: DemoRun, records: tuple[UpgradeRecord, ...]) -> tuple[OsFigures, ...]:
    totals: dict[str, int] = defaultdict(int)
    for cluster in run.inputs.fleet.clusters:
        totals[CONTROL_PLANE] += 1
        for pool in cluster.pools:
            totals[pool.os_type] += 1
    patched: dict[str, set[tuple[str, str | None]]] = defaultdict(set)
    days: dict[str, list[float]] = defaultdict(list)
    for record in records:
        if record.outcome != "succeeded":
            continue
        patched[record.os].add((ascii_key(record.cluster), record.pool))
        if record.days_to_patched is not None:
            days[record.os].append(record.days_to_patched)
    return tuple(
        OsFigures(
            os=os,
            patched=len(patched[os]),
            total=totals[os],
            median_days=statistics.median(days[os]) if days[os] else None,
            worst_days=max(days[os], default=None),
            samples=len(days[os]),
        )
        for os in OS_ORDER
        if totals[os]
    )
