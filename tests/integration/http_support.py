"""Shared pieces of the HTTP API tests: a fleet, a policy, alerts, and checked calls.

The app runs end to end (simulator, SQLite, the local host, one virtual
clock) and every request goes through the registered HTTP triggers with a
real `azure.functions.HttpRequest`. Every answer :meth:`Api.call` returns has
been checked against the OpenAPI document: its status is documented for the
route and its JSON body matches the documented schema.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from patchpilot.api.openapi import document
from patchpilot.api.principal import PRINCIPAL_HEADER, encode_principal
from patchpilot.api.roles import APP_ROLES, Platform, Role, use_platform
from patchpilot.domain.policy import Policy, parse_policy
from patchpilot.localhost.harness import Harness, running_app
from patchpilot.telemetry import Telemetry
from tests.events import load

SUB = "00000000-0000-0000-0000-000000000000"
OTHER_SUB = "11111111-1111-1111-1111-111111111111"
UBUNTU = "AKSUbuntu-2204gen2containerd"
WINDOWS = "AKSWindows-2022-containerd"
# Saturday 01:30Z: inside the policy's default window (Saturday 02:00-08:00 at +01:00).
START = dt.datetime(2025, 11, 22, 1, 30, tzinfo=dt.UTC)
# Thursday noon: outside every window; the next one opens Saturday 01:00Z.
WEEKDAY = dt.datetime(2025, 11, 20, 12, 0, tzinfo=dt.UTC)
NEXT_WINDOW = dt.datetime(2025, 11, 22, 1, 0, tzinfo=dt.UTC)
DOCUMENT = document()
OID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def person(name: str, *roles: Role, oid: str = OID) -> dict[str, str]:
    """The header App Service authentication sends for a signed-in person with app roles."""
    return {PRINCIPAL_HEADER: encode_principal(name, oid, tuple(APP_ROLES[r] for r in roles))}


def actor(name: str, role: Role, oid: str = OID) -> str:
    """What the store records for that person acting with `role`."""
    return f"entra:{oid} {name} ({role})"


def cluster_id(name: str, group: str, subscription: str = SUB) -> str:
    """A managed cluster resource ID."""
    return (
        f"/subscriptions/{subscription}/resourceGroups/{group}"
        f"/providers/Microsoft.ContainerService/managedClusters/{name}"
    )


DEV = cluster_id("dev-1", "rg-dev")
DEV2 = cluster_id("dev-2", "rg-dev")
STAGING = cluster_id("stg-1", "rg-stg")
PROD = cluster_id("prod-1", "rg-prod")
LAB = cluster_id("lab-1", "rg-lab", OTHER_SUB)


def _pool(name: str, os: str = "Linux") -> dict[str, Any]:
    image = f"{UBUNTU}-202511.03.0" if os == "Linux" else f"{WINDOWS}-20348.4294.251015"
    mode = "System" if name == "system" else "User"
    return {"name": name, "os": os, "mode": mode, "version": "1.32.6", "node_image": image}


def _cluster(cid: str, env: str, *pools: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": cid,
        "location": "westeurope",
        "tags": {"env": env},
        "kubernetes_version": "1.32.6",
        "pools": list(pools) or [_pool("system")],
    }


def fleet_doc() -> dict[str, Any]:
    """Two dev clusters, one staging, one prod, and one outside the policy's scopes."""
    return {
        "catalog": {
            "westeurope": {
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
        },
        "clusters": [
            _cluster(DEV, "dev", _pool("system"), _pool("win22", "Windows")),
            _cluster(DEV2, "dev"),
            _cluster(STAGING, "staging"),
            _cluster(PROD, "prod"),
            _cluster(LAB, "dev"),
        ],
    }


def policy_doc(**overrides: Any) -> dict[str, Any]:
    """The DESIGN.md example policy, with an alerts section, and top-level overrides."""
    doc: dict[str, Any] = {
        "scopes": [f"/subscriptions/{SUB}"],
        "default_window": {
            "schedule": {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Saturday"}},
            "durationHours": 6,
            "utcOffset": "+01:00",
            "startTime": "02:00",
        },
        "freezes": [{"start": "2025-12-20", "end": "2026-01-04", "reason": "year-end freeze"}],
        "rings": [
            {"name": "dev", "match": {"tags": {"env": "dev"}}, "soak_days": 0},
            {"name": "staging", "match": {"tags": {"env": "staging"}}, "soak_days": 2},
            {"name": "prod", "match": {"tags": {"env": "prod"}}, "soak_days": 5},
        ],
        "kubernetes": {"channel": "patch"},
        "alerts": {
            "rules": {"prod-5xx": {"ring": "prod"}},
            "gates": {"staging": ["dev-error-budget"]},
        },
    }
    doc.update(overrides)
    return doc


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, parsed JSON body, headers."""

    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def code(self) -> str:
        """The error code of an error answer."""
        return str(self.body["error"]["code"])


class Api:
    """Calls the registered HTTP triggers of a running app, checking each answer."""

    def __init__(self, app: Harness) -> None:
        self.app = app

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        raw: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        auth: bool | None = None,
    ) -> Answer:
        """One request through `LocalHost.http`; the answer is checked against the document.

        `auth`: whether App Service authentication is on for this request
        (None: on when the headers carry a principal, as only the platform
        would send one; off, the caller is the function's key holder).
        """
        data = raw if raw is not None else b"" if body is None else json.dumps(body).encode()
        lowered = {k.lower() for k in headers or {}}
        platform = Platform(PRINCIPAL_HEADER in lowered if auth is None else auth)
        with use_platform(platform):
            response = self.app.host.http(method, path, body=data, headers=headers, params=params)
        answer = Answer(
            response.status_code, json.loads(response.get_body()), dict(response.headers)
        )
        check_against_openapi(method, path, answer.status, answer.body)
        return answer

    def upgrade_calls(self) -> int:
        """Upgrade requests ARM (the simulator) accepted so far."""
        upgrades = (
            "AgentPools_UpgradeNodeImageVersion",
            "AgentPools_CreateOrUpdate",
            "ManagedClusters_CreateOrUpdate",
        )
        return sum(
            n
            for (op, status), n in self.app.sim.requests().items()
            if op in upgrades and status < 300
        )


def check_against_openapi(method: str, path: str, status: int, body: Any) -> None:
    """The status is documented for the route and the body matches its schema."""
    operation = operation_of(method, path)
    responses = operation["responses"]
    assert str(status) in responses, f"{method} {path} answered undocumented {status}: {body}"
    content = responses[str(status)].get("content")
    if content is not None:
        schema = {**content["application/json"]["schema"], "components": DOCUMENT["components"]}
        errors = sorted(Draft202012Validator(schema).iter_errors(body), key=str)
        assert not errors, f"{method} {path} {status}: {errors[0].message} in {body}"


def operation_of(method: str, path: str) -> dict[str, Any]:
    """The OpenAPI operation a request path and method fall under."""
    route = "/" + path.removeprefix("/api/").strip("/")
    for template, item in DOCUMENT["paths"].items():
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
        if re.fullmatch(pattern, route) and method.lower() in item:
            found: dict[str, Any] = item[method.lower()]
            return found
    raise AssertionError(f"the OpenAPI document has no {method} {path}")


@contextmanager
def running_api(
    workdir: Path,
    *,
    start: dt.datetime = START,
    policy: Policy | None = None,
    telemetry: Telemetry | None = None,
) -> Iterator[Api]:
    """The app on the test fleet, swept once (so the store has its picture)."""
    chosen = policy or parse_policy(policy_doc())
    with running_app(fleet_doc(), chosen, start, workdir, telemetry=telemetry) as app:
        app.host.fire_timer("sweep")
        yield Api(app)


def alert(
    *,
    rule: str = "aks-node-not-ready",
    targets: tuple[str, ...] = (DEV,),
    condition: str = "Fired",
    alert_id: str = "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e",
    signal: str = "Metric",
) -> dict[str, Any]:
    """A real common-schema sample adapted to this fleet: rule, targets, condition, signal.

    Fired alerts start from the metric "fired" sample, Resolved ones from the
    documentation's sample payload (which is Resolved); log search and
    activity log alerts swap in the `signalType`, `monitoringService` and an
    alert context of their kind, as Azure Monitor sends them.
    """
    name = (
        "alerts-common-schema-test-action-definitions.metric-static-threshold-platform.fired"
        if condition == "Fired"
        else "alerts-common-schema.sample-alert-payload"
    )
    payload: dict[str, Any] = copy.deepcopy(load(name))
    essentials = payload["data"]["essentials"]
    essentials.update(
        alertId=f"/subscriptions/{SUB}/providers/Microsoft.AlertsManagement/alerts/{alert_id}",
        alertRule=rule,
        alertTargetIDs=[target.lower() for target in targets],
        configurationItems=[target.rsplit("/", 1)[-1] for target in targets],
        monitorCondition=condition,
        firedDateTime="2025-11-22T01:00:00.1234567Z",
    )
    if "alertRuleId" in essentials:
        group = f"/subscriptions/{SUB}/resourceGroups/rg-monitor"
        essentials["alertRuleId"] = f"{group}/providers/microsoft.insights/metricAlerts/{rule}"
    if condition == "Resolved":
        essentials["resolvedDateTime"] = "2025-11-22T01:20:00.1234567Z"
    if signal == "Log":
        essentials.update(signalType="Log", monitoringService="Log Alerts V2")
        payload["data"]["alertContext"] = {
            "conditionType": "LogQueryCriteria",
            "condition": {"windowSize": "PT10M", "allOf": [{"searchQuery": "KubeEvents"}]},
        }
    elif signal == "Activity Log":
        essentials.update(
            signalType="Activity Log", monitoringService="Activity Log - Administrative"
        )
        payload["data"]["alertContext"] = {
            "authorization": {"action": "Microsoft.ContainerService/managedClusters/write"},
            "operationName": "Microsoft.ContainerService/managedClusters/write",
            "status": "Failed",
        }
    return payload
