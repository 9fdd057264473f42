"""Shared pieces of the simulator tests: a small fleet, a fake credential, SDK clients.

The fleet is built as the plain mapping a YAML file holds, so every test also
runs the fleet parser. Most tests run on a virtual clock that starts on
2025-11-20, after the catalog's November releases; ``RELEASE_START`` is
before them, for the tests of releases.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.exceptions import HttpResponseError
from azure.mgmt.containerservice import ContainerServiceClient

from patchpilot.sim.clock import VirtualClock
from patchpilot.sim.faults import FaultPlan
from patchpilot.sim.pace import Pace
from patchpilot.sim.server import SimulatorHandle, run_simulator

SUB = "00000000-0000-0000-0000-000000000000"
LAB_SUB = "11111111-1111-1111-1111-111111111111"
UBUNTU = "AKSUbuntu-2204gen2containerd"
WINDOWS = "AKSWindows-2022-containerd"
OLD_UBUNTU = f"{UBUNTU}-202511.03.0"
NEW_UBUNTU = f"{UBUNTU}-202511.17.0"
OLD_WINDOWS = f"{WINDOWS}-20348.4294.251015"
NEW_WINDOWS = f"{WINDOWS}-20348.4405.251112"
START = dt.datetime(2025, 11, 20, 1, 0, tzinfo=dt.UTC)
RELEASE_START = dt.datetime(2025, 11, 15, 12, 0, tzinfo=dt.UTC)
STEP = dt.timedelta(minutes=10)
ROOT = Path(__file__).resolve().parents[2]
EVENT_FIXTURES = ROOT.parent / "shared" / "fixtures" / "azure-rest-api-specs" / "eventgrid"


def cluster_id(name: str, group: str, subscription: str = SUB) -> str:
    """A managed cluster resource ID."""
    return (
        f"/subscriptions/{subscription}/resourceGroups/{group}"
        f"/providers/Microsoft.ContainerService/managedClusters/{name}"
    )


def pool(name: str, os: str = "Linux", count: int = 3, version: str = "1.32.6") -> dict[str, Any]:
    """A pool entry on the old images."""
    image = OLD_UBUNTU if os == "Linux" else OLD_WINDOWS
    mode = "System" if name == "system" else "User"
    return {
        "name": name,
        "os": os,
        "mode": mode,
        "version": version,
        "node_image": image,
        "count": count,
    }


def region() -> dict[str, Any]:
    """A region's catalog with November 2025 releases on their days."""
    return {
        "kubernetes": [
            {"version": "1.32.6"},
            {"version": "1.32.9", "released": "2025-11-17"},
            {"version": "1.33.2"},
            {"version": "1.34.0", "preview": True},
        ],
        "node_images": {
            UBUNTU: ["202511.03.0", {"version": "202511.17.0", "released": "2025-11-19"}],
            WINDOWS: [
                "20348.4294.251015",
                {"version": "20348.4405.251112", "released": "2025-11-16"},
            ],
        },
    }


