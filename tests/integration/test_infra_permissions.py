"""The permissions table holds exactly the ARM operations the adapter sends, as served.

The adapter runs against the ARM simulator the way the Function App uses it:
discovery, observation, every action and their follow-up (status, failure
cause), and the Fleet gate approver's reads and approval. The simulator
names each request it answers by its REST operation, so the set of names it
served is the set of operations the custom roles must allow: no more (least
privilege), no fewer (a 403 in production).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from patchpilot.adapters.arm import permissions
from patchpilot.adapters.arm.actions import Started, StartResult
from patchpilot.adapters.arm.catalog_cache import SweepCache
from patchpilot.adapters.arm.client import ArmClients
from patchpilot.adapters.arm.gateway import ArmGateway
from patchpilot.adapters.discovery import ResourceGraphDiscovery
from patchpilot.adapters.fleet_gates import FleetGates
from patchpilot.domain.fleet_ids import parse_fleet_id
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.domain.versions import KubernetesVersion
from patchpilot.sim.clock import VirtualClock
from patchpilot.sim.fleet_gates import StageSpec, fleets_of
from patchpilot.sim.pace import Pace
from patchpilot.sim.server import SimulatorHandle, run_simulator
from tests.integration.arm_support import SCOPE, fast_retry, fleet_with_skus, gateway_for
from tests.integration.arm_support import settings_for as sim_settings
from tests.integration.conftest import START, STEP, advance, cluster_id

DEV = cluster_id("dev-1", "rg-dev")
PROD = cluster_id("prod-1", "rg-prod")
FLEET = f"{SCOPE}/resourceGroups/rg-fleet/providers/Microsoft.ContainerService/fleets/fleet-1"


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    """The shared fleet on a virtual clock."""
    pace = Pace(seconds_per_node=STEP.total_seconds(), retry_after_seconds=0)
    with run_simulator(fleet_with_skus(), clock=VirtualClock(START), pace=pace) as handle:
        yield handle


@pytest.fixture
def gateway(sim: SimulatorHandle) -> Iterator[ArmGateway]:
    """A gateway scoped to the fleet's main subscription."""
    gateway = gateway_for(sim, retry=fast_retry())
    yield gateway
    gateway.close()


def operations_served(sim: SimulatorHandle) -> set[str]:
    """The operations the simulator answered, whatever the answer."""
    return {name for name, _status in sim.requests()}


def started(outcome: StartResult) -> Started:
    """The outcome, which must be a started operation."""
    assert isinstance(outcome, Started), outcome
    return outcome


def exercise(sim: SimulatorHandle, gateway: ArmGateway) -> None:
    """Everything the Function App asks of ARM: discover, observe, act, follow up, explain."""
    clients = ArmClients(sim_settings(sim))
    try:
        assert ResourceGraphDiscovery(clients, retry=fast_retry()).clusters((SCOPE,))
    finally:
        clients.close()
    gateway.observe(parse_cluster_id(DEV), SweepCache())
    control_plane = started(
        gateway.upgrade_control_plane(parse_cluster_id(PROD), KubernetesVersion.parse("1.32.9"))
    )
    gateway.operation_status(control_plane)
    gateway.abort_latest_operation(parse_cluster_id(PROD))
    started(
        gateway.upgrade_pool_version(
            parse_cluster_id(DEV), "system", KubernetesVersion.parse("1.32.6")
        )
    )
    # A PUT to the version the pool runs still starts a short Updating operation, as AKS does.
    advance(sim, STEP)
    image = started(gateway.upgrade_node_image(parse_cluster_id(DEV), "win22"))
    advance(sim, STEP)
    gateway.abort_latest_operation(parse_cluster_id(DEV), "win22")
    gateway.explain_failure(parse_cluster_id(DEV), "win22", operation=image)
    approve_a_fleet_gate(sim)


def approve_a_fleet_gate(sim: SimulatorHandle) -> None:
    """The Fleet gate approver: list the pending gates, read one and its run, approve it."""
    stages = [StageSpec("prod", [("prod", [str(PROD)])], before="before prod")]
    fleets_of(sim.aks).create_update_run(FLEET, "run-1", stages, START)
    fleet_gates = FleetGates(sim_settings(sim), retry=fast_retry())
    try:
        fleet = parse_fleet_id(FLEET)
        (pending,) = fleet_gates.pending_gates(fleet)
        gate = fleet_gates.get_gate(fleet, pending.name)
        assert gate is not None
        assert fleet_gates.get_update_run(fleet, gate.target.update_run) is not None
        assert fleet_gates.approve(gate).state == "Completed"
    finally:
        fleet_gates.close()


def test_the_table_holds_exactly_the_operations_the_adapter_sends(
    sim: SimulatorHandle, gateway: ArmGateway
) -> None:
    exercise(sim, gateway)

    assert operations_served(sim) == permissions.operations()


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda g: g.observe(parse_cluster_id(DEV), SweepCache()), id="observe"),
        pytest.param(
            lambda g: g.upgrade_node_image(parse_cluster_id(DEV), "system"), id="node-image"
        ),
        pytest.param(lambda g: g.explain_failure(parse_cluster_id(DEV), "system"), id="explain"),
    ],
)
def test_each_entry_point_needs_only_actions_the_roles_grant(
    sim: SimulatorHandle, gateway: ArmGateway, call: Callable[[ArmGateway], object]
) -> None:
    call(gateway)

    granted = {a for actions in permissions.role_actions().values() for a in actions}
    assert permissions.actions_for(operations_served(sim)) <= granted
