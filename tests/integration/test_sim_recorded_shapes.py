"""The simulator answers as recorded real ARM traffic does (issue 15's divergences 2 to 6).

Each test names the divergence it pins. The recordings are the cassettes in
``shared/fixtures/arm-recordings`` (``tests/contract/test_sim_recordings.py``
compares the simulator with them call by call); these tests pin each
behaviour on its own, through raw HTTP where the shape matters and through
the real gateway where the app's tolerance does. Divergence 1 (a pool's
operation shows on the pool, the cluster stays ``Succeeded``) is pinned by
``test_sim_upgrades.py::test_node_image_upgrade_shows_on_the_pool_surges_drains_each_node_and_succeeds``.
"""

from __future__ import annotations

import copy
import datetime as dt
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from patchpilot.adapters.arm.catalog_cache import SweepCache
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.sim.clock import VirtualClock
from patchpilot.sim.faults import FaultPlan
from patchpilot.sim.handlers import RestSettings
from patchpilot.sim.pace import Pace
from patchpilot.sim.server import SimulatorHandle, run_simulator
from tests.integration.arm_support import fleet_with_skus, gateway_for
from tests.integration.conftest import START, STEP, advance, cluster_id, fleet_doc

TOKEN = {"Authorization": "Bearer anything"}
DEV = cluster_id("dev-1", "rg-dev")
API = "?api-version=2026-08-01"


def call(sim: SimulatorHandle, method: str, url: str, body: Any = None) -> requests.Response:
    """One request over the simulator's TLS; ``url`` is a path or a whole URL."""
    whole = url if url.startswith("https://") else sim.url + url
    return requests.request(
        method, whole, headers=TOKEN, json=body, verify=str(sim.ca_path), timeout=10
    )


def start_node_image(sim: SimulatorHandle) -> requests.Response:
    response = call(sim, "POST", f"{DEV}/agentPools/system/upgradeNodeImageVersion{API}")
    assert response.status_code == 202
    return response


def simulator(document: dict[str, Any], **options: Any) -> Any:
    pace = Pace(seconds_per_node=STEP.total_seconds(), retry_after_seconds=0)
    return run_simulator(document, clock=VirtualClock(START), pace=pace, **options)


@pytest.fixture
def plain() -> Iterator[SimulatorHandle]:
    with simulator(fleet_with_skus()) as handle:
        yield handle


# -- 2: signed operation URLs ---------------------------------------------------------------


def test_operation_urls_are_long_signed_urls_served_whole(plain: SimulatorHandle) -> None:
    response = start_node_image(plain)
    status_url = response.headers["Azure-AsyncOperation"]
    result_url = response.headers["Location"]

    for url in (status_url, result_url):
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        assert set(query) == {"api-version", "t", "c", "s", "h"}
        assert query["c"].startswith("MII")  # a DER certificate, base64url
        assert (len(query["s"]), len(query["h"])) == (342, 43)
        assert len(url) > 2500
    assert call(plain, "GET", status_url).json()["status"] == "InProgress"
    assert call(plain, "GET", result_url).status_code == 202
    assert plain.aks.polls() == [status_url, result_url]


@pytest.mark.parametrize(
    "alter",
    [
        pytest.param(lambda url: url[:200], id="cut at 200 characters"),
        pytest.param(lambda url: url.rsplit("&h=", 1)[0], id="without h"),
        pytest.param(lambda url: url.replace("&t=", "&t=1", 1), id="another instant"),
    ],
)
def test_an_altered_operation_url_is_not_served(plain: SimulatorHandle, alter: Any) -> None:
    url = start_node_image(plain).headers["Azure-AsyncOperation"]

    assert call(plain, "GET", alter(url)).status_code == 404
    assert call(plain, "GET", url).status_code == 200


def test_unsigned_operation_urls_remain_an_option_and_are_served() -> None:
    with simulator(fleet_with_skus(), settings=RestSettings(signed_operation_urls=False)) as sim:
        url = start_node_image(sim).headers["Azure-AsyncOperation"]
        answer = call(sim, "GET", url)

    assert urllib.parse.urlsplit(url).query == "api-version=2016-03-30"
    assert answer.status_code == 200


