"""What the simulated AKS says about itself between requests: busy clusters, external starts."""

from __future__ import annotations

import datetime as dt

from azure.mgmt.containerservice import ContainerServiceClient

from patchpilot.sim.faults import ExternalStart, FaultPlan
from patchpilot.sim.server import SimulatorHandle
from tests.integration.conftest import START, advance


def test_active_operations_lists_each_busy_cluster_once_in_fleet_order(
    sim: SimulatorHandle, client: ContainerServiceClient
) -> None:
    assert sim.aks.active_operations() == []
    client.agent_pools.begin_upgrade_node_image_version(
        "rg-prod", "prod-1", "system", polling=False
    )
    client.agent_pools.begin_upgrade_node_image_version("rg-dev", "dev-1", "system", polling=False)

    busy = sim.aks.active_operations()
    one_by_one = [sim.aks.active_operation(c) for c in sim.aks.clusters()]
    advance(sim, dt.timedelta(days=1))

    assert [op.cluster.id.name for op in busy] == ["dev-1", "prod-1"]
    assert busy == [op for op in one_by_one if op is not None]
    assert sim.aks.active_operations() == []


def test_external_starts_apply_in_instant_order_once_even_when_the_plan_is_replaced(
    sim: SimulatorHandle,
) -> None:
    soon = START + dt.timedelta(minutes=5)
    first = ExternalStart("dev-1", "win22", soon)
    tied = ExternalStart("dev-1", "system", soon)
    later = ExternalStart("prod-1", "system", START + dt.timedelta(hours=2))
    sim.set_faults(FaultPlan(external_starts=(later, first, tied)))

    advance(sim, dt.timedelta(minutes=10))
    applied = sim.aks.external_starts()
    upcoming = sim.aks.next_external_start(START)
    # The new plan names an applied start again: it is not started twice.
    sim.set_faults(FaultPlan(external_starts=(first, later)))
    advance(sim, dt.timedelta(hours=3))

    assert applied[first] == "started"
    assert applied[tied].startswith("refused: OperationNotAllowed")
    assert later not in applied
    assert upcoming == later.at
    assert [(op.cluster.id.name, op.pool) for op in sim.aks.operations()] == [
        ("dev-1", "win22"),
        ("prod-1", "system"),
    ]
    assert sim.aks.next_external_start(START) is None
