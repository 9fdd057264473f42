"""Who may do what, over real HTTP: `patchpilot serve` with its tokens per role and the alert's key.

Each refusal of issue 17's point 4 is tried against the local API as Azure
would see it (App Service authentication on: a bearer token per role; off:
a host key, identity headers ignored), and each leaves the state unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from patchpilot.api.principal import encode_principal
from patchpilot.domain.policy import parse_policy
from patchpilot.serve import LocalApi, serving
from patchpilot.serve.credentials import local_person
from patchpilot.sim.clock import VirtualClock
from tests.integration.http_support import DEV, START, Answer, alert, fleet_doc, policy_doc
from tests.integration.test_http_serve import send

PAUSE = {"scope": "cluster", "target": DEV, "reason": "incident 9"}
FORCED = {"cluster": DEV, "version": "1.33.2", "force": True, "reason": "CVE-2025-9"}


def serve(tmp_path: Path, auth: str) -> Any:
    return serving(
        parse_policy(policy_doc()),
        fleet=fleet_doc(),
        state=tmp_path,
        source=VirtualClock(START),
        auth=auth,  # type: ignore[arg-type]
        pump_seconds=None,
    )


@pytest.fixture
def api(tmp_path: Path) -> Iterator[LocalApi]:
    with serve(tmp_path, "entra") as running:
        yield running


@pytest.fixture
def keys_api(tmp_path: Path) -> Iterator[LocalApi]:
    with serve(tmp_path, "keys") as running:
        yield running


def bearer(api: LocalApi, role: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.credentials.tokens[role]}", **extra}  # type: ignore[index]


def alert_key(api: LocalApi) -> dict[str, str]:
    return {"x-functions-key": api.credentials.alert_key}


def post(api: LocalApi, path: str, body: object, headers: Mapping[str, str]) -> Answer:
    return send(api, "POST", path, json.dumps(body).encode(), headers)


def pauses(api: LocalApi) -> list[str]:
    return [p.by for p in api.services.store.list_pauses(api.clock.now())]


def upgrades(api: LocalApi) -> int:
    return len(api.services.store.list_operations())


def test_the_alert_key_cannot_force_resume_or_read_posture(api: LocalApi) -> None:
    fired = post(api, "/api/alerts", alert(targets=(DEV,)), alert_key(api))
    assert (fired.status, fired.body["verdict"]) == (200, "paused")
    pause_id = fired.body["pauses"][0]["id"]

    refused = {
        "force": post(api, "/api/upgrades", FORCED, alert_key(api)),
        "resume": send(api, "DELETE", f"/api/pauses/{pause_id}", headers=alert_key(api)),
        "status": send(api, "GET", "/api/status", headers=alert_key(api)),
        "plan": send(api, "GET", "/api/plan", headers=alert_key(api)),
        "query-key": send(api, "GET", f"/api/status?code={api.credentials.alert_key}"),
    }

    assert {what: a.status for what, a in refused.items()} == dict.fromkeys(refused, 401)
    assert pauses(api) == ["alert:aks-node-not-ready"]
    assert upgrades(api) == 0


def test_the_alert_key_opens_only_the_alert_function_without_authentication_too(
    keys_api: LocalApi,
) -> None:
    key = alert_key(keys_api)
    assert post(keys_api, "/api/upgrades", FORCED, key).status == 401
    assert send(keys_api, "GET", "/api/status", headers=key).status == 401
    assert post(keys_api, "/api/pauses", PAUSE, key).status == 401
    assert post(keys_api, "/api/alerts", alert(targets=(DEV,)), key).status == 200


@pytest.mark.parametrize(
    ("role", "asked", "needed"),
    [
        pytest.param("read", ("POST", "/api/pauses", PAUSE), "stop", id="reader-cannot-pause"),
        pytest.param("stop", ("DELETE", "/api/pauses/{id}", None), "operate", id="stop-no-resume"),
        pytest.param("stop", ("POST", "/api/upgrades", FORCED), "operate", id="stop-no-upgrade"),
        pytest.param("operate", ("POST", "/api/upgrades", FORCED), "force", id="operate-no-force"),
    ],
)
def test_a_token_without_the_role_is_a_403_naming_it_and_changes_nothing(
    api: LocalApi, role: str, asked: tuple[str, str, object], needed: str
) -> None:
    made = post(api, "/api/pauses", {**PAUSE, "reason": "kept"}, bearer(api, "stop"))
    assert made.status == 201
    method, path, body = asked
    data = b"" if body is None else json.dumps(body).encode()

    answer = send(api, method, path.format(id=made.body["id"]), data, bearer(api, role))

    assert (answer.status, answer.code) == (403, "Forbidden")
    assert f"the {needed} role" in answer.body["error"]["message"]
    assert len(pauses(api)) == 1
    assert upgrades(api) == 0


def test_a_persons_token_does_not_open_the_alert_webhook(api: LocalApi) -> None:
    answer = post(api, "/api/alerts", alert(targets=(DEV,)), bearer(api, "force"))
    assert answer.status == 401
    assert pauses(api) == []


def test_each_role_does_what_it_may_and_the_records_name_who_and_the_role(api: LocalApi) -> None:
    assert send(api, "GET", "/api/status", headers=bearer(api, "read")).status == 200
    made = post(api, "/api/pauses", PAUSE, bearer(api, "stop"))
    stopper = local_person("stop")
    assert made.body["by"] == f"entra:{stopper.object_id} {stopper.name} (stop)"
    resumed = send(api, "DELETE", f"/api/pauses/{made.body['id']}", headers=bearer(api, "operate"))
    assert resumed.status == 200
    forced = post(api, "/api/upgrades", FORCED, bearer(api, "force"))
    assert (forced.status, forced.body["outcome"], forced.body["forced"]) == (202, "started", True)
    forcer = local_person("force")
    assert forced.body["requested_by"] == f"entra:{forcer.object_id} {forcer.name} (force)"
    (record,) = api.services.store.list_operations()
    assert (record.actor, record.reason) == (forced.body["requested_by"], "CVE-2025-9")


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"Authorization": "Bearer not-a-token"}, id="wrong-token"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="not-bearer"),
        pytest.param({"x-functions-key": "anything"}, id="a-key-is-no-token"),
    ],
)
def test_a_missing_or_wrong_token_is_a_401_and_changes_nothing(
    api: LocalApi, headers: dict[str, str]
) -> None:
    for method, path, body in (("POST", "/api/pauses", PAUSE), ("POST", "/api/upgrades", FORCED)):
        answer = send(api, method, path, json.dumps(body).encode(), headers)
        assert (answer.status, answer.code) == (401, "Unauthorized")
    assert send(api, "GET", "/api/status", headers=headers).status == 401
    assert pauses(api) == []
    assert upgrades(api) == 0


def spoofed(name: str = "ceo@contoso.com") -> dict[str, str]:
    """A principal header claiming every role, as an attacker would write one."""
    roles = ("PatchPilot.Force", "PatchPilot.Operate", "PatchPilot.Alert")
    return {
        "X-MS-CLIENT-PRINCIPAL": encode_principal(name, "oid-ceo", roles),
        "X-MS-CLIENT-PRINCIPAL-NAME": name,
    }


def test_a_spoofed_principal_is_ignored_without_app_service_authentication(
    keys_api: LocalApi,
) -> None:
    key = {"x-functions-key": keys_api.key, **spoofed("alert:prod-5xx")}
    made = post(keys_api, "/api/pauses", PAUSE, key)
    forced = post(keys_api, "/api/upgrades", FORCED, key)

    assert made.body["by"] == "function key: api_add_pause (stop)"
    assert (forced.status, forced.code) == (403, "Forbidden")
    assert "force role" in forced.body["error"]["message"]
    assert upgrades(keys_api) == 0


def test_a_spoofed_principal_is_replaced_by_the_platforms_with_authentication(
    api: LocalApi,
) -> None:
    forced = post(api, "/api/upgrades", FORCED, bearer(api, "stop", **spoofed()))
    made = post(api, "/api/pauses", PAUSE, bearer(api, "stop", **spoofed()))

    assert (forced.status, forced.code) == (403, "Forbidden")
    assert "ceo" not in made.body["by"]
    assert made.body["by"].endswith(f"{local_person('stop').name} (stop)")


def test_an_idempotency_key_belongs_to_its_caller(api: LocalApi) -> None:
    key = {"Idempotency-Key": "shared-1"}
    first = post(api, "/api/pauses", PAUSE, bearer(api, "stop", **key))
    again = post(api, "/api/pauses", PAUSE, bearer(api, "stop", **key))
    other = post(api, "/api/pauses", PAUSE, bearer(api, "operate", **key))

    assert (first.status, again.body["id"]) == (201, first.body["id"])
    assert (other.status, other.code) == (422, "IdempotencyKeyReused")
    assert first.body["id"] not in json.dumps(other.body)
    assert len(pauses(api)) == 1


def test_an_alert_lifts_only_the_pause_its_own_instance_added(api: LocalApi) -> None:
    mine = post(api, "/api/alerts", alert(targets=(DEV,), alert_id="instance-a"), alert_key(api))
    person = post(api, "/api/pauses", PAUSE, bearer(api, "stop"))
    other = alert(targets=(DEV,), alert_id="instance-b", condition="Resolved")
    resolved_other = post(api, "/api/alerts", other, alert_key(api))
    own = alert(targets=(DEV,), alert_id="instance-a", condition="Resolved")
    resolved_own = post(api, "/api/alerts", own, alert_key(api))

    assert mine.body["verdict"] == "paused"
    assert resolved_other.body["verdict"] == "nothing_to_lift"
    assert resolved_own.body["verdict"] == "resumed"
    assert [p.id for p in api.services.store.list_pauses(api.clock.now())] == [person.body["id"]]


def test_the_tokens_are_written_for_the_client_readable_by_the_user_only(
    api: LocalApi, tmp_path: Path
) -> None:
    from patchpilot.serve.credentials import write_tokens

    written = write_tokens(api.credentials, tmp_path / "tokens")

    assert set(written) == {"read", "stop", "operate", "force"}
    assert written["read"].read_text().strip() == api.credentials.tokens["read"]
    assert written["read"].stat().st_mode & 0o077 == 0
