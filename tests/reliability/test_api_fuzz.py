"""Property-based fuzzing of the HTTP API against its own OpenAPI document, over real HTTP.

Schemathesis generates requests for every operation from the document
(valid shapes and broken ones) and sends them to `patchpilot serve` on
127.0.0.1; each answer must not be a 5xx, must have a documented status,
and must match its schema. A second property sends upgrade and pause
requests built from the fleet's real clusters, pools and versions, so the
rules behind the routes are exercised, not only their parsers.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks

from patchpilot.domain.policy import parse_policy
from patchpilot.serve import LocalApi, serving
from patchpilot.sim.clock import VirtualClock
from tests.integration.http_support import (
    DEV,
    DEV2,
    DOCUMENT,
    LAB,
    PROD,
    STAGING,
    START,
    alert,
    check_against_openapi,
    cluster_id,
    fleet_doc,
    policy_doc,
)

KEY = "fuzz-key-0123456789"
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalApi]:
    state: Path = tmp_path_factory.mktemp("fuzz")
    policy = parse_policy(policy_doc())
    with serving(
        policy,
        fleet=fleet_doc(),
        state=state,
        source=VirtualClock(START),
        key=KEY,
        pump_seconds=None,
    ) as running:
        yield running


@SCHEMA.parametrize()
@FUZZ
def test_every_operation_answers_within_its_schema(case: Any, api: LocalApi) -> None:
    response = case.call(base_url=api.url, headers={"x-functions-key": KEY}, timeout=10)
    case.validate_response(response, checks=CHECKS)


CLUSTERS = st.sampled_from([DEV, DEV2, STAGING, PROD, LAB, cluster_id("ghost", "rg-dev")])
UPGRADES = st.fixed_dictionaries(
    {"cluster": CLUSTERS},
    optional={
        "pool": st.sampled_from(["system", "win22", "gpu", None]),
        "kind": st.sampled_from(["kubernetes", "node_image", "os"]),
        "version": st.sampled_from(["1.32.6", "1.32.9", "1.33.2", "1.34.0", "1.31.1", "v1.33.2"]),
        "force": st.booleans(),
        "reason": st.sampled_from(["", "CVE-2025-1", "x" * 501, None]),
    },
)
PAUSES = st.fixed_dictionaries(
    {"scope": st.sampled_from(["fleet", "ring", "cluster", "zone"]), "reason": st.text(max_size=8)},
    optional={
        "target": st.sampled_from(["dev", "prod", "qa", DEV, LAB, None]),
        "until": st.sampled_from(["2025-11-22T03:00Z", "2020-01-01", "later", None]),
    },
)
ALERTS = st.builds(
    alert,
    rule=st.sampled_from(["aks-node-not-ready", "prod-5xx", "dev-error-budget", "unmapped"]),
    targets=st.lists(CLUSTERS, max_size=3).map(tuple),
    condition=st.sampled_from(["Fired", "Resolved"]),
    alert_id=st.sampled_from(["a1", "a2", "a3"]),
    signal=st.sampled_from(["Metric", "Log", "Activity Log"]),
)


@FUZZ
@given(
    request=st.one_of(
        UPGRADES.map(lambda body: ("/api/upgrades", body)),
        PAUSES.map(lambda body: ("/api/pauses", body)),
        ALERTS.map(lambda body: ("/api/alerts", body)),
    )
)
def test_requests_built_from_the_real_fleet_never_fail_the_server(
    api: LocalApi, request: tuple[str, dict[str, Any]]
) -> None:
    path, body = request
    status, answer = post(api, path, body)
    assert status < 500, answer
    check_against_openapi("POST", path, status, answer)


def post(api: LocalApi, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST a JSON body with the key; (status, parsed answer), whatever the status."""
    url = api.url.removesuffix("/api") + path
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"x-functions-key": KEY, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())
