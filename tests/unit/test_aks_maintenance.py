"""AKS's announced maintenance: the real samples, Resource Graph rows, and the planner's rule.

The samples (``tests/events/aks_scheduled_*.json``) are the Event Grid
article's, verbatim; they write placeholders (``{subscription-id}``,
``{rg-name}``, ``{managedcluster-name}``, ``{event-id}``), which these tests
fill in before parsing, as the Fleet gate tests do.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchpilot.domain.aks_maintenance import (
    CANCELLED,
    DEFAULT_SPAN,
    MARGIN_AFTER,
    MARGIN_BEFORE,
    NODE_OS_UPGRADE,
    AksMaintenance,
    blackouts,
    maintenance_from_row,
    merged,
    parse_maintenance_event,
    pruned,
)
from patchpilot.domain.errors import UnhandledEventError
from patchpilot.domain.fleet import FleetState
from patchpilot.domain.history import History
from patchpilot.domain.maintenance_config import parse_maintenance_configuration
from patchpilot.domain.plan import Plan
from patchpilot.domain.planner import plan
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.errors import InvalidInputError
from tests import events
from tests.factories import SUB, catalog, cluster, cluster_id, fleet, policy, utc

EVENT = "bbe82027-0444-4f73-897a-0bbfe3af66f1"
PATCHED = catalog(kubernetes=[{"version": "1.32.6"}, {"version": "1.32.9"}, {"version": "1.33.2"}])
SATURDAY = utc(2025, 11, 22, 1, 30)  # inside the default window (01:00Z to 07:00Z)
CLUSTER = parse_cluster_id(cluster_id("dev-1"))


def sample(name: str) -> dict[str, Any]:
    """A sample with its placeholders filled in (the test subscription, dev-1)."""
    text = json.dumps(events.load(name))
    for placeholder, value in (
        ("{subscription-id}", SUB),
        ("{rg-name}", "rg"),
        ("{managedcluster-name}", "dev-1"),
        ("{event-id}", EVENT),
    ):
        text = text.replace(placeholder, value)
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def announced(
    start: dt.datetime, status: str = "Scheduled", *, event_id: str = "e-1", kind: str | None = None
) -> AksMaintenance:
    return AksMaintenance(
        cluster=CLUSTER,
        event_id=event_id,
        status=status,
        scheduled=start,
        seen=start - dt.timedelta(days=1),
        upgrade_type=kind,
        source="AutoUpgrader",
    )


def with_announced(state: FleetState, *items: AksMaintenance) -> FleetState:
    clusters = tuple(dataclasses.replace(c, aks_maintenance=items) for c in state.clusters)
    return dataclasses.replace(state, clusters=clusters)


def dev_plan(at: dt.datetime, *items: AksMaintenance) -> Plan:
    state = with_announced(fleet([cluster("dev-1", "dev")], PATCHED), *items)
    return plan(state, policy(), History(), at)


# Events ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["aks_scheduled_eg", "aks_scheduled_ce"])
def test_the_articles_samples_parse_in_both_schemas(name: str) -> None:
    event = parse_maintenance_event(sample(name))
    item = event.maintenance
    assert event.short_type == "ScheduledEventEmitted"
    assert event.schema == ("EventGridSchema" if name.endswith("eg") else "CloudEventSchemaV1_0")
    assert item.cluster.key == CLUSTER.key
    assert (item.event_id, item.status, item.source) == (EVENT, "Started", "AutoUprader")
    assert item.scheduled == dt.datetime(2024, 4, 16, 22, 17, 12, 103268, tzinfo=dt.UTC)
    # 0001-01-01 is ARM's "unset": no start time, and the event's own time is the last word.
    assert item.started is None
    assert item.seen == event.time
    assert item.upgrade_type is None  # the sample names neither K8sVersionUpgrade nor NodeOSUpgrade


def test_the_event_grid_sample_types_are_matched_without_case() -> None:
    payload = sample("aks_scheduled_eg")
    payload["eventType"] = payload["eventType"].lower()
    assert parse_maintenance_event(payload).short_type == "ScheduledEventEmitted"


def test_another_event_type_is_unhandled_not_an_error_of_the_sender() -> None:
    with pytest.raises(UnhandledEventError):
        parse_maintenance_event(events.load("eg_node_pool_rolling_failed"))


def test_an_end_of_support_notice_is_no_maintenance() -> None:
    payload = sample("aks_scheduled_eg")
    props = payload["data"]["resourceInfo"]["properties"]
    props.update(eventSource="EOLNotification", eventDetails={"kubernetesVersion": "1.32.3"})
    with pytest.raises(UnhandledEventError, match="end-of-support"):
        parse_maintenance_event(payload)


def change_subject(payload: dict[str, Any]) -> None:
    payload["subject"] = payload["subject"].replace("dev-1", "prod-1")


def change_topic(payload: dict[str, Any]) -> None:
    payload["topic"] = "/subscriptions/11111111-1111-1111-1111-111111111111"


def drop_scheduled_time(payload: dict[str, Any]) -> None:
    del payload["data"]["resourceInfo"]["properties"]["scheduledTime"]


def crafted_resource(payload: dict[str, Any]) -> None:
    payload["data"]["resourceInfo"]["properties"]["resources"] = ["/subscriptions/../x"]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        pytest.param(change_subject, "subject", id="subject-of-another-cluster"),
        pytest.param(change_topic, "topic", id="topic-of-another-subscription"),
        pytest.param(drop_scheduled_time, "scheduledTime", id="no-scheduled-time"),
        pytest.param(crafted_resource, "resources", id="crafted-cluster-id"),
    ],
)
def test_a_malformed_event_is_refused_naming_the_field(change: Any, where: str) -> None:
    payload = sample("aks_scheduled_eg")
    change(payload)
    with pytest.raises(InvalidInputError, match=where):
        parse_maintenance_event(payload)


@settings(max_examples=60, deadline=None)
@given(st.recursive(st.none() | st.text(max_size=5), lambda c: st.dictionaries(st.text(), c)))
def test_any_json_is_parsed_or_refused_never_crashes(payload: object) -> None:
    with pytest.raises(InvalidInputError):
        parse_maintenance_event(payload)


# Resource Graph rows -------------------------------------------------------------------


def row(**props: Any) -> dict[str, Any]:
    """A ``containerserviceeventresources`` row as the sample's resourceInfo would list it."""
    base = sample("aks_scheduled_ce")["data"]["resourceInfo"]
    base["type"] = base["type"].lower()
    base["properties"].update(props)
    return dict(base)


