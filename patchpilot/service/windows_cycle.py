"""The Windows Update cycle: on Patch Tuesday, open a watch for the month's AKS image.

The timer fires on the second Tuesday at 18:00 UTC, after Microsoft's 10:00
Pacific release. AKS builds its Windows images days later and rolls them out
over up to two weeks, so nothing can be upgraded yet: the timer opens one
watch per region and Windows image family, and the sweep closes each watch
(publishing `NodeImageAvailable`) when that region offers an image built on
or after Patch Tuesday. The planner then makes the pools due from Patch
Tuesday plus the policy's offset, in their first allowed window.
"""

from __future__ import annotations

import datetime as dt
import logging

from patchpilot.domain.cadence import latest_patch_tuesday, release_instant
from patchpilot.domain.resource_ids import region_key
from patchpilot.service.deps import Services
from patchpilot.service.snapshots import load_fleet_snapshot

_log = logging.getLogger(__name__)


def windows_patch_cycle(services: Services, now: dt.datetime) -> tuple[str, ...]:
    """Open this month's watches; returns "region/family" for each watch opened."""
    tuesday = latest_patch_tuesday(now.astimezone(dt.UTC).date())
    if now < release_instant(tuesday):
        # Fired early (a manual run before the release): the previous month is the open one.
        tuesday = latest_patch_tuesday(tuesday - dt.timedelta(days=1))
    month = tuesday.strftime("%Y-%m")
    fleet = load_fleet_snapshot(services.store)
    families = sorted(
        {
            (region_key(cluster.location), pool.node_image.family)
            for cluster in fleet.clusters
            for pool in cluster.pools
            if pool.os_type == "Windows"
        }
    )
    for region, family in families:
        services.store.open_watch(month, region, family, now)
    _log.info("Patch Tuesday %s: watching %d region/family pairs", tuesday, len(families))
    return tuple(f"{region}/{family}" for region, family in families)