def test_the_gateway_keeps_and_polls_the_signed_url_whole(plain: SimulatorHandle) -> None:
    gateway = gateway_for(plain)
    started = gateway.upgrade_node_image(parse_cluster_id(DEV), "system")
    status = gateway.operation_status(started)  # type: ignore[arg-type]
    gateway.close()
    (operation,) = plain.aks.operations()

    assert started.status_url == operation.status_url  # type: ignore[union-attr]
    assert status.status == "InProgress"
    assert plain.aks.polls() == [operation.status_url]


# -- 3: operation status bodies ---------------------------------------------------------------


def test_status_bodies_have_no_id_nor_percent_and_a_byte_swapped_name(
    plain: SimulatorHandle,
) -> None:
    response = start_node_image(plain)
    url = response.headers["Azure-AsyncOperation"]
    running = call(plain, "GET", url).json()
    advance(plain, dt.timedelta(hours=2))
    done = call(plain, "GET", url).json()
    operation_id = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]

    assert set(running) == {"name", "status", "startTime"}
    assert set(done) == {"name", "status", "startTime", "endTime"}
    assert running["name"] == done["name"] == str(uuid.UUID(bytes=uuid.UUID(operation_id).bytes_le))
    assert done["status"] == "Succeeded"


@pytest.mark.parametrize("statuses", [{"InProgress"}, {"Succeeded"}, {"InProgress", "Succeeded"}])
def test_a_status_body_may_carry_an_error_that_does_not_end_the_operation(
    statuses: set[str],
) -> None:
    faults = FaultPlan(status_errors=frozenset(statuses))
    with simulator(fleet_with_skus(), faults=faults) as sim:
        gateway = gateway_for(sim)
        started = gateway.upgrade_node_image(parse_cluster_id(DEV), "system")
        url = started.status_url  # type: ignore[union-attr]
        running, first = call(sim, "GET", url).json(), gateway.operation_status(started)  # type: ignore[arg-type]
        advance(sim, dt.timedelta(hours=2))
        done, last = call(sim, "GET", url).json(), gateway.operation_status(started)  # type: ignore[arg-type]
        gateway.close()

    for body in (running, done):
        has_error = body["status"] in statuses
        assert ("error" in body) is has_error
        if has_error:
            assert body["error"]["code"] == "NotLatestOperation"
    assert (first.status, first.done, last.status, last.done) == (
        "InProgress",
        False,
        "Succeeded",
        True,
    )


def test_an_unknown_status_error_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="status_errors"):
        FaultPlan(status_errors=frozenset({"Failed"}))


# -- 4: a pool PUT to its own version -----------------------------------------------------------


def test_a_pool_put_to_the_version_it_runs_starts_a_short_updating_operation(
    plain: SimulatorHandle,
) -> None:
    pool_url = f"{DEV}/agentPools/system{API}"
    body = call(plain, "GET", pool_url).json()
    answer = call(plain, "PUT", pool_url, {"properties": body["properties"]})
    busy = call(plain, "POST", f"{DEV}/agentPools/win22/upgradeNodeImageVersion{API}")
    advance(plain, dt.timedelta(seconds=6))
    status = call(plain, "GET", answer.headers["Azure-AsyncOperation"]).json()
    after = call(plain, "GET", pool_url).json()["properties"]

    assert answer.status_code == 200
    assert answer.json()["properties"]["provisioningState"] == "Updating"
    assert "Location" not in answer.headers
    assert busy.status_code == 409
    assert status["status"] == "Succeeded"
    assert (status["endTime"], after["provisioningState"]) == (
        "2025-11-20T01:00:06.0000000Z",
        "Succeeded",
    )
    assert after["currentOrchestratorVersion"] == body["properties"]["currentOrchestratorVersion"]


# -- 5: abort, channels, older shapes, the 409 --------------------------------------------------


def test_the_abort_answers_202_with_the_cluster_and_ends_it_canceled(
    plain: SimulatorHandle,
) -> None:
    cluster_url = DEV + API
    body = call(plain, "GET", cluster_url).json()
    body["properties"]["kubernetesVersion"] = "1.33.2"
    call(plain, "PUT", cluster_url, body)
    abort = call(plain, "POST", f"{DEV}/abort{API}")
    status_url, result_url = abort.headers["Azure-AsyncOperation"], abort.headers["Location"]
    first = call(plain, "GET", status_url).json()["status"]
    advance(plain, dt.timedelta(seconds=6))
    last = call(plain, "GET", status_url).json()["status"]
    result = call(plain, "GET", result_url)
    after = call(plain, "GET", cluster_url).json()["properties"]

    assert abort.status_code == 202
    assert abort.json()["id"].lower() == DEV.lower()
    assert abort.json()["properties"]["provisioningState"] == "Upgrading"  # as it stood
    assert (first, last) == ("InProgress", "Succeeded")
    assert (result.status_code, result.headers["Location"]) == (204, result_url)
    assert after["provisioningState"] == "Canceled"
    assert "status" not in after


