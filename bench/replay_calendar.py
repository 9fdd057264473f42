"""The real AKS release calendar as a fleet catalog, and a generated fleet and policy for it.

`bench/time_to_patch.py` replays months of real releases through the demo
runner (`patchpilot.demo.runner`), which reads a fleet document whose
catalog entries carry `released` dates. This module turns
`../shared/data/aks_releases.csv` into that catalog and generates a fleet
big enough to show ring and window effects; it keeps no engine of its own,
so what is measured is the app itself.

Choices, and why:

- Only the two families the generated fleet runs are replayed
  (Ubuntu 22.04 and Windows Server 2022). The changelog writes short family
  names (`AKSUbuntu-2204`), ARM reports full ones
  (`AKSUbuntu-2204gen2containerd`); :data:`FAMILIES` maps them, and
  `parse_node_image` checks every version as the app would.
- Each region sees a release on its note's date plus a seeded lag of
  0 to :data:`MAX_REGION_LAG_DAYS` days: AKS rolls a release out region by
  region over days. Lags never let a newer image reach a region before an
  older one, as a rollout does not.
- Pools start on the newest image released before the replay begins, with no
  `released` date (always offered), so every upgrade in the replay is to a
  release whose availability is known.
- Kubernetes versions stay fixed (one offered patch, which every cluster
  runs): the replay measures node image exposure, which is what the NodeImage
  comparison is about.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from patchpilot.domain.node_images import NodeImageVersion, parse_node_image

DATA_DIR: Final = Path(__file__).resolve().parents[2] / "shared" / "data"
RELEASES_CSV: Final = DATA_DIR / "aks_releases.csv"
SUBSCRIPTION: Final = "5c1d7e2a-3b4f-4c6d-8e9f-0a1b2c3d4e5f"
REGIONS: Final = ("westeurope", "eastus")
RINGS: Final = ("dev", "staging", "prod")
SOAK_DAYS: Final = {"dev": 0, "staging": 2, "prod": 5}
KUBERNETES: Final = "1.33.2"
MAX_REGION_LAG_DAYS: Final = 7
LINUX: Final = "AKSUbuntu-2204gen2containerd"
WINDOWS: Final = "AKSWindows-2022-containerd"
# The changelog's short family -> the full family ARM reports on a pool.
FAMILIES: Final = {"AKSUbuntu-2204": LINUX, "AKSWindows-2022": WINDOWS}
FREEZE: Final = {"start": "2025-12-20", "end": "2026-01-04", "reason": "year-end freeze"}


@dataclass(frozen=True)
class Release:
    """One image as the changelog published it: the note's date and the full image."""

    date: dt.date
    image: NodeImageVersion


@dataclass(frozen=True)
class Catalog:
    """Per region, each image and the day it appears there (None: before the replay)."""

    regions: Mapping[str, tuple[tuple[NodeImageVersion, dt.date | None], ...]]

    def initial(self, family: str) -> NodeImageVersion:
        """The image every pool of `family` runs when the replay starts."""
        first = next(iter(self.regions.values()))
        return max(
            (image for image, day in first if image.family == family and day is None),
            key=lambda image: image.sort_key,
        )

    def released(self, region: str) -> tuple[tuple[NodeImageVersion, dt.datetime], ...]:
        """The images that appear in `region` during the replay, with the instant (UTC midnight)."""
        return tuple(
            (image, dt.datetime.combine(day, dt.time(), dt.UTC))
            for image, day in self.regions[region]
            if day is not None
        )


def read_releases(path: Path = RELEASES_CSV) -> list[Release]:
    """Every Ubuntu 22.04 and Windows Server 2022 image of the changelog, first note only."""
    seen: set[str] = set()
    releases = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            day = dt.date.fromisoformat(row["release_date"])
            names = f"{row['windows_node_images']};{row['linux_node_images']}".split(";")
            for name in filter(None, (n.strip() for n in names)):
                full = _full_name(name)
                if full is None or full in seen:
                    continue
                seen.add(full)
                releases.append(Release(day, parse_node_image(full, source=str(path))))
    return sorted(releases, key=lambda r: (r.date, r.image.family, r.image.sort_key))


def _full_name(short: str) -> str | None:
    """`AKSUbuntu-2204-202607.09.0` -> `AKSUbuntu-2204gen2containerd-202607.09.0`; None: unused."""
    for prefix, family in FAMILIES.items():
        if short.startswith(f"{prefix}-"):
            return f"{family}-{short.removeprefix(prefix + '-')}"
    return None


