"""One record per upgrade Patch Pilot started, and the JSON Lines file `--records` writes.

Built from Patch Pilot's own notices (`UpgradeStarted`, then
`UpgradeSucceeded` or `UpgradeFailed`), which carry the exact instants; the
ledger keeps only the latest attempt per key, so a retried failure would
hide there. Each record adds what the notices do not know:

- `available_at`: when AKS first offered the target in the cluster's region,
  from the fleet catalog's `released` dates (null when the target predates
  the catalog);
- `earliest_allowed_at`: the first moment the rules allowed the upgrade, as
  the planner saw it: the start of the first window it scheduled the upgrade
  for, or, when the first plan found it already due, the latest of its
  availability, the opening of the window it was in and the end of the last
  time gate it passed (a ring's soak; for Windows images, Patch Tuesday plus
  the policy's offset).

Called by the demo command, the summary and the calendar builder.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from patchpilot.adapters.publisher import Notice
from patchpilot.demo.allowed_windows import AllowedWindows
from patchpilot.demo.decisions import Decision
from patchpilot.demo.runner import DemoRun
from patchpilot.domain.cadence import covered_patch_tuesday, windows_due_from
from patchpilot.domain.fleet import FleetState
from patchpilot.domain.node_images import parse_node_image
from patchpilot.domain.plan import iso
from patchpilot.domain.resource_ids import ascii_key, resource_name
from patchpilot.domain.versions import KubernetesVersion
from patchpilot.domain.windows import Window
from patchpilot.errors import InvalidInputError

CONTROL_PLANE = "control plane"


@dataclass(frozen=True)
class UpgradeRecord:
    """One upgrade, from its start to its outcome (`running` when the run ended first)."""

    cluster: str
    pool: str | None
    kind: str
    current: str
    target: str
    os: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    outcome: str
    error: str | None
    window: Window | None
    schedule_name: str
    available_at: dt.datetime | None
    earliest_allowed_at: dt.datetime | None

    @property
    def name(self) -> str:
        """The cluster's name (the last segment of its resource ID)."""
        return resource_name(self.cluster)

    @property
    def key(self) -> tuple[str, str | None, str, str]:
        """The idempotency key: (cluster, pool, kind, target)."""
        return (ascii_key(self.cluster), self.pool, self.kind, self.target)

    @property
    def days_to_patched(self) -> float | None:
        """Days from availability to the end of a successful upgrade."""
        if self.outcome != "succeeded" or self.finished_at is None or self.available_at is None:
            return None
        return (self.finished_at - self.available_at) / dt.timedelta(days=1)

    @property
    def window_text(self) -> str:
        """The allowed window it started in, `12-08 00:00 to 04:00`, or `OUTSIDE`."""
        if self.window is None:
            return "OUTSIDE any allowed window"
        return span_text(self.window.start, self.window.end)

    def to_json(self) -> dict[str, Any]:
        """The `--records` line: the fields the issue names, times as UTC ISO 8601 with Z."""
        return {
            "cluster": self.cluster,
            "pool": self.pool,
            "kind": self.kind,
            "from": self.current,
            "to": self.target,
            "available_at": iso(self.available_at),
            "earliest_allowed_at": iso(self.earliest_allowed_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "outcome": self.outcome,
        }


def span_text(start: dt.datetime, end: dt.datetime) -> str:
    """`12-08 00:00 to 04:00`, with the end's date only when it differs."""
    finish = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%m-%d %H:%M}"
    return f"{start:%m-%d %H:%M} to {finish}"


def short_version(version: str) -> str:
    """A node image without its family (the pool says which); other versions unchanged."""
    try:
        return parse_node_image(version).version
    except InvalidInputError:
        return version


def upgrade_records(run: DemoRun) -> tuple[UpgradeRecord, ...]:
    """Every upgrade started during the run, in start order."""
    rules = AllowedWindows(run.inputs.fleet, run.inputs.policy)
    builder = _Builder(run, rules)
    for notice in run.notices:
        builder.take(notice)
    return tuple(builder.records)


def records_text(records: Iterable[UpgradeRecord]) -> str:
    """JSON Lines: one object per upgrade, in start order."""
    return "".join(f"{json.dumps(record.to_json())}\n" for record in records)


