"""Hostile and broken requests: JSON errors with the right status, never a 500 or a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchpilot.adapters.store import StoreUnavailableError
from patchpilot.api.exchange import MAX_BODY_BYTES
from tests.integration.http_support import DEV, Api, running_api

POSTS = ("/api/upgrades", "/api/pauses", "/api/alerts")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(tmp_path) as running:
        yield running


@pytest.mark.parametrize("route", POSTS)
@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        pytest.param(b"", 400, "BadRequest", id="empty"),
        pytest.param(b"{", 400, "BadRequest", id="truncated"),
        pytest.param(b"\xff\xfe{}", 400, "BadRequest", id="not-utf8"),
        pytest.param(b'{"cluster": NaN}', 400, "BadRequest", id="nan"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, 400, "BadRequest", id="deep"),
        pytest.param(b"null", 400, "BadRequest", id="null"),
        pytest.param(b" " * (MAX_BODY_BYTES + 1), 413, "PayloadTooLarge", id="too-large"),
    ],
)
def test_unreadable_bodies_are_refused_with_json(
    api: Api, route: str, raw: bytes, status: int, code: str
) -> None:
    answer = api.call("POST", route, raw=raw)
    assert (answer.status, answer.code) == (status, code)
    assert api.app.services.store.list_pauses(api.app.clock.now()) == ()


def test_a_bug_answers_500_without_a_traceback(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals at /srv/app.py line 42")

    monkeypatch.setattr("patchpilot.service.operator.status.fleet_status", broken)
    response = api.app.host.http("GET", "/api/status")
    assert response.status_code == 500
    body = json.loads(response.get_body())
    assert body["error"]["code"] == "InternalError"
    assert "secret" not in response.get_body().decode()
    assert "Traceback" not in response.get_body().decode()


def test_a_store_outage_answers_503_with_retry_after(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailableError("the table service timed out", retry_after=30.0)

    monkeypatch.setattr(api.app.services.store, "list_pauses", down)
    answer = api.call("GET", "/api/pauses")
    assert (answer.status, answer.code) == (503, "Unavailable")
    assert answer.headers["Retry-After"] == "30"


def test_unknown_routes_and_methods_answer_json_404(api: Api) -> None:
    for method, path in (("GET", "/api/nope"), ("PUT", "/api/pauses"), ("GET", "/api/upgrades")):
        response = api.app.host.http(method, path)
        assert response.status_code == 404
        assert json.loads(response.get_body())["error"]["code"] == "NotFound"


def test_error_messages_name_the_field_without_echoing_huge_input(api: Api) -> None:
    answer = api.call("POST", "/api/upgrades", {"cluster": DEV, "kind": "k" * 10_000})
    assert (answer.status, answer.code) == (422, "InvalidValue")
    assert "kind" in answer.body["error"]["message"]
    assert len(answer.body["error"]["message"]) < 400


@pytest.mark.parametrize(
    "at",
    [
        pytest.param("9999-12-31T23:00:00-02:00", id="utc-form-past-year-9999"),
        pytest.param("0001-01-01T00:00:00+05:00", id="utc-form-before-year-1"),
        pytest.param("9999-12-31T23:00Z", id="too-late-to-look-ahead-from"),
        pytest.param("9999-12-31", id="a-date-too-late"),
    ],
)
def test_a_plan_at_an_instant_out_of_range_is_a_json_error_naming_at(api: Api, at: str) -> None:
    answer = api.call("GET", "/api/plan", params={"at": at})
    assert (answer.status, answer.code) == (422, "InvalidValue")
    assert answer.body["error"]["message"].startswith("at: must be between")


@pytest.mark.parametrize(
    "at",
    [
        pytest.param("1970-01-01T00:00Z", id="earliest"),
        pytest.param("8999-12-31T23:59:59Z", id="latest"),
    ],
)
def test_a_plan_at_either_end_of_the_range_is_computed(api: Api, at: str) -> None:
    answer = api.call("GET", "/api/plan", params={"at": at})
    assert answer.status == 200
    assert answer.body["at"][:4] == at[:4]


@pytest.mark.parametrize(
    "until",
    [
        pytest.param("9999-12-31T23:00:00-02:00", id="utc-form-past-year-9999"),
        pytest.param("9999-12-31T23:59Z", id="too-late"),
    ],
)
def test_a_pause_until_an_instant_out_of_range_is_refused_and_nothing_is_paused(
    api: Api, until: str
) -> None:
    body = {"scope": "fleet", "reason": "freeze", "until": until}
    answer = api.call("POST", "/api/pauses", body)
    assert (answer.status, answer.code) == (422, "InvalidValue")
    assert answer.body["error"]["message"].startswith("until: must be between")
    assert api.app.services.store.list_pauses(api.app.clock.now()) == ()


@pytest.mark.parametrize(
    ("route", "body"),
    [
        pytest.param("/api/upgrades", {"cluster": DEV.replace("rg-dev", "rg-dev\u212a")}, id="up"),
        pytest.param(
            "/api/pauses",
            {"scope": "cluster", "target": DEV.replace("dev-1", "\u212a-1"), "reason": "x"},
            id="pause",
        ),
    ],
)
def test_a_cluster_id_with_a_look_alike_letter_is_refused_naming_it(
    api: Api, route: str, body: dict[str, str]
) -> None:
    answer = api.call("POST", route, body)
    assert (answer.status, answer.code) == (422, "InvalidValue")
    assert "U+212A (KELVIN SIGN)" in answer.body["error"]["message"]
    assert api.app.services.store.list_pauses(api.app.clock.now()) == ()
    assert api.upgrade_calls() == 0
