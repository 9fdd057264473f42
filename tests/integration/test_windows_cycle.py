"""The Windows Update cycle through the registered timers: Patch Tuesday opens a watch,
the sweep closes it when the region offers an image built after Patch Tuesday,
and the Windows pool becomes due at Patch Tuesday + offset in its window."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from patchpilot.domain.policy import parse_policy
from patchpilot.localhost import ncrontab
from patchpilot.localhost.harness import Harness, running_app
from tests.factories import SUB, cluster_id

PATCH_TUESDAY = dt.date(2025, 12, 9)
BEFORE = dt.datetime(2025, 12, 9, 12, tzinfo=dt.UTC)
CLUSTER = cluster_id("win-1")
FLEET: dict[str, Any] = {
    "catalog": {
        "westeurope": {
            "kubernetes": ["1.32.6"],
            "node_images": {
                "AKSUbuntu-2204gen2containerd": ["202512.01.0"],
                "AKSWindows-2022-containerd": [
                    "20348.4405.251112",
                    {"version": "20348.4529.251210", "released": "2025-12-13"},
                ],
            },
        }
    },
    "clusters": [
        {
            "id": CLUSTER,
            "location": "westeurope",
            "tags": {"env": "dev"},
            "kubernetes_version": "1.32.6",
            "pools": [
                {
                    "name": "system",
                    "os": "Linux",
                    "mode": "System",
                    "version": "1.32.6",
                    "node_image": "AKSUbuntu-2204gen2containerd-202512.01.0",
                    "count": 1,
                },
                {
                    "name": "win22",
                    "os": "Windows",
                    "mode": "User",
                    "version": "1.32.6",
                    "node_image": "AKSWindows-2022-containerd-20348.4405.251112",
                    "count": 2,
                },
            ],
        }
    ],
}
POLICY = parse_policy(
    {
        "scopes": [f"/subscriptions/{SUB}"],
        "default_window": {
            "schedule": {"daily": {"intervalDays": 1}},
            "durationHours": 4,
            "startTime": "01:00",
        },
        "rings": [{"name": "dev", "match": {"tags": {"env": "dev"}}}],
        "kubernetes": {"channel": "none"},
        "node_images": {"windows": {"enabled": True, "patch_tuesday_offset_days": 7}},
    }
)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Harness]:
    with running_app(FLEET, POLICY, BEFORE, tmp_path) as harness:
        yield harness


def at(app: Harness, moment: dt.datetime) -> None:
    app.clock.set(moment)


def test_the_windows_timer_fires_at_18_utc_on_each_patch_tuesday(app: Harness) -> None:
    trigger = app.host.functions["windows_patch_cycle"].trigger
    schedule = ncrontab.parse(str(trigger["schedule"]), app.host.config.settings)
    first = schedule.next_after(BEFORE)
    assert first == dt.datetime(2025, 12, 9, 18, tzinfo=dt.UTC)
    assert schedule.next_after(first) == dt.datetime(2026, 1, 13, 18, tzinfo=dt.UTC)


def test_patch_tuesday_opens_a_watch_and_the_sweep_closes_it_when_the_image_arrives(
    app: Harness,
) -> None:
    app.host.fire_timer("sweep")
    at(app, dt.datetime(2025, 12, 9, 18, tzinfo=dt.UTC))
    app.host.fire_timer("windows_patch_cycle")
    (watch,) = app.services.store.list_watches(open_only=True)
    assert (watch.month, watch.region, watch.family) == (
        "2025-12",
        "westeurope",
        "AKSWindows-2022-containerd",
    )

    at(app, dt.datetime(2025, 12, 12, 12, tzinfo=dt.UTC))
    app.host.fire_timer("sweep")
    assert app.services.store.list_watches(open_only=True) != ()

    at(app, dt.datetime(2025, 12, 13, 12, tzinfo=dt.UTC))
    app.host.fire_timer("sweep")
    assert app.services.store.list_watches(open_only=True) == ()
    found = [n for n in app.publisher.notices if n.type == "NodeImageAvailable"]
    assert [n.data["image"] for n in found] == ["AKSWindows-2022-containerd-20348.4529.251210"]


def test_the_windows_pool_starts_in_the_first_window_after_patch_tuesday_plus_offset(
    app: Harness,
) -> None:
    app.host.fire_timer("sweep")
    for day in range(10, 18):
        at(app, dt.datetime(2025, 12, day, 2, tzinfo=dt.UTC))  # inside the daily 01:00-05:00 window
        app.host.fire_timer("sweep")
        app.host.drain()
    starts = [
        n for n in app.publisher.notices if n.type == "UpgradeStarted" and n.data["pool"] == "win22"
    ]
    assert [n.time for n in starts] == [dt.datetime(2025, 12, 16, 2, tzinfo=dt.UTC)]
    assert not app.host.failures