class _Builder:
    """Pairs starts with outcomes and fills in what the notices do not carry."""

    def __init__(self, run: DemoRun, rules: AllowedWindows) -> None:
        self.run = run
        self.rules = rules
        self.records: list[UpgradeRecord] = []
        self._open: dict[tuple[str, str | None, str, str], int] = {}

    def take(self, notice: Notice) -> None:
        data = notice.data
        if notice.type == "UpgradeStarted":
            record = self._started(notice)
            self._open[record.key] = len(self.records)
            self.records.append(record)
        elif notice.type in ("UpgradeSucceeded", "UpgradeFailed"):
            key = (ascii_key(str(data["cluster"])), data.get("pool"), data["kind"], data["target"])
            index = self._open.pop(key, None)
            if index is not None:
                outcome = "succeeded" if notice.type == "UpgradeSucceeded" else "failed"
                self.records[index] = _finished(self.records[index], notice, outcome)

    def _started(self, notice: Notice) -> UpgradeRecord:
        data = notice.data
        cluster, kind, target = str(data["cluster"]), str(data["kind"]), str(data["to"])
        pool = data.get("pool")
        _, schedule_name = self._schedule(cluster, kind)
        available = _available_at(self.run.inputs.fleet, cluster, kind, target)
        first = self.run.decisions.first_allowed.get((ascii_key(cluster), pool, kind, target))
        return UpgradeRecord(
            cluster=cluster,
            pool=pool,
            kind=kind,
            current=str(data.get("from") or ""),
            target=target,
            os=self._os(cluster, pool),
            started_at=notice.time,
            finished_at=None,
            outcome="running",
            error=None,
            window=self.rules.window_at(cluster, kind, notice.time),
            schedule_name=schedule_name,
            available_at=available,
            earliest_allowed_at=self._earliest(first, available, kind, target),
        )

    def _schedule(self, cluster: str, kind: str) -> tuple[object, str]:
        state = self.rules.cluster(cluster)
        return self.rules.schedule(state, kind) if state is not None else (None, "unknown")

    def _os(self, cluster: str, pool: object) -> str:
        state = self.rules.cluster(cluster)
        found = state.pool(pool) if state and isinstance(pool, str) else None
        return found.os_type if found is not None else CONTROL_PLANE

    def _earliest(
        self, first: Decision | None, available: dt.datetime | None, kind: str, target: str
    ) -> dt.datetime | None:
        if first is None:
            return None
        action = first.action
        if action.status == "scheduled":
            return action.not_before
        window = self.rules.window_at(str(action.cluster), kind, first.at)
        gates = [first.at if window is None else window.start]
        if available is not None:
            gates.append(available)
        if action.allowed_from is not None:  # a soak or offset that ended before this plan
            gates.append(action.allowed_from)
        gates.extend(_windows_gate(self.run, kind, target))
        return min(max(gates), first.at)


def _finished(record: UpgradeRecord, notice: Notice, outcome: str) -> UpgradeRecord:
    error = notice.data.get("error")
    return replace(
        record, finished_at=notice.time, outcome=outcome, error=str(error) if error else None
    )


def _available_at(fleet: FleetState, cluster_id: str, kind: str, target: str) -> dt.datetime | None:
    """When the region's catalog first offered the target (None: before the catalog begins)."""
    cluster = next((c for c in fleet.clusters if c.key == ascii_key(cluster_id)), None)
    if cluster is None:
        return None
    region = fleet.region(cluster.location)
    try:
        if kind == "kubernetes":
            return region.kubernetes_released(KubernetesVersion.parse(target))
        return region.image_released(parse_node_image(target))
    except InvalidInputError:
        # Policy: a target the catalog cannot read has no known availability.
        return None


def _windows_gate(run: DemoRun, kind: str, target: str) -> list[dt.datetime]:
    """For a Windows image: Patch Tuesday of its build, plus the policy's offset."""
    if kind != "node_image":
        return []
    try:
        image = parse_node_image(target)
    except InvalidInputError:
        return []
    if image.os_type != "Windows":
        return []
    offset = run.inputs.policy.node_images.patch_tuesday_offset_days
    return [windows_due_from(covered_patch_tuesday(image.build_date), offset)]
