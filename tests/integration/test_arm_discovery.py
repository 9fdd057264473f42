"""Fleet discovery: one paged Resource Graph query, cut to the scopes; a static list as fallback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.core.exceptions import AzureError
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from patchpilot.adapters.arm.client import ArmClients
from patchpilot.adapters.arm.errors import translate
from patchpilot.adapters.arm.retry import RetryPolicy
from patchpilot.adapters.discovery import (
    FULL_COLUMNS,
    QUERY,
    ResourceGraphDiscovery,
    StaticDiscovery,
    discovery_from,
    graph_page,
    subscriptions_of,
)
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.errors import PermanentError
from patchpilot.sim.faults import FaultPlan
from patchpilot.sim.handlers import RestSettings
from patchpilot.sim.server import SimulatorHandle, run_simulator
from tests.integration.arm_support import (
    SCOPE,
    fast_retry,
    fleet_with_skus,
    served,
    settings_for,
)
from tests.integration.conftest import LAB_SUB, SUB, cluster_id

PROD_GROUP = f"{SCOPE}/resourceGroups/rg-prod"
LAB = f"/subscriptions/{LAB_SUB}"


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    """The shared fleet, Resource Graph answering one row per page."""
    with run_simulator(fleet_with_skus(), settings=RestSettings(graph_page_size=1)) as handle:
        yield handle


@pytest.fixture
def clients(sim: SimulatorHandle) -> Iterator[ArmClients]:
    """SDK clients on the simulator."""
    clients = ArmClients(settings_for(sim))
    yield clients
    clients.close()


def test_resource_graph_pages_through_the_fleet_and_keeps_to_the_scopes(
    sim: SimulatorHandle, clients: ArmClients
) -> None:
    found = ResourceGraphDiscovery(clients).clusters((PROD_GROUP, LAB))

    assert [str(c) for c in found] == [
        cluster_id("prod-1", "rg-prod"),
        cluster_id("prod-2", "rg-prod"),
        cluster_id("lab-1", "rg-lab", LAB_SUB),
    ]
    # Four clusters in the two subscriptions, one per page; rg-dev's is cut here.
    assert served(sim, "Resources", 200) == 4


def test_resource_graph_is_asked_only_about_the_scopes_subscriptions(
    sim: SimulatorHandle, clients: ArmClients
) -> None:
    found = ResourceGraphDiscovery(clients).clusters((SCOPE,))

    assert {c.subscription for c in found} == {SUB}
    assert len(found) == served(sim, "Resources") == 3


def test_resource_graph_is_retried_under_throttling(
    sim: SimulatorHandle, clients: ArmClients
) -> None:
    sleeps: list[float] = []

    def heal(seconds: float) -> None:
        sleeps.append(seconds)
        sim.set_faults(FaultPlan())

    sim.set_faults(FaultPlan(throttle_rate=1.0, retry_after_seconds=3))
    found = ResourceGraphDiscovery(clients, retry=fast_retry(sleep=heal)).clusters((LAB,))

    assert [c.name for c in found] == ["lab-1"]
    assert (sleeps, served(sim, "Resources", 429)) == ([3.0], 1)


def test_no_scopes_means_no_query(sim: SimulatorHandle, clients: ArmClients) -> None:
    assert ResourceGraphDiscovery(clients).clusters(()) == ()
    assert served(sim, "Resources") == 0


def test_a_static_list_is_cut_to_the_scopes_and_lists_each_cluster_once() -> None:
    listed = [
        parse_cluster_id(cluster_id("prod-1", "rg-prod")),
        parse_cluster_id(cluster_id("dev-1", "rg-dev")),
        parse_cluster_id(cluster_id("PROD-1", "RG-PROD")),
        parse_cluster_id(cluster_id("lab-1", "rg-lab", LAB_SUB)),
    ]

    found = StaticDiscovery(listed).clusters((PROD_GROUP, LAB))

    assert [c.name for c in found] == ["prod-1", "lab-1"]


def test_settings_choose_the_discovery(sim: SimulatorHandle) -> None:
    static = settings_for(
        sim,
        PATCHPILOT_DISCOVERY="static",
        PATCHPILOT_STATIC_CLUSTERS=cluster_id("dev-1", "rg-dev"),
    )
    clients = ArmClients(static)

    assert isinstance(discovery_from(static, clients), StaticDiscovery)
    assert isinstance(discovery_from(settings_for(sim), clients), ResourceGraphDiscovery)
    assert subscriptions_of((SCOPE, PROD_GROUP, LAB.upper())) == (SUB, LAB_SUB)


def _query(text: str, token: str | None = None) -> QueryRequest:
    return QueryRequest(
        subscriptions=[SUB, LAB_SUB],
        query=text,
        options=QueryRequestOptions(skip_token=token, result_format="objectArray"),
    )


def _through_the_model(
    clients: ArmClients, request: QueryRequest
) -> tuple[list[object], str | None]:
    """What `client.resources` answers: the generated model's rows and token."""
    answer = clients.resource_graph().resources(request)
    return list(answer.data), answer.skip_token


def test_a_page_read_as_json_is_the_page_the_sdk_model_reads(
    sim: SimulatorHandle, clients: ArmClients
) -> None:
    # Every page of the inventory, rows with `properties`, one row per page, token by token.
    quoted = f"'{SUB}', '{LAB_SUB}'"
    text = QUERY.format(subscriptions=quoted, columns=FULL_COLUMNS)
    token: str | None = None
    pages = 0
    while True:
        rows, after = graph_page(clients.resource_graph(), _query(text, token), RetryPolicy(), "p")
        assert (rows, after) == _through_the_model(clients, _query(text, token))
        assert len(rows) == 1
        assert "properties" in rows[0]
        pages += 1
        if not after:
            break
        token = after
    assert pages == 4


def test_a_refused_query_raises_what_the_sdk_call_raises(
    sim: SimulatorHandle, clients: ArmClients
) -> None:
    refused = _query("Resources | summarize count()")
    retry = RetryPolicy()
    with pytest.raises(AzureError) as sdk:
        clients.resource_graph().resources(refused)
    expected = translate(sdk.value, what="p", transient=retry.is_transient(sdk.value))
    with pytest.raises(PermanentError) as raised:
        graph_page(clients.resource_graph(), refused, retry, "p")

    assert type(raised.value) is type(expected)
    assert str(raised.value) == str(expected)
    assert (raised.value.code, raised.value.status) == ("BadRequest", 400)
