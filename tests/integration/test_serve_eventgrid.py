"""`patchpilot serve`'s Event Grid webhook: `/runtime/webhooks/eventgrid?functionName=`.

As in Azure, each event subscription names the one function its deliveries go
to, and the extension's key opens the webhook (the host key stands for it
locally). Real HTTP on 127.0.0.1, the registered functions behind it.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from patchpilot.domain.policy import parse_policy
from patchpilot.serve import LocalApi, serving
from patchpilot.sim.clock import VirtualClock
from tests.events import load
from tests.integration.http_support import START, fleet_doc, policy_doc

KEY = "test-key-0123456789"
WEBHOOK = "/runtime/webhooks/eventgrid"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[LocalApi]:
    with serving(
        parse_policy(policy_doc()),
        fleet=fleet_doc(),
        state=tmp_path,
        source=VirtualClock(START),
        key=KEY,
        auth="keys",
        pump_seconds=None,
    ) as running:
        yield running


def post(
    api: LocalApi, query: str, payload: Any, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    split = urllib.parse.urlsplit(api.url)
    connection = http.client.HTTPConnection(split.hostname or "", split.port, timeout=10)
    try:
        body = json.dumps(payload).encode()
        connection.request("POST", f"{WEBHOOK}?{query}", body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def calls(api: LocalApi) -> list[str]:
    return [name for _, name, kind in api.host.invocations if kind == "eventGridTrigger"]


def test_a_delivery_goes_to_the_function_its_subscription_names(api: LocalApi) -> None:
    gate, aks = load("eg_fleet_gate_created"), load("eg_node_pool_rolling_started")

    to_gates = post(api, f"functionName=on_fleet_gate_event&code={KEY}", [gate, aks])
    to_aks = post(api, f"functionName=on_aks_event&code={KEY}", aks)

    assert (to_gates[0], to_aks[0]) == (200, 200)
    assert calls(api) == ["on_fleet_gate_event", "on_fleet_gate_event", "on_aks_event"]
    assert api.host.failures == []


@pytest.mark.parametrize(
    ("query", "status"),
    [
        pytest.param("functionName=on_fleet_gate_event", 401, id="no key"),
        pytest.param("functionName=on_fleet_gate_event&code=wrong", 401, id="a wrong key"),
        pytest.param(f"functionName=sweep&code={KEY}", 404, id="a timer, not Event Grid"),
        pytest.param(f"code={KEY}", 404, id="no function named"),
    ],
)
def test_a_delivery_without_the_key_or_to_no_event_grid_function_runs_nothing(
    api: LocalApi, query: str, status: int
) -> None:
    answered, body = post(api, query, load("eg_fleet_gate_created"))

    assert answered == status
    assert json.loads(body)["error"]["code"] in ("Unauthorized", "NotFound")
    assert calls(api) == []


def test_the_subscription_validation_handshake_echoes_its_code(api: LocalApi) -> None:
    handshake = [
        {
            "id": "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66",
            "topic": "/subscriptions/00000000-0000-0000-0000-000000000000",
            "subject": "",
            "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": "2026-03-02T09:00:00Z",
            "dataVersion": "2",
        }
    ]
    headers = {"aeg-event-type": "SubscriptionValidation"}

    answered, body = post(api, f"functionName=on_fleet_gate_event&code={KEY}", handshake, headers)

    assert answered == 200
    assert json.loads(body) == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    assert calls(api) == []
