"""Fleet Manager gates: the public sample events in both schemas, update runs, and the decision.

The samples in tests/events are the Event Grid article's examples verbatim;
they write placeholders (``{subscription-id}``, ``{rg-name}``,
``{fleet-name}``) that the test fills in, as a real event would.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patchpilot.domain.errors import UnhandledEventError
from patchpilot.domain.fleet_gates import (
    GATE_CREATED,
    GATE_DELETED,
    GATE_UPDATED,
    MemberFacts,
    UpdateRun,
    clusters_behind,
    decide_gate,
    gate_from_resource,
    parse_gate_event,
    parse_update_run,
)
from patchpilot.domain.fleet_ids import parse_fleet_id
from patchpilot.domain.gates import KUBERNETES, Tally
from patchpilot.domain.history import Failure, History, Pause
from patchpilot.errors import InvalidInputError
from patchpilot.service.fleet_gates import listing_due
from tests import events
from tests.factories import SUB, cluster, cluster_id, fleet, policy, utc

FLEET = (
    f"/subscriptions/{SUB}/resourceGroups/rg-fleet"
    "/providers/Microsoft.ContainerService/fleets/fleet-1"
)
NOW = utc(2026, 3, 4, 12)


def sample(name: str) -> dict[str, Any]:
    """A sample event with its placeholders filled in."""
    text = json.dumps(events.load(name))
    for placeholder, value in (
        ("{subscription-id}", SUB),
        ("{rg-name}", "rg-fleet"),
        ("{fleet-name}", "fleet-1"),
    ):
        text = text.replace(placeholder, value)
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@pytest.mark.parametrize(
    ("name", "event_type", "state", "timing", "group"),
    [
        pytest.param(
            "eg_fleet_gate_created", GATE_CREATED, "Pending", "Before", None, id="eg-created"
        ),
        pytest.param(
            "ce_fleet_gate_created", GATE_CREATED, "Pending", "Before", None, id="ce-created"
        ),
        pytest.param(
            "eg_fleet_gate_updated", GATE_UPDATED, "Completed", "Before", "group-1", id="eg-updated"
        ),
        pytest.param(
            "ce_fleet_gate_updated", GATE_UPDATED, "Completed", "Before", "group-1", id="ce-updated"
        ),
        pytest.param(
            "eg_fleet_gate_deleted", GATE_DELETED, "Pending", "After", None, id="eg-deleted"
        ),
        pytest.param(
            "ce_fleet_gate_deleted", GATE_DELETED, "Pending", "After", None, id="ce-deleted"
        ),
    ],
)
def test_sample_gate_events_parse_in_both_schemas(
    name: str, event_type: str, state: str, timing: str, group: str | None
) -> None:
    event = parse_gate_event(sample(name))
    assert event.type == event_type
    assert event.schema == ("EventGridSchema" if name.startswith("eg") else "CloudEventSchemaV1_0")
    assert event.gate.fleet == parse_fleet_id(FLEET)
    assert event.gate.state == state
    assert event.gate.gate_type == "Approval"
    assert event.gate.target.timing == timing
    assert event.gate.target.stage == "stage-1"
    assert event.gate.target.group == group
    assert event.time.tzinfo is dt.UTC


def test_the_samples_spelling_of_the_type_is_read_without_case() -> None:
    payload = sample("eg_fleet_gate_created")
    assert payload["eventType"].startswith("Microsoft.ResourceNotifications.AksResources.")
    assert parse_gate_event(payload).short_type == "FleetGateCreated"


def test_an_aks_event_is_not_a_gate_event() -> None:
    with pytest.raises(UnhandledEventError):
        parse_gate_event(events.load("eg_node_pool_rolling_failed"))


@pytest.mark.parametrize(
    ("change", "path"),
    [
        pytest.param(
            lambda e: e.update(subject=e["subject"] + "x"), "subject", id="subject-other-gate"
        ),
        pytest.param(
            lambda e: e.update(topic=f"/subscriptions/{'1' * 8}-0000-0000-0000-000000000000"),
            "topic",
            id="topic-other-subscription",
        ),
        pytest.param(
            lambda e: e["data"]["resourceInfo"].update(id=FLEET + "/gates/../../x"),
            "resourceInfo.id",
            id="path-trick",
        ),
        pytest.param(
            lambda e: e["data"]["resourceInfo"]["properties"]["target"].update(
                id=FLEET.replace("fleet-1", "fleet-2") + "/updateRuns/run-1"
            ),
            "target.id",
            id="run-of-another-fleet",
        ),
        pytest.param(
            lambda e: e["data"]["resourceInfo"]["properties"]["target"][
                "updateRunProperties"
            ].update(timing="During"),
            "timing",
            id="unknown-timing",
        ),
        pytest.param(lambda e: e.pop("data"), "data", id="no-data"),
    ],
)
def test_malformed_gate_events_are_refused_naming_the_field(change: Any, path: str) -> None:
    payload = sample("eg_fleet_gate_created")
    change(payload)
    with pytest.raises(InvalidInputError) as caught:
        parse_gate_event(payload)
    assert path in str(caught.value)


@given(
    st.recursive(
        st.none() | st.booleans() | st.text(max_size=20),
        lambda c: st.lists(c) | st.dictionaries(st.text(max_size=10), c),
        max_leaves=20,
    )
)
def test_any_json_is_parsed_or_refused_never_crashes(payload: object) -> None:
    with contextlib.suppress(InvalidInputError):
        parse_gate_event(payload)


def _run(upgrade: str = "Full", failed: str | None = None) -> UpdateRun:
    def member(name: str) -> dict[str, Any]:
        state = "Failed" if name == failed else "Completed"
        return {"name": name, "clusterResourceId": cluster_id(name), "status": {"state": state}}

    document = {
        "name": "run-1",
        "properties": {
            "managedClusterUpdate": {"upgrade": {"type": upgrade}},
            "status": {
                "stages": [
                    {
                        "name": "stage-dev",
                        "groups": [{"name": "dev", "members": [member("dev-1")]}],
                    },
                    {
                        "name": "stage-prod",
                        "groups": [
                            {"name": "blue", "members": [member("prod-1")]},
                            {"name": "green", "members": [member("prod-2")]},
                        ],
                    },
                ]
            },
        },
    }
    return parse_update_run(document)


def _gate(stage: str, timing: str = "Before", group: str | None = None) -> Any:
    where: dict[str, Any] = {"name": "run-1", "stage": stage, "timing": timing}
    if group:
        where["group"] = group
    return gate_from_resource(
        {
            "id": f"{FLEET}/gates/12345678-910a-bcde-f000-000000000000",
            "name": "12345678-910a-bcde-f000-000000000000",
            "eTag": "kd30rkdfo49=",
            "properties": {
                "displayName": "before prod",
                "gateType": "Approval",
                "state": "Pending",
                "target": {"id": f"{FLEET}/updateRuns/run-1", "updateRunProperties": where},
            },
        }
    )


def _key(name: str) -> str:
    return cluster_id(name).lower()


@pytest.mark.parametrize(
    ("gate", "held", "done"),
    [
        pytest.param(("stage-prod", "Before", None), ["prod-1", "prod-2"], [], id="before-stage"),
        pytest.param(("stage-prod", "Before", "green"), ["prod-2"], [], id="before-group"),
        pytest.param(
            ("stage-dev", "After", None), ["prod-1", "prod-2"], ["dev-1"], id="after-stage"
        ),
        pytest.param(
            ("stage-prod", "After", "blue"), [], ["prod-1"], id="after-last-stage's-group"
        ),
        pytest.param(("stage-gone", "Before", None), [], [], id="unknown-stage"),
    ],
)
def test_clusters_behind_a_gate_follow_its_timing(
    gate: tuple[str, str, str | None], held: list[str], done: list[str]
) -> None:
    waiting, checked = clusters_behind(_gate(*gate), _run())
    assert list(waiting) == [_key(name) for name in held]
    assert [m.name for m in checked] == done


def _members(history: History | None = None, **extra: Any) -> list[MemberFacts]:
    states = fleet(
        [cluster("prod-1", "prod", **extra), cluster("prod-2", "prod", **extra)]
    ).clusters
    return [MemberFacts(s.key, s, history or History()) for s in states]


def test_a_clear_gate_is_approved_with_the_reason() -> None:
    decision = decide_gate(_gate("stage-prod"), _run(), _members(), policy(), NOW)
    assert decision.approve
    assert "2 clusters behind it" in decision.reason
    assert "before stage stage-prod of update run run-1" in decision.reason


def test_a_firing_alert_on_the_ring_blocks_the_gate_naming_the_rule() -> None:
    pause = Pause("ring", "p99 latency over 2s", target="prod", by="alert:api-latency")
    decision = decide_gate(
        _gate("stage-prod"), _run(), _members(History(pauses=(pause,))), policy(), NOW
    )
    assert not decision.approve
    assert "prod-1: alert api-latency firing (ring paused): p99 latency over 2s" in decision.reason


def test_an_ended_pause_no_longer_blocks() -> None:
    pause = Pause("fleet", "change freeze", by="alice", until=NOW - dt.timedelta(minutes=1))
    decision = decide_gate(
        _gate("stage-prod"), _run(), _members(History(pauses=(pause,))), policy(), NOW
    )
    assert decision.approve


def test_a_freeze_blocks_the_gate() -> None:
    decision = decide_gate(_gate("stage-prod"), _run(), _members(), policy(), utc(2025, 12, 24))
    assert not decision.approve
    assert "inside freeze year-end freeze (2025-12-20 to 2026-01-04)" in decision.reason


def test_a_failure_in_the_ring_before_blocks_the_gate() -> None:
    staging = Tally(1, {}, {}, 1, {"x": "staging-1 failed 1.33.2: PDB blocked the drain"})
    history = History(gates={("staging", KUBERNETES): staging})
    decision = decide_gate(_gate("stage-prod"), _run(), _members(history), policy(), NOW)
    assert (
        "ring staging before it has 1 failed upgrades: staging-1 failed 1.33.2" in decision.reason
    )


def test_the_clusters_own_failed_upgrade_blocks_the_gate() -> None:
    failure = Failure(_key("prod-1"), None, "kubernetes", "1.33.2", NOW, "UpgradeFailed: quota")
    decision = decide_gate(
        _gate("stage-prod"), _run(), _members(History(failures=(failure,))), policy(), NOW
    )
    assert "prod-1: its upgrade to 1.33.2 failed" in decision.reason
    assert "prod-2" not in decision.reason


def test_a_failed_member_before_an_after_gate_blocks_it() -> None:
    decision = decide_gate(
        _gate("stage-dev", "After"), _run(failed="dev-1"), _members(), policy(), NOW
    )
    assert not decision.approve
    assert "dev-1 failed its update in this run (Failed)" in decision.reason


def test_a_cluster_patch_pilot_never_saw_blocks_the_gate() -> None:
    members = _members()[:1]
    decision = decide_gate(_gate("stage-prod"), _run(), members, policy(), NOW)
    assert decision.blocks == ("prod-2: Patch Pilot has not observed it yet (the next sweep does)",)


def test_a_cluster_outside_the_scopes_blocks_the_gate() -> None:
    narrow = policy(scopes=[f"/subscriptions/{SUB}/resourceGroups/other"])
    decision = decide_gate(_gate("stage-prod"), _run(), _members(), narrow, NOW)
    assert "outside the policy's scopes" in decision.reason


@pytest.mark.parametrize(
    ("now", "approve"),
    [
        pytest.param(utc(2026, 3, 7, 2), True, id="saturday-inside-window"),
        pytest.param(utc(2026, 3, 4, 12), False, id="wednesday-outside"),
    ],
)
def test_windows_count_only_when_the_policy_says_so(now: dt.datetime, approve: bool) -> None:
    counting = policy(fleet_gates={"fleets": [FLEET], "windows": True})
    decision = decide_gate(_gate("stage-prod"), _run("NodeImageOnly"), _members(), counting, now)
    assert decision.approve is approve
    if not approve:
        assert (
            "outside its allowed the policy's default_window window; it opens 2026-03-07T01:00:00Z"
            in (decision.reason)
        )
    assert decide_gate(_gate("stage-prod"), _run(), _members(), policy(), now).approve


def test_a_long_list_of_blocks_is_cut_and_counted() -> None:
    pause = Pause("fleet", "stop", by="alice")
    failure = Failure(_key("prod-1"), None, "kubernetes", "1.33.2", NOW, "boom")
    history = History(pauses=(pause,), failures=(failure,))
    decision = decide_gate(
        _gate("stage-prod"), _run(), _members(history), policy(), utc(2025, 12, 24)
    )
    assert len(decision.blocks) == 5
    assert decision.reason.endswith("; and 1 more")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        pytest.param({"fleets": ["/subscriptions/x"]}, "fleet_gates.fleets[0]", id="not-a-fleet"),
        pytest.param(
            {"fleets": [FLEET, FLEET.upper().replace("SUBSCRIPTIONS", "subscriptions")]},
            "listed twice",
            id="twice",
        ),
        pytest.param({"fleet": [FLEET]}, "unknown field", id="unknown-field"),
        pytest.param({"windows": "yes"}, "expected true or false", id="windows-not-a-flag"),
    ],
)
def test_bad_fleet_gates_sections_are_refused(section: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        policy(fleet_gates=section)
    assert message in str(caught.value)
    assert "test-policy.yaml" in str(caught.value)


def test_no_fleet_is_approved_by_default() -> None:
    assert not policy().fleet_gates.allows(parse_fleet_id(FLEET))
    listed = policy(
        fleet_gates={"fleets": [FLEET.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/")]}
    )
    assert listed.fleet_gates.allows(parse_fleet_id(FLEET))


@pytest.mark.parametrize(
    ("at", "lists"),
    [
        pytest.param("2026-03-02T09:00:00Z", True, id="the first firing of the hour"),
        pytest.param("2026-03-02T09:04:59Z", True, id="a late first firing"),
        pytest.param("2026-03-02T09:05:00Z", False, id="the second firing"),
        pytest.param("2026-03-02T09:55:00Z", False, id="the last firing"),
    ],
)
def test_the_follow_up_lists_pending_gates_once_an_hour(at: str, lists: bool) -> None:
    assert listing_due(dt.datetime.fromisoformat(at.replace("Z", "+00:00"))) is lists
