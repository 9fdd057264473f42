"""The simulated Communication Manager's calendar: which words AKS says about its work, when."""

from __future__ import annotations

import datetime as dt

from patchpilot.sim.aks_maintenance import event_id, node_os_work, stages
from patchpilot.sim.faults import AksWork
from tests.factories import catalog, cluster, fleet, policy, utc

START = utc(2025, 11, 22, 1)


def test_work_is_announced_a_week_and_a_day_ahead_then_started_and_completed() -> None:
    said = [(s.status, s.at) for s in stages(AksWork("dev-1", START, hours=2))]
    assert said == [
        ("Scheduled", START - dt.timedelta(days=7)),
        ("Scheduled", START - dt.timedelta(hours=24)),
        ("Started", START),
        ("Completed", START + dt.timedelta(hours=2)),
    ]


def test_cancelled_work_says_nothing_after_it_is_cancelled() -> None:
    cancelled = START - dt.timedelta(days=3)
    said = [(s.status, s.at) for s in stages(AksWork("dev-1", START, cancelled_at=cancelled))]
    assert said == [("Scheduled", START - dt.timedelta(days=7)), ("Cancelled", cancelled)]


def test_each_work_has_one_stable_event_id() -> None:
    work = AksWork("dev-1", START)
    assert event_id(work) == event_id(AksWork("DEV-1", START))
    assert event_id(work) != event_id(AksWork("dev-1", START + dt.timedelta(days=7)))


def test_aks_patches_nodes_in_each_node_os_window_of_clusters_with_a_node_os_channel() -> None:
    state = fleet(
        [
            cluster("dev-1", "dev", node_os_upgrade_channel="NodeImage"),
            cluster("dev-2", "dev"),  # None: Patch Pilot's to patch, AKS does nothing
        ],
        catalog(),
    )
    work = node_os_work(state, policy(), utc(2025, 11, 17), utc(2025, 12, 1))
    assert [(w.cluster.rsplit("/", 1)[-1], w.start, w.upgrade_type) for w in work] == [
        ("dev-1", utc(2025, 11, 22, 1), "NodeOSUpgrade"),
        ("dev-1", utc(2025, 11, 29, 1), "NodeOSUpgrade"),
    ]
