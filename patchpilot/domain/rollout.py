"""When a ring gate opened for a target, region by region.

AKS rolls a release out region by region over up to a week (DESIGN.md; the
AKS release notes). A gate that waits for every member of the earlier ring,
wherever it is, makes the later ring wait for the slowest region's rollout,
and one that waits only for the regions offering the target *now* closes
again the day another region starts offering it. So a gate opens for a
target at the first moment every holding member in the regions that
offered it by then had reached it, and stays open: a region whose rollout
comes later does not hold it. That moment starts the later ring's soak.

The sums keep, for their newest targets, each region's holders and how
many of them reached the target and when (:class:`~.gates.Arrivals`); the
region catalogs say since when each region offers it. A target without that
detail (an older target, or a sum stored before it) falls back to the
fleet-wide rule: every holder, from the last arrival.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Final

from patchpilot.domain.fleet import RegionCatalog
from patchpilot.domain.gates import KUBERNETES, Arrivals, Tally, release_order
from patchpilot.domain.node_images import parse_node_image
from patchpilot.domain.versions import KubernetesVersion

# "Offered long ago" and "arrived long ago", for ordering.
LONG_AGO: Final = dt.datetime.min.replace(tzinfo=dt.UTC)
# Region key -> since when it offers the target (LONG_AGO: as far back as we know); a
# region missing from the mapping does not offer it.
OfferTimes = Mapping[str, dt.datetime]


def offer_times(
    catalogs: Mapping[str, RegionCatalog],
    regions: Mapping[str, int],
    subject: str,
    target: str,
    now: dt.datetime,
) -> OfferTimes:
    """Since when each of `regions` offers `target` at `now`; an unknown catalog, long ago.

    A region whose catalog the plan does not have is taken to offer it: its
    members then hold the gate, the stricter reading.
    """
    times: dict[str, dt.datetime] = {}
    for region in regions:
        catalog = catalogs.get(region)
        if catalog is None:
            times[region] = LONG_AGO
            continue
        released = _offered_since(catalog, subject, target, now)
        if released is not None:
            times[region] = released
    return times


def opened(
    tally: Tally, subject: str, target: str, offers: OfferTimes | None, *, or_newer: bool = False
) -> tuple[bool, dt.datetime | None]:
    """Whether the gate is open for `target`, and when its soak started (None: long ago).

    With `or_newer`, a member that reached something newer counts as having
    reached it (per region, the most members at any one target that new:
    a member reports each target it reached, so they cannot be added up).
    """
    arrivals = _at_or_past(tally, subject, target) if or_newer else tally.reached.get(target)
    if arrivals is None:
        return False, None
    holders_reached = arrivals.count > arrivals.late
    if offers is None or not tally.regions or (holders_reached and not arrivals.regions):
        # A sum without region detail (stored before it, or an older target): fleet-wide.
        if arrivals.count < tally.needed:
            return False, None
        return True, arrivals.soak_from
    offering = {r: t for r, t in offers.items() if r in tally.regions}
    if not offering:  # no holder can run it yet: whoever ran it opens it
        return True, arrivals.soak_from
    return _opened_in_order(tally, arrivals, offering)


def _opened_in_order(
    tally: Tally, arrivals: Arrivals, offering: OfferTimes
) -> tuple[bool, dt.datetime | None]:
    """Grow the set of regions that count, in offer order, until it no longer grows."""
    since = min(offering.values())
    while True:
        counted = [r for r, t in offering.items() if t <= since]
        for region in counted:
            count, _ = arrivals.regions.get(region, (0, None))
            if count < tally.regions[region]:
                return False, None
        last = max((arrivals.regions[r][1] or LONG_AGO for r in counted), default=LONG_AGO)
        if last <= since:
            return True, None if last == LONG_AGO else last
        since = last


def _at_or_past(tally: Tally, subject: str, target: str) -> Arrivals | None:
    """One target's arrivals, counting members that reached a newer one (see :func:`opened`)."""
    order = release_order(subject)
    newer = [a for t, a in tally.reached.items() if order(t) >= order(target)]
    if not newer:
        return None
    regions: dict[str, tuple[int, dt.datetime | None]] = {}
    for arrivals in newer:
        for region, (count, last) in arrivals.regions.items():
            had = regions.get(region, (0, None))
            latest = max((t for t in (had[1], last) if t is not None), default=None)
            regions[region] = (max(had[0], count), latest)
    best = max(newer, key=lambda a: a.count)
    return Arrivals(best.count, best.last, best.late, best.late_last, regions)


def _offered_since(
    catalog: RegionCatalog, subject: str, target: str, now: dt.datetime
) -> dt.datetime | None:
    """Since when the region offers the target (LONG_AGO when its day is unknown), or None."""
    if subject == KUBERNETES:
        version = KubernetesVersion.parse(target)
        if all(o.version != version for o in catalog.kubernetes_at(now)):
            return None
        return catalog.kubernetes_released(version) or LONG_AGO
    image = parse_node_image(target)
    if image not in catalog.images_at(image.family, now):
        return None
    return catalog.image_released(image) or LONG_AGO
