"""Fleet discovery: one paged Resource Graph query, cut to the scopes; a static list as fallback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from patchpilot.adapters.arm.client import ArmClients
from patchpilot.adapters.discovery import (
    ResourceGraphDiscovery,
    StaticDiscovery,
    discovery_from,
    subscriptions_of,
)
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.sim.faults import FaultPlan
from patchpilot.sim.handlers import Settings as SimSettings
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
    with run_simulator(fleet_with_skus(), settings=SimSettings(graph_page_size=1)) as handle:
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
