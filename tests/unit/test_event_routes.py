"""Which Event Grid function each event reaches in the local host: its subscription's.

In Azure each event subscription delivers to one function; the Bicep subscribes
each system topic's types to one. The host routes by type prefix
(:data:`patchpilot.localhost.host.EVENT_ROUTES`), the longest prefix winning, without case.
"""

from __future__ import annotations

from typing import Any

import pytest

from patchpilot.localhost.host import UNROUTED_EVENTS, event_route


@pytest.mark.parametrize(
    ("element", "function"),
    [
        pytest.param(
            {"eventType": "Microsoft.ContainerService.NodePoolRollingFailed"},
            "on_aks_event",
            id="an AKS event (Event Grid schema)",
        ),
        pytest.param(
            {"type": "Microsoft.ResourceNotifications.AksResources.FleetGateCreated"},
            "on_fleet_gate_event",
            id="a gate event as the samples spell it (CloudEvents)",
        ),
        pytest.param(
            {"eventType": "MICROSOFT.RESOURCENOTIFICATIONS.AKSRESOURCES.FleetGateDeleted"},
            "on_fleet_gate_event",
            id="types compare without case",
        ),
        pytest.param(
            {"type": "Microsoft.ResourceNotifications.ContainerServiceEventResources.X"},
            "on_aks_maintenance_event",
            id="an AKS maintenance announcement",
        ),
        pytest.param({"data": {}}, UNROUTED_EVENTS, id="no type"),
        pytest.param({"eventType": "Contoso.Other"}, UNROUTED_EVENTS, id="a type nobody takes"),
        pytest.param("not an event", UNROUTED_EVENTS, id="not an object"),
    ],
)
def test_each_event_goes_to_the_function_of_its_type(element: Any, function: str) -> None:
    assert event_route(element) == function
