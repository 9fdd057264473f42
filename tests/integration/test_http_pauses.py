"""`POST /api/pauses`, `GET /api/pauses` and `DELETE /api/pauses/{id}` through the triggers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.http_support import (
    DEV,
    DEV2,
    LAB,
    PROD,
    Api,
    actor,
    cluster_id,
    person,
    running_api,
)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(tmp_path) as running:
        yield running


def reasons(api: Api, cluster: str) -> list[str]:
    plan = api.call("GET", "/api/plan").body
    return [a["reason"] for a in plan["actions"] if a["cluster"] == cluster]


@pytest.mark.parametrize(
    ("pause", "paused", "free"),
    [
        pytest.param({"scope": "fleet"}, [DEV, DEV2], [], id="fleet"),
        pytest.param({"scope": "ring", "target": "dev"}, [DEV, DEV2], [PROD], id="ring"),
        pytest.param({"scope": "cluster", "target": DEV.upper()}, [DEV], [DEV2], id="cluster"),
    ],
)
def test_a_pause_blocks_its_scope_and_names_who_asked(
    api: Api, pause: dict[str, Any], paused: list[str], free: list[str]
) -> None:
    who = person("carol@contoso.com", "stop")
    answer = api.call("POST", "/api/pauses", {**pause, "reason": "incident 7"}, headers=who)
    assert answer.status == 201
    carol = actor("carol@contoso.com", "stop")
    assert (answer.body["by"], answer.body["reason"]) == (carol, "incident 7")
    for cluster in paused:
        found = reasons(api, cluster)
        assert found
        assert all(r.startswith("blocked: ") for r in found)
        assert any(f"paused by {carol}: incident 7" in r for r in found)
    for cluster in free:
        assert not any("paused" in r for r in reasons(api, cluster))


def test_pauses_are_listed_and_deleting_one_resumes(api: Api) -> None:
    made = api.call("POST", "/api/pauses", {"scope": "ring", "target": "dev", "reason": "x"})
    listed = api.call("GET", "/api/pauses")
    assert [p["id"] for p in listed.body["pauses"]] == [made.body["id"]]
    deleted = api.call("DELETE", f"/api/pauses/{made.body['id']}")
    assert (deleted.status, deleted.body["deleted"]["id"]) == (200, made.body["id"])
    assert api.call("GET", "/api/pauses").body == {"pauses": []}
    again = api.call("DELETE", f"/api/pauses/{made.body['id']}")
    assert (again.status, again.code) == (404, "PauseNotFound")


def test_a_pause_with_an_expiry_ends_by_itself(api: Api) -> None:
    body = {"scope": "fleet", "reason": "change freeze", "until": "2025-11-22T03:00:00+01:00"}
    answer = api.call("POST", "/api/pauses", body)
    assert answer.body["until"] == "2025-11-22T02:00:00Z"
    later = api.call("GET", "/api/plan", params={"at": "2025-11-22T02:30Z"}).body
    assert not any("paused" in a["reason"] for a in later["actions"])


def test_an_idempotency_key_makes_a_retried_pause_one_pause(api: Api) -> None:
    key = {"Idempotency-Key": "pause-1"}
    body = {"scope": "ring", "target": "prod", "reason": "release night"}
    first = api.call("POST", "/api/pauses", body, headers=key)
    again = api.call("POST", "/api/pauses", body, headers=key)
    assert again.body == first.body
    assert len(api.call("GET", "/api/pauses").body["pauses"]) == 1


def refused(case: str, status: int, code: str, **body: Any) -> Any:
    """One row of the table below: a body and the answer it gets."""
    return pytest.param(body, status, code, id=case)


GHOST = cluster_id("ghost", "rg")
INVALID = "InvalidValue"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        refused("scope", 422, INVALID, scope="galaxy", reason="x"),
        refused("ring", 422, INVALID, scope="ring", target="qa", reason="x"),
        refused("no-target", 422, INVALID, scope="ring", reason="x"),
        refused("fleet-target", 422, INVALID, scope="fleet", target="x", reason="x"),
        refused("empty-reason", 422, INVALID, scope="fleet", reason=""),
        refused("long-reason", 422, INVALID, scope="fleet", reason="x" * 501),
        refused("past", 422, INVALID, scope="fleet", reason="x", until="2020-01-01"),
        refused("until", 422, INVALID, scope="fleet", reason="x", until="soon"),
        refused("bad-id", 422, INVALID, scope="cluster", target="x", reason="x"),
        refused("scope-out", 404, "ClusterNotInScope", scope="cluster", target=LAB, reason="x"),
        refused("unknown", 404, "ClusterNotFound", scope="cluster", target=GHOST, reason="x"),
        refused("no-reason", 400, "BadRequest", scope="fleet"),
        refused("scope-type", 400, "BadRequest", scope=3, reason="x"),
        refused("field", 400, "BadRequest", scope="fleet", reason="x", by="root"),
    ],
)
def test_bad_pauses_are_refused_and_store_nothing(
    api: Api, body: dict[str, Any], status: int, code: str
) -> None:
    answer = api.call("POST", "/api/pauses", body)
    assert (answer.status, answer.code) == (status, code)
    assert api.call("GET", "/api/pauses").body == {"pauses": []}


def test_deleting_an_unknown_pause_is_a_404(api: Api) -> None:
    for pause_id in ("0" * 32, "..%2F..", "x" * 300):
        answer = api.call("DELETE", f"/api/pauses/{pause_id}")
        assert (answer.status, answer.code) == (404, "PauseNotFound")