def build_catalog(
    releases: Sequence[Release], start: dt.date, end: dt.date, *, seed: int = 0
) -> Catalog:
    """Images before `start` (the newest per family only) and those released in [start, end).

    Each region gets its own seeded lag per release, kept monotonic per family.
    """
    rng = random.Random(seed)  # a repeatable rollout, not a secret
    regions: dict[str, tuple[tuple[NodeImageVersion, dt.date | None], ...]] = {}
    before = {
        family: max(
            (r.image for r in releases if r.image.family == family and r.date < start),
            key=lambda image: image.sort_key,
        )
        for family in FAMILIES.values()
    }
    during = [r for r in releases if start <= r.date < end]
    for index, region in enumerate(REGIONS):
        entries: list[tuple[NodeImageVersion, dt.date | None]] = [
            (image, None) for image in before.values()
        ]
        last: dict[str, dt.date] = {}
        for release in sorted(during, key=lambda r: (r.image.family, r.image.sort_key)):
            lag = 0 if index == 0 else rng.randint(0, MAX_REGION_LAG_DAYS)
            day = release.date + dt.timedelta(days=lag)
            day = max(day, last.get(release.image.family, day))
            last[release.image.family] = day
            entries.append((release.image, day))
        regions[region] = tuple(entries)
    return Catalog(regions)


# --------------------------------------------------------------------------- fleet and policy