def test_a_resource_graph_row_reads_like_the_event() -> None:
    item = maintenance_from_row(
        row(
            eventStatus="Scheduled",
            eventDetails="NodeOSUpgrade scheduled",
            lastUpdateTime="2024-04-09T22:17:12Z",
        )
    )
    assert item is not None
    assert (item.cluster.key, item.event_id, item.status) == (CLUSTER.key, EVENT, "Scheduled")
    assert item.upgrade_type == NODE_OS_UPGRADE
    assert item.seen == utc(2024, 4, 9, 22, 17) + dt.timedelta(seconds=12)


def test_a_row_whose_properties_are_json_text_is_read_too() -> None:
    document = row(eventStatus="Canceled")
    document["properties"] = json.dumps(document["properties"])
    item = maintenance_from_row(document)
    assert item is not None
    assert item.status == CANCELLED  # the AKS docs' spelling reads as the article's


def test_an_end_of_support_row_is_skipped() -> None:
    assert maintenance_from_row(row(eventSource="EOLNotification")) is None


def test_a_row_of_another_type_is_refused() -> None:
    document = row()
    document["type"] = "microsoft.containerservice/managedclusters"
    with pytest.raises(InvalidInputError, match="type"):
        maintenance_from_row(document)


# Merging and keeping -------------------------------------------------------------------


def test_the_latest_word_wins_and_a_late_notice_never_reopens_ended_work() -> None:
    start = utc(2025, 11, 22, 1)
    notice = announced(start)
    done = dataclasses.replace(notice, status="Completed", seen=start + dt.timedelta(hours=2))
    assert merged([done], [notice]) == (done,)
    same_time = dataclasses.replace(notice, status="Started")
    assert merged([same_time], [notice]) == (same_time,)


def test_the_stored_form_reads_back_the_same() -> None:
    item = announced(utc(2025, 11, 22, 1), kind=NODE_OS_UPGRADE)
    assert AksMaintenance.from_json(json.loads(json.dumps(item.to_json()))) == item


def test_an_announcement_is_kept_a_week_past_its_end() -> None:
    item = announced(utc(2025, 11, 22, 1))
    end = utc(2025, 11, 22, 1) + DEFAULT_SPAN
    assert pruned([item], {}, end + dt.timedelta(days=6)) == (item,)
    assert pruned([item], {}, end + dt.timedelta(days=7)) == ()


# The span --------------------------------------------------------------------------------