def test_a_channel_that_is_off_is_absent_not_none(plain: SimulatorHandle) -> None:
    off = call(plain, "GET", DEV + API).json()["properties"]["autoUpgradeProfile"]
    on = call(plain, "GET", cluster_id("prod-2", "rg-prod") + API).json()["properties"]

    assert off == {"nodeOSUpgradeChannel": "None"}
    assert on["autoUpgradeProfile"] == {
        "upgradeChannel": "stable",
        "nodeOSUpgradeChannel": "NodeImage",
    }


def shaped(shape: str) -> dict[str, Any]:
    document = copy.deepcopy(fleet_doc())
    document["clusters"][0]["arm_shape"] = shape
    return document


@pytest.mark.parametrize(
    ("shape", "absent"),
    [
        pytest.param(
            "2021-10-01",
            {"currentKubernetesVersion", "currentOrchestratorVersion", "autoUpgradeProfile"},
            id="2021-10-01",
        ),
        pytest.param(
            "2020-11-01",
            {
                "currentKubernetesVersion",
                "currentOrchestratorVersion",
                "autoUpgradeProfile",
                "osSKU",
            },
            id="2020-11-01",
        ),
    ],
)
def test_a_cluster_in_an_older_api_shape_lacks_current_fields_and_the_gateway_reads_it(
    shape: str, absent: set[str]
) -> None:
    with simulator(shaped(shape)) as sim:
        properties = call(sim, "GET", DEV + API).json()["properties"]
        pool = call(sim, "GET", f"{DEV}/agentPools/system{API}").json()["properties"]
        gateway = gateway_for(sim)
        observed = gateway.observe(parse_cluster_id(DEV), SweepCache())
        gateway.close()
    served = set(properties) | set(properties["agentPoolProfiles"][0]) | set(pool)

    assert not absent & served
    assert str(observed.state.kubernetes_version) == "1.32.6"
    assert {p.name: str(p.version) for p in observed.state.pools} == {
        "system": "1.32.6",
        "win22": "1.32.6",
    }


def test_an_unknown_arm_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="arm_shape"), simulator(shaped("2019-01-01")):
        pass


def test_a_busy_cluster_answers_409_in_arms_cloud_error_form(plain: SimulatorHandle) -> None:
    start_node_image(plain)
    busy = call(plain, "POST", f"{DEV}/agentPools/win22/upgradeNodeImageVersion{API}")

    assert busy.status_code == 409
    assert set(busy.json()) == {"error"}
    error = busy.json()["error"]
    assert set(error) == {"code", "message"}
    assert error["code"] == "OperationNotAllowed"
    assert error["message"].startswith("Operation is not allowed because there's an in progress")


def test_arms_own_404_says_the_gateway_answered(plain: SimulatorHandle) -> None:
    missing = call(plain, "GET", cluster_id("nowhere", "rg-dev") + API)

    assert missing.status_code == 404
    assert missing.headers["x-ms-failure-cause"] == "gateway"
    assert missing.json()["error"]["code"] == "ResourceNotFound"


# -- 6: unknown enum values on GA versions -------------------------------------------------------


def test_a_machines_mode_pool_is_served_and_the_gateway_leaves_it_alone() -> None:
    document = copy.deepcopy(fleet_with_skus())
    document["clusters"][0]["pools"][1]["arm_properties"] = {"mode": "Machines"}
    with simulator(document) as sim:
        served = call(sim, "GET", f"{DEV}/agentPools/win22{API}").json()["properties"]["mode"]
        gateway = gateway_for(sim)
        observed = gateway.observe(parse_cluster_id(DEV), SweepCache())
        gateway.close()

    assert served == "Machines"
    assert [p.name for p in observed.state.pools] == ["system"]
    assert [p.name for p in observed.state.unmanaged] == ["win22"]
