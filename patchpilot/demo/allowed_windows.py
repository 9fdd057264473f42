"""Where each cluster may be upgraded, read straight from the fleet file and the policy.

The summary's "started outside a window" count must not trust the planner
that decided the starts, so this module answers from the inputs alone: the
cluster's own AKS maintenance configuration for the kind of upgrade
(`aksManagedAutoUpgradeSchedule` for Kubernetes,
`aksManagedNodeOSUpgradeSchedule` for node images), else the policy's
`default_window`, minus the policy's freezes. The calendar shades the same
windows. Called by the records, the summary and the calendar builder.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from patchpilot.domain.fleet import (
    KUBERNETES_SCHEDULE,
    NODE_OS_SCHEDULE,
    ClusterState,
    FleetState,
)
from patchpilot.domain.policy import Policy
from patchpilot.domain.resource_ids import ascii_key
from patchpilot.domain.schedule import Schedule
from patchpilot.domain.windows import Window, subtract

DEFAULT_WINDOW = "the policy's default_window"


@dataclass(frozen=True)
class AllowedWindows:
    """The allowed windows of every cluster of a fleet, per kind of upgrade."""

    fleet: FleetState
    policy: Policy

    def cluster(self, cluster_id: str) -> ClusterState | None:
        """The fleet's cluster with this resource ID (any case)."""
        key = ascii_key(cluster_id)
        return next((c for c in self.fleet.clusters if c.key == key), None)

    def schedule(self, cluster: ClusterState, kind: str) -> tuple[Schedule | None, str]:
        """The schedule that governs `kind` upgrades of the cluster, and its name."""
        name = KUBERNETES_SCHEDULE if kind == "kubernetes" else NODE_OS_SCHEDULE
        if name in cluster.maintenance:
            return cluster.maintenance[name], name
        return self.policy.default_window, DEFAULT_WINDOW

    def window_at(self, cluster_id: str, kind: str, at: dt.datetime) -> Window | None:
        """The allowed window (freezes cut out) that contains `at`; None when `at` is outside."""
        cluster = self.cluster(cluster_id)
        if cluster is None:
            return None
        schedule, _ = self.schedule(cluster, kind)
        window = schedule.window_at(at) if schedule is not None else None
        if window is None:
            return None
        return next((p for p in subtract(window, self.policy.freeze_spans) if p.contains(at)), None)

    def between(
        self, cluster: ClusterState, kind: str, start: dt.datetime, end: dt.datetime
    ) -> Iterator[Window]:
        """Every allowed piece of window overlapping [start, end), in order."""
        schedule, _ = self.schedule(cluster, kind)
        if schedule is None:
            return
        for window in schedule.iter_windows(start):
            if window.start >= end:
                return
            yield from subtract(window, self.policy.freeze_spans)