def test_the_span_ends_with_the_clusters_window_for_that_kind() -> None:
    sunday = parse_maintenance_configuration(
        {
            "maintenanceWindow": {
                "schedule": {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Sunday"}},
                "durationHours": 8,
                "utcOffset": "+00:00",
                "startTime": "00:00",
            }
        },
        source="test",
    )
    item = announced(utc(2025, 11, 23, 0), kind=NODE_OS_UPGRADE)
    windows = {"aksManagedNodeOSUpgradeSchedule": sunday}
    assert item.span(windows).end == utc(2025, 11, 23, 8)
    # Kubernetes work does not run in the node OS window: the longest window AKS allows.
    k8s = dataclasses.replace(item, upgrade_type="K8sVersionUpgrade")
    assert k8s.span(windows).end == utc(2025, 11, 23, 0) + DEFAULT_SPAN


def test_ended_and_past_announcements_hold_nothing() -> None:
    start = utc(2025, 11, 22, 1)
    assert blackouts([announced(start, CANCELLED)], {}, start) == ()
    after = start + DEFAULT_SPAN + MARGIN_AFTER
    assert blackouts([announced(start)], {}, after) == ()


# The planner ---------------------------------------------------------------------------


def test_a_due_start_waits_for_aks_announced_maintenance_and_goes_on_after_it() -> None:
    # AKS works from 02:00Z for 24 h: the Saturday window's rest is closed, the next one opens.
    item = announced(utc(2025, 11, 22, 2), kind="K8sVersionUpgrade")
    action = dev_plan(SATURDAY, item).actions[0]
    assert action.status == "scheduled"
    assert action.not_before == utc(2025, 11, 29, 1)
    assert (
        "AKS announced its own K8sVersionUpgrade maintenance on dev-1 from "
        "2025-11-22T02:00:00Z to 2025-11-23T02:00:00Z"
    ) in action.reason
    assert "waiting until it ends" in action.reason


def test_a_start_stays_due_when_it_leaves_aks_its_margin() -> None:
    # AKS starts at 06:00Z; the margin closes the window at 02:00Z, after now (01:30Z).
    action = dev_plan(SATURDAY, announced(utc(2025, 11, 22, 6))).actions[0]
    assert action.status == "due"
    assert action.window_end == utc(2025, 11, 22, 6) - MARGIN_BEFORE


def daily(start: str, hours: int) -> dict[str, Any]:
    return {
        "maintenanceWindow": {
            "schedule": {"daily": {"intervalDays": 1}},
            "durationHours": hours,
            "utcOffset": "+00:00",
            "startTime": start,
        }
    }


def test_the_start_moves_into_the_windows_rest_after_a_short_span() -> None:
    # Kubernetes may start 00:00Z-12:00Z daily; AKS's node OS work runs in its 00:00-04:00 window.
    doc = cluster(
        "dev-1",
        "dev",
        maintenance_configurations={
            "aksManagedAutoUpgradeSchedule": daily("00:00", 12),
            "aksManagedNodeOSUpgradeSchedule": daily("00:00", 4),
        },
    )
    item = announced(utc(2025, 11, 22, 0), "Started", kind=NODE_OS_UPGRADE)
    state = with_announced(fleet([doc], PATCHED), item)
    action = plan(state, policy(), History(), SATURDAY).actions[0]
    assert action.status == "scheduled"
    assert action.not_before == utc(2025, 11, 22, 4) + MARGIN_AFTER
    assert "from 2025-11-22T00:00:00Z to 2025-11-22T04:00:00Z" in action.reason


def test_a_cancelled_announcement_changes_nothing() -> None:
    item = announced(utc(2025, 11, 22, 2), CANCELLED)
    assert dev_plan(SATURDAY, item) == dev_plan(SATURDAY)


def test_an_announcement_on_another_week_says_nothing_in_this_weeks_plan() -> None:
    later = announced(utc(2025, 12, 6, 2))
    action = dev_plan(SATURDAY, later).actions[0]
    assert action.status == "due"
    assert "AKS announced" not in action.reason


spans = st.tuples(
    st.integers(0, 14 * 24 * 4).map(lambda q: utc(2025, 11, 17) + dt.timedelta(minutes=15 * q)),
    st.sampled_from(["Scheduled", "Started", "Completed", "Cancelled", "Failed", "Paused"]),
    st.sampled_from([None, "K8sVersionUpgrade", NODE_OS_UPGRADE]),
)


@settings(max_examples=150, deadline=None)
@given(
    announcements=st.lists(spans, max_size=3),
    at=st.integers(0, 14 * 24 * 4).map(lambda q: utc(2025, 11, 17) + dt.timedelta(minutes=15 * q)),
)
def test_no_due_or_scheduled_start_falls_inside_an_announced_open_span(
    announcements: list[tuple[dt.datetime, str, str | None]], at: dt.datetime
) -> None:
    items = [
        announced(start, status, event_id=f"e-{i}", kind=kind)
        for i, (start, status, kind) in enumerate(announcements)
    ]
    result = dev_plan(at, *items)
    open_spans = [b.span for b in blackouts(items, {}, at)]
    for action in result.actions:
        if action.status == "due":
            assert not any(span.contains(at) for span in open_spans), action.reason
        if action.status == "scheduled":
            assert action.not_before is not None
            assert not any(span.contains(action.not_before) for span in open_spans), action.reason