NODE_OS_WINDOW = {
    "maintenanceWindow": {
        "schedule": {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Sunday"}},
        "durationHours": 4,
        "utcOffset": "+01:00",
        "startTime": "01:00",
    }
}


def fleet_doc() -> dict[str, Any]:
    """Four clusters, two regions, two subscriptions."""
    return {
        "catalog": {"westeurope": region(), "northeurope": region()},
        "clusters": [
            {
                "id": cluster_id("dev-1", "rg-dev"),
                "location": "westeurope",
                "tags": {"env": "dev"},
                "kubernetes_version": "1.32.6",
                "pools": [pool("system"), pool("win22", "Windows", 2)],
            },
            {
                "id": cluster_id("prod-1", "rg-prod"),
                "location": "westeurope",
                "tags": {"env": "prod"},
                "kubernetes_version": "1.32.6",
                "auto_upgrade_channel": "none",
                "node_os_upgrade_channel": "None",
                "maintenance_configurations": {
                    "aksManagedNodeOSUpgradeSchedule": NODE_OS_WINDOW,
                    "aksManagedAutoUpgradeSchedule": {
                        "maintenanceWindow": {
                            "schedule": {
                                "relativeMonthly": {
                                    "intervalMonths": 1,
                                    "weekIndex": "First",
                                    "dayOfWeek": "Sunday",
                                }
                            },
                            "durationHours": 8,
                            "utcOffset": "+01:00",
                            "startTime": "01:00",
                            "notAllowedDates": [{"start": "2025-12-20", "end": "2026-01-04"}],
                        }
                    },
                },
                "pools": [pool("system", count=5)],
            },
            {
                "id": cluster_id("prod-2", "rg-prod"),
                "location": "northeurope",
                "tags": {"env": "prod"},
                "kubernetes_version": "1.32.6",
                "auto_upgrade_channel": "stable",
                "node_os_upgrade_channel": "NodeImage",
                "pools": [pool("system", count=2)],
            },
            {
                "id": cluster_id("lab-1", "rg-lab", LAB_SUB),
                "location": "westeurope",
                "tags": {"env": "lab"},
                "kubernetes_version": "1.32.6",
                "arm_properties": {
                    "apiServerAccessProfile": {"authorizedIPRanges": ["203.0.113.0/24"]},
                    "disableLocalAccounts": True,
                },
                "pools": [
                    {**pool("system", count=1), "arm_properties": {"vmSize": "Standard_DC4s_v3"}}
                ],
            },
        ],
    }


class FakeCredential:
    """A TokenCredential that hands out any token: the simulator accepts every bearer."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """A token valid for an hour."""
        return AccessToken("simulated-token", int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        """The same token in the newer protocol."""
        return AccessTokenInfo("simulated-token", int(time.time()) + 3600)


def aks_client(
    sim: SimulatorHandle, subscription: str = SUB, **kwargs: Any
) -> ContainerServiceClient:
    """The stock SDK client pointed at the simulator; no SDK retries, fast LRO polling."""
    options: dict[str, Any] = {"polling_interval": 0.05, "retry_total": 0, **kwargs}
    return ContainerServiceClient(
        FakeCredential(),
        subscription,
        base_url=sim.url,
        connection_verify=str(sim.ca_path),
        **options,
    )


@pytest.fixture
def events() -> list[dict[str, Any]]:
    """The events a simulator delivered to its callback sink."""
    return []


@pytest.fixture
def sim(events: list[dict[str, Any]]) -> Iterator[SimulatorHandle]:
    """A simulator on a virtual clock at ``START``: ten virtual minutes per upgrade step."""
    clock = VirtualClock(START)
    pace = Pace(seconds_per_node=STEP.total_seconds(), retry_after_seconds=0)
    with run_simulator(fleet_doc(), clock=clock, pace=pace, event_sink=events.append) as handle:
        yield handle


@pytest.fixture
def client(sim: SimulatorHandle) -> Iterator[ContainerServiceClient]:
    """An SDK client for the ``sim`` fixture."""
    with aks_client(sim) as sdk:
        yield sdk


def advance(sim: SimulatorHandle, delta: dt.timedelta) -> None:
    """Move the virtual clock of a simulator and let the model catch up."""
    clock = sim.clock
    assert isinstance(clock, VirtualClock)
    clock.advance(delta)
    sim.aks.tick()


def no_faults() -> FaultPlan:
    """The empty plan, spelled out for readability at call sites."""
    return FaultPlan()


def error_body(exc: HttpResponseError) -> dict[str, Any]:
    """The ``error`` object of an ARM error answer, as sent."""
    response = exc.response
    assert response is not None
    body: dict[str, Any] = json.loads(response.text())["error"]
    return body


def header(exc: HttpResponseError, name: str) -> str | None:
    """A header of the answer behind an SDK error."""
    response = exc.response
    assert response is not None
    # The SDK types the response by its common API, which leaves the headers out.
    value: str | None = cast(Any, response).headers.get(name)
    return value
