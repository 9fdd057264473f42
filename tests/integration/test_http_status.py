"""`GET /api/status`, `/api/plan` and `/api/openapi.json` through the registered triggers."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import function_app
from bench.state_scale import counted
from patchpilot.domain.critical_path import with_paths
from patchpilot.domain.history import History
from patchpilot.domain.plan import Plan
from patchpilot.domain.planner import plan
from patchpilot.localhost.host import registered_functions
from patchpilot.service.snapshots import load_fleet_snapshot
from patchpilot.sim.faults import AksWork, FaultPlan
from tests.factories import cluster_id
from tests.integration.http_support import (
    DEV,
    DEV2,
    DOCUMENT,
    LAB,
    PROD,
    STAGING,
    START,
    Api,
    operation_of,
    running_api,
)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(tmp_path) as running:
        yield running


def test_status_lists_every_cluster_in_scope_with_its_ring_pools_and_next_action(api: Api) -> None:
    answer = api.call("GET", "/api/status")
    assert answer.status == 200
    clusters = {c["name"]: c for c in answer.body["clusters"]}
    assert set(clusters) == {"dev-1", "dev-2", "stg-1", "prod-1"}  # lab-1 is outside the scopes
    dev = clusters["dev-1"]
    assert dev["ring"] == "dev"
    assert dev["kubernetes_version"] == "1.32.6"
    pools = {p["name"]: p for p in dev["pools"]}
    assert pools["win22"]["os"] == "Windows"
    assert pools["system"]["node_image_built"] == "2025-11-03"
    assert pools["system"]["patch_age_days"] == 19  # 2025-11-03 to 2025-11-22
    assert dev["next_action"]["status"] == "due"
    assert dev["next_action"]["window_end"] == "2025-11-22T07:00:00Z"
    assert answer.body["poison_messages"] == 0
    assert {f["code"] for f in dev["posture"]} >= {"api_server_public"}


def test_status_shows_the_last_operation_of_a_pool_with_who_started_it(api: Api) -> None:
    body = {"cluster": DEV, "pool": "system", "kind": "node_image", "reason": "CVE-2025-1"}
    assert api.call("POST", "/api/upgrades", body).status == 202
    answer = api.call("GET", "/api/status", params={"cluster": "dev-1"})
    (dev,) = answer.body["clusters"]
    system = next(p for p in dev["pools"] if p["name"] == "system")
    last = system["last_operation"]
    assert (last["kind"], last["state"], last["actor"], last["reason"]) == (
        "node_image",
        "started",
        "function key: api_upgrade (operate)",
        "CVE-2025-1",
    )


def test_status_tells_each_rings_critical_path_and_filters_it_by_ring(api: Api) -> None:
    everything = api.call("GET", "/api/status").body["critical_path"]
    prod = api.call("GET", "/api/status", params={"ring": "prod"}).body["critical_path"]

    assert {p["ring"] for p in everything} == {"dev", "staging", "prod"}
    assert prod == [p for p in everything if p["ring"] == "prod"]
    # dev is due now; staging soaks two days and starts in its Saturday window; prod waits
    # for that (stg-1 on its path) plus its own five days and window.
    (image,) = [p for p in prod if p["subject"].startswith("AKSUbuntu")]
    assert image["earliest"] == "2025-12-06T01:00:00Z"
    assert [(s["cluster"], s["reaches"]) for s in image["on_path"]] == [
        (cluster_id("stg-1", "rg-stg"), "2025-11-29T01:00:00Z")
    ]


@pytest.mark.parametrize(
    ("params", "names"),
    [
        pytest.param({"ring": "prod"}, {"prod-1"}, id="ring"),
        pytest.param({"cluster": PROD}, {"prod-1"}, id="cluster-id"),
        pytest.param(
            {"cluster": PROD.upper().replace("SUBSCRIPTIONS", "subscriptions")},
            {"prod-1"},
            id="id-any-case",
        ),
        pytest.param({"cluster": "dev-2"}, {"dev-2"}, id="cluster-name"),
        pytest.param({"ring": "dev", "cluster": "prod-1"}, set(), id="both-filters"),
    ],
)
def test_status_filters_by_ring_and_cluster(
    api: Api, params: dict[str, str], names: set[str]
) -> None:
    answer = api.call("GET", "/api/status", params=params)
    assert answer.status == 200
    assert {c["name"] for c in answer.body["clusters"]} == names


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        pytest.param({"ring": "qa"}, 422, "InvalidValue", id="unknown-ring"),
        pytest.param({"cluster": "nope-1"}, 404, "ClusterNotFound", id="unknown-name"),
        pytest.param({"cluster": LAB}, 404, "ClusterNotInScope", id="outside-scopes"),
        pytest.param({"cluster": "/subscriptions/x/../../etc"}, 422, "InvalidValue", id="bad-id"),
        pytest.param({"cluster": "x" * 5000}, 400, "BadRequest", id="too-long"),
    ],
)
def test_status_refuses_unknown_filters_with_json_errors(
    api: Api, params: dict[str, str], status: int, code: str
) -> None:
    answer = api.call("GET", "/api/status", params=params)
    assert (answer.status, answer.code) == (status, code)


def test_plan_is_the_planners_answer_over_the_stored_fleet(api: Api) -> None:
    answer = api.call("GET", "/api/plan", params={"at": "2025-11-22T02:00Z"})
    assert answer.status == 200
    fleet = load_fleet_snapshot(api.app.services.store)
    at = START.replace(hour=2, minute=0)
    policy = api.app.services.policy
    expected: Plan = with_paths(plan(fleet, policy, History(), at), fleet, policy)
    assert answer.body == json.loads(json.dumps(expected.to_json()))
    assert answer.body["critical_path"], "the stored fleet has rings waiting for dev"
    assert answer.body["at"] == "2025-11-22T02:00:00Z"


def test_plan_defaults_to_now_and_refuses_a_bad_instant(api: Api) -> None:
    assert api.call("GET", "/api/plan").body["at"] == "2025-11-22T01:30:00Z"
    refused = api.call("GET", "/api/plan", params={"at": "next tuesday"})
    assert (refused.status, refused.code) == (422, "InvalidValue")


def test_openapi_document_describes_every_registered_route(api: Api) -> None:
    answer = api.call("GET", "/api/openapi.json")
    assert answer.status == 200
    assert answer.body == DOCUMENT
    http = [
        f
        for f in registered_functions(function_app.app).values()
        if f.trigger_type == "httpTrigger"
    ]
    for function in http:
        route = "/api/" + str(function.trigger["route"]).replace("{id}", "x")
        for method in function.trigger["methods"]:
            assert operation_of(str(method), route)
            assert function.trigger["authLevel"].lower() == "function"
    documented = sum(len(item) for item in DOCUMENT["paths"].values())
    assert documented == sum(len(f.trigger["methods"]) for f in http)


# AKS's own node OS work on dev-1, starting half an hour into the Saturday window dev-1's
# due start sits in (its 7-days-ahead word was said a week ago).
AKS_WORK_START = START + dt.timedelta(minutes=30)


def _announce(api: Api, *clusters: str) -> None:
    """AKS Communication Manager announces node OS work on each cluster; the host delivers it."""
    works = tuple(AksWork(c, AKS_WORK_START, 2, "NodeOSUpgrade") for c in clusters)
    api.app.sim.aks.set_faults(FaultPlan(aks_maintenance=works))
    # Two words each by now: 7 days and 24 hours ahead (a cluster announced before: none).
    api.app.deliver_pending_events()
    assert {e["cluster"] for e in api.call("GET", "/api/status").body["aks_maintenance"]} >= set(
        clusters
    )


def test_status_shows_aks_announced_work_and_plans_around_it_as_the_reconcile_does(
    api: Api,
) -> None:
    _announce(api, DEV)

    status = api.call("GET", "/api/status").body
    planned = api.call("GET", "/api/plan").body

    (entry,) = status["aks_maintenance"]
    assert (entry["cluster"], entry["upgrade_type"], entry["status"]) == (
        DEV,
        "NodeOSUpgrade",
        "Scheduled",
    )
    # No window of dev-1's own for node OS work: 24 hours, kept clear 4 hours before, 1 after.
    assert (entry["start"], entry["end"]) == ("2025-11-22T02:00:00Z", "2025-11-23T02:00:00Z")
    assert entry["holds"] is True
    assert (entry["no_start_from"], entry["no_start_until"]) == (
        "2025-11-21T22:00:00Z",
        "2025-11-23T03:00:00Z",
    )
    (dev,) = [c for c in status["clusters"] if c["id"] == DEV]
    # Due without the announcement (test_status_lists_every_cluster...); now the next window.
    assert dev["next_action"]["status"] == "scheduled"
    assert dev["next_action"]["not_before"] == "2025-11-29T01:00:00Z"
    for actions in (dev["actions"], [a for a in planned["actions"] if a["cluster"] == DEV]):
        assert actions
        assert all("AKS announced its own NodeOSUpgrade maintenance on dev-1" in a["reason"]
                   for a in actions if a["status"] == "scheduled")  # fmt: skip
        assert not [a for a in actions if a["status"] == "due"]
    others = [a for a in planned["actions"] if a["cluster"] == DEV2]
    assert any(a["status"] == "due" for a in others)  # dev-2 has no announcement


@pytest.mark.parametrize(
    ("params", "clusters"),
    [
        pytest.param({"ring": "dev"}, {DEV, DEV2}, id="ring"),
        pytest.param({"cluster": "prod-1"}, {PROD}, id="cluster"),
        pytest.param({"ring": "dev", "cluster": "prod-1"}, set(), id="both"),
    ],
)
def test_status_cuts_aks_maintenance_by_the_same_filters_as_the_clusters(
    api: Api, params: dict[str, str], clusters: set[str]
) -> None:
    _announce(api, DEV, DEV2, PROD)

    entries = api.call("GET", "/api/status", params=params).body["aks_maintenance"]

    assert {e["cluster"] for e in entries} == clusters


def test_status_reads_the_same_rows_whatever_the_number_of_announcing_clusters(
    api: Api,
) -> None:
    counting, _ = counted(api.app)

    def status_requests() -> int:
        before = counting.tally.copy()
        api.call("GET", "/api/status")
        return counting.tally.since(before).requests

    _announce(api, DEV)
    one = status_requests()
    _announce(api, DEV, DEV2, STAGING, PROD)
    four = status_requests()

    assert len(api.call("GET", "/api/status").body["aks_maintenance"]) == 4
    assert four == one
