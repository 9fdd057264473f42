"""ARM's front door as a raw HTTP client meets it: TLS, tokens, api-versions, paths."""

from __future__ import annotations

import urllib.parse
import uuid
from typing import Any

import pytest
import requests

from patchpilot.sim.server import SimulatorHandle
from tests.integration.conftest import SUB

CLUSTER = (
    f"/subscriptions/{SUB}/resourceGroups/rg-dev"
    "/providers/Microsoft.ContainerService/managedClusters/dev-1"
)
TOKEN = {"Authorization": "Bearer anything"}


def call(
    sim: SimulatorHandle, method: str, path: str, headers: dict[str, str] | None = None
) -> requests.Response:
    """One request over the simulator's TLS, trusting its CA."""
    return requests.request(
        method, sim.url + path, headers=headers, verify=str(sim.ca_path), timeout=10
    )


def error(response: requests.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


def test_a_request_without_a_token_gets_arms_401(sim: SimulatorHandle) -> None:
    response = call(sim, "GET", CLUSTER + "?api-version=2026-08-01")

    assert response.status_code == 401
    assert error(response)["code"] == "AuthenticationFailed"
    assert "Bearer" in response.headers["WWW-Authenticate"]
    assert sim.requests()[("ManagedClusters_Get", 401)] == 1


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        pytest.param("GET", CLUSTER, 400, "MissingApiVersionParameter", id="no api-version"),
        pytest.param(
            "GET",
            CLUSTER + "?api-version=2099-01-01",
            400,
            "NoRegisteredProviderFound",
            id="unknown api-version",
        ),
        pytest.param(
            "DELETE",
            CLUSTER + "?api-version=2026-08-01",
            405,
            "MethodNotAllowed",
            id="a method it does not serve",
        ),
        pytest.param(
            "GET",
            CLUSTER + "/snapshots?api-version=2026-08-01",
            400,
            "InvalidResourceType",
            id="an unknown resource type",
        ),
        pytest.param("GET", "/nothing/here", 404, "NotFound", id="a path outside ARM"),
        pytest.param(
            "GET",
            CLUSTER.upper().replace("SUBSCRIPTIONS", "subscriptions") + "?api-version=2026-08-01",
            200,
            None,
            id="paths compare without case",
        ),
    ],
)
def test_arm_front_door_answers(
    sim: SimulatorHandle, method: str, path: str, status: int, code: str | None
) -> None:
    response = call(sim, method, path, TOKEN)

    assert response.status_code == status
    if code is not None:
        assert error(response)["code"] == code


def test_a_body_that_is_not_json_is_arms_invalid_request_content(sim: SimulatorHandle) -> None:
    response = requests.put(
        sim.url + CLUSTER + "?api-version=2026-08-01",
        data=b"{not json",
        headers={**TOKEN, "Content-Type": "application/json"},
        verify=str(sim.ca_path),
        timeout=10,
    )

    assert response.status_code == 400
    assert error(response)["code"] == "InvalidRequestContent"


def test_long_running_answers_carry_absolute_status_and_result_urls(sim: SimulatorHandle) -> None:
    path = CLUSTER + "/agentPools/system/upgradeNodeImageVersion?api-version=2026-08-01"
    response = call(sim, "POST", path, TOKEN)
    status = requests.get(
        response.headers["Azure-AsyncOperation"], headers=TOKEN, verify=str(sim.ca_path), timeout=10
    )
    result = requests.get(
        response.headers["Location"], headers=TOKEN, verify=str(sim.ca_path), timeout=10
    )

    assert response.status_code == 202
    assert response.json()["properties"]["provisioningState"] == "UpgradingNodeImageVersion"
    assert response.headers["Azure-AsyncOperation"].startswith(
        f"{sim.url}/subscriptions/{SUB}/providers/"
    )
    assert response.headers["Retry-After"] == "0"
    body = status.json()
    operation_id = urllib.parse.urlsplit(response.headers["Azure-AsyncOperation"]).path
    operation_id = operation_id.rsplit("/", 1)[-1]
    # As recorded: no id, no percentComplete, the name a byte-swapped form of the URL's ID.
    assert set(body) == {"name", "status", "startTime"}
    assert (body["status"], body["startTime"]) == ("InProgress", "2025-11-20T01:00:00.0000000Z")
    assert uuid.UUID(bytes_le=uuid.UUID(body["name"]).bytes) == uuid.UUID(operation_id)
    assert body["name"] != operation_id
    assert result.status_code == 202
    assert result.headers["Location"] == response.headers["Location"]
