"""Event Grid events as AKS emits them, in both schemas, to a callback or a webhook."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from patchpilot.sim.clock import VirtualClock
from patchpilot.sim.events import EventSchema
from patchpilot.sim.pace import Pace
from patchpilot.sim.server import run_simulator
from tests.integration.conftest import (
    EVENT_FIXTURES,
    NEW_UBUNTU,
    OLD_UBUNTU,
    RELEASE_START,
    START,
    SUB,
    aks_client,
    cluster_id,
    fleet_doc,
)

FIXTURE_DIRS: dict[str, str] = {
    "EventGridSchema": "event-grid-schema",
    "CloudEventSchemaV1_0": "cloud-events-schema",
}
FIXTURE_FILES = {
    "NodePoolRollingStarted": "node_pool_rolling_started.json",
    "NodePoolRollingSucceeded": "node_pool_rolling_succeeded.json",
    "NodePoolRollingFailed": "node_pool_rolling_failed.json",
    "NewKubernetesVersionAvailable": "new_kubernetes_version_available.json",
}


def fixture(schema: str, event: str) -> dict[str, Any]:
    """An azure-rest-api-specs example event."""
    path = EVENT_FIXTURES / FIXTURE_DIRS[schema] / FIXTURE_FILES[event]
    if not path.exists():
        pytest.skip(f"event fixture {path} is not available")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def keys(event: dict[str, Any]) -> set[str]:
    """Envelope keys; CloudEvents says ``specversion`` (one spec example: ``specVersion``)."""
    return {k.lower() if k == "specVersion" else k for k in event}


def event_type(event: dict[str, Any]) -> str:
    return str(event.get("eventType") or event.get("type")).rsplit(".", 1)[-1]


@pytest.mark.parametrize("schema", ["EventGridSchema", "CloudEventSchemaV1_0"])
def test_events_have_the_shape_of_the_spec_examples(schema: EventSchema) -> None:
    delivered: list[dict[str, Any]] = []
    clock = VirtualClock(RELEASE_START)
    pace = Pace(seconds_per_node=600, retry_after_seconds=0)
    with (
        run_simulator(
            fleet_doc(), clock=clock, pace=pace, event_sink=delivered.append, event_schema=schema
        ) as sim,
        aks_client(sim) as client,
    ):
        clock.set(START)
        client.agent_pools.begin_upgrade_node_image_version(
            "rg-dev", "dev-1", "win22", polling=False
        )
        clock.advance(dt.timedelta(days=1))
        sim.aks.tick()

    by_type = {event_type(e): e for e in delivered if e["subject"] == "dev-1"}
    assert set(by_type) == {
        "NodePoolRollingStarted",
        "NodePoolRollingSucceeded",
        "NewKubernetesVersionAvailable",
    }
    for name, event in by_type.items():
        example = fixture(schema, name)
        assert keys(event) == keys(example)
        assert set(event["data"]) == set(example["data"])
        source = event.get("topic") or event.get("source")
        assert source == cluster_id("dev-1", "rg-dev")
        assert event["subject"] == "dev-1"
    started = by_type["NodePoolRollingStarted"]
    assert started["data"] == {"nodePoolName": "win22"}
    assert (started.get("eventTime") or started.get("time")) == "2025-11-20T01:00:00.0000000Z"
    assert len({e["id"] for e in delivered}) == len(delivered)


def test_a_release_day_offers_the_new_version_and_image_and_announces_the_version(
    events: list[dict[str, Any]],
) -> None:
    clock = VirtualClock(RELEASE_START)
    with (
        run_simulator(fleet_doc(), clock=clock, event_sink=events.append) as sim,
        aks_client(sim) as client,
    ):
        before_versions = client.managed_clusters.get_upgrade_profile("rg-dev", "dev-1")
        before_image = client.agent_pools.get_upgrade_profile("rg-dev", "dev-1", "system")
        clock.set(dt.datetime(2025, 11, 19, 6, 0, tzinfo=dt.UTC))
        after_versions = client.managed_clusters.get_upgrade_profile("rg-dev", "dev-1")
        after_image = client.agent_pools.get_upgrade_profile("rg-dev", "dev-1", "system")

    def offered(profile: Any) -> list[str]:
        return [u.kubernetes_version for u in profile.control_plane_profile.upgrades or []]

    assert offered(before_versions) == ["1.33.2"]
    assert offered(after_versions) == ["1.32.9", "1.33.2"]
    assert (before_image.latest_node_image_version, after_image.latest_node_image_version) == (
        OLD_UBUNTU,
        NEW_UBUNTU,
    )
    announced = [e for e in events if event_type(e) == "NewKubernetesVersionAvailable"]
    # Every cluster in westeurope hears of it, once, on the release day; northeurope too.
    assert sorted(e["subject"] for e in announced) == ["dev-1", "lab-1", "prod-1", "prod-2"]
    assert {e["eventTime"] for e in announced} == {"2025-11-17T00:00:00.0000000Z"}
    assert announced[0]["data"] == {
        "latestSupportedKubernetesVersion": "1.33.2",
        "latestStableKubernetesVersion": "1.32.9",
        "lowestMinorKubernetesVersion": "1.32.9",
        "latestPreviewKubernetesVersion": "1.34.0",
    }


class _Collector(BaseHTTPRequestHandler):
    """A webhook that keeps what it is sent."""

    received: list[tuple[str, Any]]
    arrived: threading.Event

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).received.append((self.headers.get("Content-Type", ""), json.loads(body)))
        type(self).arrived.set()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, type[_Collector]]]:
    """A local HTTP endpoint on 127.0.0.1 that records posted events."""
    handler = type("Collector", (_Collector,), {"received": [], "arrived": threading.Event()})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/events", handler
    finally:
        server.shutdown()
        server.server_close()


def test_a_webhook_sink_receives_each_event_as_a_json_array(
    webhook: tuple[str, type[_Collector]],
) -> None:
    url, collector = webhook
    clock = VirtualClock(START)
    with run_simulator(
        fleet_doc(), clock=clock, event_sink=url, event_schema="CloudEventSchemaV1_0"
    ) as sim:
        with aks_client(sim) as client:
            client.agent_pools.begin_upgrade_node_image_version(
                "rg-dev", "dev-1", "win22", polling=False
            )
        deadline = time.monotonic() + 5
        while not collector.received and time.monotonic() < deadline:
            collector.arrived.wait(0.05)

    content_type, body = collector.received[0]
    assert content_type == "application/cloudevents-batch+json"
    assert isinstance(body, list)
    assert body[0]["type"] == "Microsoft.ContainerService.NodePoolRollingStarted"
    assert body[0]["source"].startswith(f"/subscriptions/{SUB}/")
