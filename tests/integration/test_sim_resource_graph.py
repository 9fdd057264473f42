"""Fleet discovery through the stock azure-mgmt-resourcegraph client, with paging."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from patchpilot.sim.server import SimulatorHandle
from tests.integration.conftest import LAB_SUB, SUB, FakeCredential, cluster_id

CLUSTERS = (
    "Resources\n"
    "| where type =~ 'Microsoft.ContainerService/managedClusters'\n"
    "| project id, name, location, tags, resourceGroup, subscriptionId,\n"
    "          kubernetesVersion = tostring(properties.kubernetesVersion),\n"
    "          properties.provisioningState\n"
    "| order by id asc"
)


@pytest.fixture
def graph(sim: SimulatorHandle) -> Iterator[ResourceGraphClient]:
    """The stock Resource Graph client pointed at the simulator."""
    with ResourceGraphClient(
        FakeCredential(), base_url=sim.url, connection_verify=str(sim.ca_path), retry_total=0
    ) as client:
        yield client


def all_pages(
    graph: ResourceGraphClient, request: QueryRequest
) -> tuple[list[dict[str, Any]], int]:
    """Every row of a query, following ``$skipToken``; and how many pages it took."""
    rows: list[dict[str, Any]] = []
    pages = 0
    while True:
        answer = graph.resources(request)
        pages += 1
        rows.extend(cast(list[dict[str, Any]], answer.data))
        if not answer.skip_token:
            return rows, pages
        assert request.options is not None
        request.options.skip_token = answer.skip_token


def test_discovery_pages_through_every_cluster_in_the_scopes(graph: ResourceGraphClient) -> None:
    request = QueryRequest(subscriptions=[SUB], query=CLUSTERS, options=QueryRequestOptions(top=2))

    rows, pages = all_pages(graph, request)

    assert pages == 2
    assert [r["id"] for r in rows] == sorted(
        [
            cluster_id("dev-1", "rg-dev"),
            cluster_id("prod-1", "rg-prod"),
            cluster_id("prod-2", "rg-prod"),
        ]
    )
    first = rows[0]
    assert set(first) == {
        "id", "name", "location", "tags", "resourceGroup", "subscriptionId",
        "kubernetesVersion", "properties_provisioningState",
    }  # fmt: skip
    assert (first["kubernetesVersion"], first["subscriptionId"], first["tags"]) == (
        "1.32.6",
        SUB,
        {"env": "dev"},
    )


def test_discovery_without_a_projection_returns_arg_rows_and_a_total(
    graph: ResourceGraphClient,
) -> None:
    query = (
        "resources | where type == 'microsoft.containerservice/managedclusters' "
        f"and subscriptionId in~ ('{LAB_SUB}')"
    )

    answer = graph.resources(QueryRequest(query=query))

    assert (answer.total_records, answer.count, answer.result_truncated) == (1, 1, "false")
    row = cast(list[dict[str, Any]], answer.data)[0]
    assert (row["name"], row["type"], row["resourceGroup"]) == (
        "lab-1",
        "microsoft.containerservice/managedclusters",
        "rg-lab",
    )
    assert row["properties"]["agentPoolProfiles"][0]["vmSize"] == "Standard_DC4s_v3"


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("Resources | summarize count() by type", id="an operator it does not run"),
        pytest.param("Resources | project id", id="not kept to managed clusters"),
        pytest.param(
            "ResourceContainers | where type =~ 'microsoft.resources/subscriptions'",
            id="another table",
        ),
        pytest.param(
            "Resources | where type =~ 'microsoft.containerservice/managedclusters' or name == 'x'",
            id="an or condition",
        ),
    ],
)
def test_queries_outside_the_supported_shape_get_a_clear_400(
    graph: ResourceGraphClient, query: str
) -> None:
    with pytest.raises(HttpResponseError) as caught:
        graph.resources(QueryRequest(query=query))

    assert caught.value.status_code == 400
    assert caught.value.error is not None
    assert caught.value.error.code == "BadRequest"
    assert "the AKS simulator answers only" in (caught.value.error.message or "")