# (schedule, durationHours, startTime) for node OS windows, and for Kubernetes windows.
_NODE_OS_WINDOWS: Final[tuple[tuple[dict[str, Any], int, str], ...]] = (
    ({"daily": {"intervalDays": 1}}, 4, "01:00"),
    ({"weekly": {"intervalWeeks": 1, "dayOfWeek": "Sunday"}}, 6, "02:00"),
    ({"weekly": {"intervalWeeks": 1, "dayOfWeek": "Wednesday"}}, 4, "22:00"),
    ({"daily": {"intervalDays": 2}}, 4, "23:00"),
    (
        {"relativeMonthly": {"intervalMonths": 1, "weekIndex": "Third", "dayOfWeek": "Saturday"}},
        8,
        "00:00",
    ),
    ({"weekly": {"intervalWeeks": 2, "dayOfWeek": "Tuesday"}}, 6, "20:00"),
)
_KUBERNETES_WINDOWS: Final[tuple[dict[str, Any], ...]] = (
    {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Saturday"}},
    {"relativeMonthly": {"intervalMonths": 1, "weekIndex": "First", "dayOfWeek": "Sunday"}},
)
_OFFSETS: Final = ("+00:00", "+01:00", "-05:00", "+05:30", "-08:00", "+09:00")
# How node OS windows are dealt to clusters. "varied": by cluster index alone, which
# happens to give half of staging a monthly window (sparser than prod's). "graded": each
# ring's windows at least as frequent as the next ring's (dev daily or every two days,
# staging weekly, prod fortnightly or monthly), as rings are usually set up.
WindowLayout = Literal["varied", "graded"]
_GRADED: Final[Mapping[str, tuple[int, int]]] = {"dev": (0, 3), "staging": (1, 2), "prod": (5, 4)}


def generate_fleet(
    catalog: Catalog, clusters: int, start: dt.date, layout: WindowLayout = "varied"
) -> dict[str, Any]:
    """`clusters` clusters over 3 rings and 2 regions, each with Linux pools, most with Windows.

    Windows differ by cluster (daily, weekly, every two days, fortnightly,
    monthly; six UTC offsets) so the replay shows what windows cost, and two
    of every three clusters run a Windows pool. `layout` deals them by
    cluster alone or graded by ring (see :data:`WindowLayout`).
    """
    linux, windows = catalog.initial(LINUX), catalog.initial(WINDOWS)
    documents = []
    for index in range(clusters):
        ring = RINGS[index % len(RINGS)]
        region = REGIONS[(index // len(RINGS)) % len(REGIONS)]
        schedule, hours, at = _NODE_OS_WINDOWS[_window_index(index, ring, layout)]
        offset = _OFFSETS[(index // 2) % len(_OFFSETS)]
        pools = [
            _pool("system", "Linux", "System", linux, 3),
            _pool("apps", "Linux", "User", linux, 3 + index % 4),
        ]
        if (index // len(RINGS)) % 3 != 2:  # two clusters in three, in every ring
            pools.append(_pool("win22", "Windows", "User", windows, 2 + index % 3))
        documents.append(
            {
                "id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-{ring}/providers/"
                f"Microsoft.ContainerService/managedClusters/{ring}-{region}-{index:02d}",
                "location": region,
                "tags": {"env": ring},
                "kubernetes_version": KUBERNETES,
                "auto_upgrade_channel": "none",
                "node_os_upgrade_channel": "None",
                "maintenance_configurations": {
                    "aksManagedAutoUpgradeSchedule": _window(
                        _KUBERNETES_WINDOWS[index % 2], 4, "03:00", offset, start
                    ),
                    "aksManagedNodeOSUpgradeSchedule": _window(schedule, hours, at, offset, start),
                },
                "pools": pools,
            }
        )
    return {"catalog": _catalog_document(catalog), "clusters": documents}


def _window_index(index: int, ring: str, layout: WindowLayout) -> int:
    if layout == "graded":
        return _GRADED[ring][(index // len(RINGS)) % 2]
    return index % len(_NODE_OS_WINDOWS)


# The rule sets the replays compare (issue 16), by name: what each changes in the generated
# policy. "bounded" is the parser's defaults (issue 16's rules); "soaked" and "latest" are
# the rules before them (every member of a ring holds the next, no canary check). The rest
# vary one knob of the default at a time.
_BEFORE: Final[Mapping[str, Any]] = {"stragglers": "hold", "canary_days": None}
CANDIDATES: Final[Mapping[str, Mapping[str, Any]]] = {
    "bounded": {},
    "soaked": {"selection": "soaked", "promotion": _BEFORE},
    "latest": {"selection": "latest", "promotion": _BEFORE},
    "bounded-hold": {"promotion": {"stragglers": "hold"}},
    "bounded-drift7": {"max_drift_days": 7},
    "bounded-drift28": {"max_drift_days": 28},
    "bounded-nocanary": {"promotion": {"canary_days": None}},
    "bounded-canary0": {"promotion": {"canary_days": 0}},
    "soaked-release": {"selection": "soaked"},
    "latest-release": {"selection": "latest"},
}


def generate_policy(candidate: str | None = None) -> dict[str, Any]:
    """The demo's rules: 3 soaked rings, a year-end freeze, Windows a week after Patch Tuesday.

    `candidate` names one of :data:`CANDIDATES`, the rule sets the replay
    compares; None leaves every promotion rule to the parser's defaults, as a
    user's policy that names none.
    """
    changes = CANDIDATES[candidate] if candidate is not None else {}
    images: dict[str, Any] = {
        "linux": {"enabled": True},
        "windows": {"enabled": True, "patch_tuesday_offset_days": 7},
    }
    for key in ("selection", "max_drift_days"):
        if key in changes:
            images[key] = changes[key]
    document: dict[str, Any] = {
        "scopes": [f"/subscriptions/{SUBSCRIPTION}"],
        "freezes": [FREEZE],
        "rings": [
            {"name": ring, "match": {"tags": {"env": ring}}, "soak_days": SOAK_DAYS[ring]}
            for ring in RINGS
        ],
        "kubernetes": {"channel": "patch", "allow_preview": False},
        "node_images": images,
    }
    if "promotion" in changes:
        document["promotion"] = dict(changes["promotion"])
    return document


def _catalog_document(catalog: Catalog) -> dict[str, Any]:
    regions: dict[str, Any] = {}
    for region, entries in catalog.regions.items():
        images: dict[str, list[Any]] = {}
        for image, day in entries:
            entry: Any = (
                image.version
                if day is None
                else {
                    "version": image.version,
                    "released": day.isoformat(),
                }
            )
            images.setdefault(image.family, []).append(entry)
        regions[region] = {"kubernetes": [{"version": KUBERNETES}], "node_images": images}
    return regions


def _pool(name: str, os: str, mode: str, image: NodeImageVersion, count: int) -> dict[str, Any]:
    return {
        "name": name,
        "os": os,
        "mode": mode,
        "version": KUBERNETES,
        "node_image": str(image),
        "count": count,
    }


def _window(
    schedule: Mapping[str, Any], hours: int, at: str, offset: str, start: dt.date
) -> dict[str, Any]:
    anchor = start - dt.timedelta(days=start.weekday())  # a Monday before the replay
    return {
        "maintenanceWindow": {
            "schedule": dict(schedule),
            "durationHours": hours,
            "utcOffset": offset,
            "startDate": anchor.isoformat(),
            "startTime": at,
        }
    }
