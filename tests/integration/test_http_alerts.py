"""`POST /api/alerts`: Azure Monitor alerts pause what they concern, and resolving lifts it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from patchpilot.service.alerts import KIND, handle_alert
from tests.events import load
from tests.integration.http_support import (
    DEV,
    DEV2,
    LAB,
    PROD,
    STAGING,
    SUB,
    Api,
    alert,
    running_api,
)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(tmp_path) as running:
        yield running


def plan_reasons(api: Api, cluster: str) -> list[str]:
    plan = api.call("GET", "/api/plan").body
    return [a["reason"] for a in plan["actions"] if a["cluster"] == cluster]


def pauses(api: Api) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = api.call("GET", "/api/pauses").body["pauses"]
    return body


@pytest.mark.parametrize("signal", ["Metric", "Log", "Activity Log"])
def test_a_fired_alert_on_a_cluster_pauses_it_until_resolved(api: Api, signal: str) -> None:
    fired = api.call("POST", "/api/alerts", alert(signal=signal))
    assert fired.status == 200
    assert fired.body["verdict"] == "paused"
    (pause,) = pauses(api)
    assert (pause["scope"], pause["target"], pause["by"]) == (
        "cluster",
        DEV.lower(),
        "alert:aks-node-not-ready",
    )
    assert all("alert aks-node-not-ready firing" in r for r in plan_reasons(api, DEV))
    assert not any("firing" in r for r in plan_reasons(api, DEV2))
    resolved = api.call("POST", "/api/alerts", alert(condition="Resolved", signal=signal))
    assert (resolved.status, resolved.body["verdict"]) == (200, "resumed")
    assert pauses(api) == []


def test_a_rule_mapped_to_a_ring_pauses_that_ring(api: Api) -> None:
    answer = api.call("POST", "/api/alerts", alert(rule="prod-5xx", targets=()))
    assert answer.body["scopes"] == [{"scope": "ring", "target": "prod"}]
    assert all("alert prod-5xx firing" in r for r in plan_reasons(api, PROD))


def test_a_health_gate_blocks_its_ring_while_its_rule_fires(api: Api) -> None:
    group = f"/subscriptions/{SUB}/resourceGroups/rg-mon"
    workspace = f"{group}/providers/Microsoft.OperationalInsights/workspaces/logs"
    fired = alert(rule="Dev-Error-Budget", targets=(workspace,), signal="Log")
    assert api.call("POST", "/api/alerts", fired).body["scopes"] == [
        {"scope": "ring", "target": "staging"}
    ]
    assert all(
        r.startswith("blocked: alert Dev-Error-Budget firing") for r in plan_reasons(api, STAGING)
    )
    resolved = alert(rule="Dev-Error-Budget", targets=(workspace,), condition="Resolved")
    assert api.call("POST", "/api/alerts", resolved).body["verdict"] == "resumed"
    assert not any("firing" in r for r in plan_reasons(api, STAGING))


def test_an_alert_on_a_resource_under_a_cluster_pauses_the_cluster(api: Api) -> None:
    pool = f"{DEV}/agentPools/system"
    answer = api.call("POST", "/api/alerts", alert(targets=(pool, DEV2)))
    assert {p["target"] for p in answer.body["pauses"]} == {DEV.lower(), DEV2.lower()}


def test_repeated_and_reordered_notifications_pause_once_and_stay_resolved(api: Api) -> None:
    for _ in range(3):
        api.call("POST", "/api/alerts", alert())
    assert len(pauses(api)) == 1
    api.call("POST", "/api/alerts", alert(condition="Resolved"))
    assert api.call("POST", "/api/alerts", alert(condition="Resolved")).body["verdict"] == (
        "nothing_to_lift"
    )
    # Another instance resolved before its Fired arrives: the late Fired pauses nothing.
    late = "bbbb1b1b-cc2c-dd3d-ee4e-ffffff5f5f5f"
    api.call("POST", "/api/alerts", alert(alert_id=late, condition="Resolved"))
    assert api.call("POST", "/api/alerts", alert(alert_id=late)).body["verdict"] == "stale"
    assert pauses(api) == []


def test_resolving_one_instance_leaves_another_instance_paused(api: Api) -> None:
    api.call("POST", "/api/alerts", alert(alert_id="11111111-aaaa-4aaa-8aaa-111111111111"))
    other = alert(alert_id="22222222-bbbb-4bbb-8bbb-222222222222", targets=(DEV2,))
    api.call("POST", "/api/alerts", other)
    api.call(
        "POST",
        "/api/alerts",
        alert(alert_id="11111111-aaaa-4aaa-8aaa-111111111111", condition="Resolved"),
    )
    assert [p["target"] for p in pauses(api)] == [DEV2.lower()]


def hostile() -> list[Any]:
    unknown = alert(targets=(LAB,))
    vm = load("alerts-common-schema.sample-alert-payload")
    cases: list[Any] = [
        unknown,
        vm,
        {"schemaId": "AzureMonitorMetricAlert", "data": {}},
        {"schemaId": "azureMonitorCommonAlertSchema"},
        {"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": []}},
        [],
        "fired",
    ]
    for field, value in (
        ("monitorCondition", "Acknowledged"),
        ("firedDateTime", "yesterday"),
        ("alertTargetIDs", DEV),
        ("alertId", ""),
        ("alertRule", None),
        ("alertTargetIDs", [DEV, 5]),
    ):
        bad = alert()
        bad["data"]["essentials"][field] = value
        cases.append(bad)
    return cases


@pytest.mark.parametrize("payload", hostile())
def test_unknown_or_malformed_alerts_are_refused_and_change_nothing(api: Api, payload: Any) -> None:
    answer = api.call("POST", "/api/alerts", payload)
    assert answer.status == 400
    assert answer.code in ("BadRequest", "UnknownAlert")
    assert pauses(api) == []
    assert "Traceback" not in json.dumps(answer.body)


FIRST = "11111111-aaaa-4aaa-8aaa-111111111111"
SECOND = "22222222-bbbb-4bbb-8bbb-222222222222"


def test_resolving_one_instance_of_a_rule_leaves_another_on_the_same_cluster_blocking(
    api: Api,
) -> None:
    api.call("POST", "/api/alerts", alert(alert_id=FIRST))
    api.call("POST", "/api/alerts", alert(alert_id=SECOND))
    assert len(pauses(api)) == 2
    resolved = api.call("POST", "/api/alerts", alert(alert_id=FIRST, condition="Resolved"))
    assert (resolved.body["verdict"], len(resolved.body["pauses"])) == ("resumed", 1)
    assert len(pauses(api)) == 1
    assert all("alert aks-node-not-ready firing" in r for r in plan_reasons(api, DEV))


@pytest.mark.parametrize(
    ("rule", "targets", "blocked"),
    [
        pytest.param("aks-node-not-ready", (DEV,), DEV, id="cluster-pause"),
        pytest.param("prod-5xx", (), PROD, id="ring-pause"),
    ],
)
def test_a_resolved_for_an_unknown_instance_lifts_nothing_while_another_fires(
    api: Api, rule: str, targets: tuple[str, ...], blocked: str
) -> None:
    api.call("POST", "/api/alerts", alert(rule=rule, targets=targets, alert_id=SECOND))
    # The first instance resolved before its Fired arrived (or its Fired never came).
    early = alert(rule=rule, targets=targets, alert_id=FIRST, condition="Resolved")
    assert api.call("POST", "/api/alerts", early).body["verdict"] == "nothing_to_lift"
    assert len(pauses(api)) == 1
    assert all(f"alert {rule} firing" in r for r in plan_reasons(api, blocked))
    late = alert(rule=rule, targets=targets, alert_id=FIRST)
    assert api.call("POST", "/api/alerts", late).body["verdict"] == "stale"
    resolved = alert(rule=rule, targets=targets, alert_id=SECOND, condition="Resolved")
    assert api.call("POST", "/api/alerts", resolved).body["verdict"] == "resumed"
    assert pauses(api) == []


def with_id_in(case: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with its alertId in upper or lower case (ARM IDs ignore case)."""
    essentials = payload["data"]["essentials"]
    essentials["alertId"] = getattr(essentials["alertId"], case)()
    return payload


def test_a_resolved_spelling_its_rule_and_id_in_another_case_lifts_the_pause(api: Api) -> None:
    group = f"/subscriptions/{SUB}/resourceGroups/rg-mon"
    workspace = f"{group}/providers/Microsoft.OperationalInsights/workspaces/logs"
    fired = with_id_in("upper", alert(rule="Dev-Error-Budget", targets=(workspace,)))
    assert api.call("POST", "/api/alerts", fired).body["verdict"] == "paused"
    resolved = alert(rule="DEV-ERROR-BUDGET", targets=(workspace,), condition="Resolved")
    answer = api.call("POST", "/api/alerts", with_id_in("lower", resolved))
    assert answer.body["verdict"] == "resumed"
    assert pauses(api) == []
    assert not any("firing" in r for r in plan_reasons(api, STAGING))


def test_a_record_kept_under_the_alerts_own_spelling_of_its_id_is_still_resolved(
    api: Api,
) -> None:
    # Records written before instance keys ignored case sit under the alertId as sent.
    fired = alert()
    store = api.app.services.store
    now = api.app.clock.now()
    pause = store.add_pause("cluster", "Sev3 alert", "alert:aks-node-not-ready", now, target=DEV)
    record = {"state": "fired", "rule": "aks-node-not-ready", "pauses": [pause.id]}
    raw_id = fired["data"]["essentials"]["alertId"]
    store.put_snapshot(KIND, raw_id, json.dumps(record), now)
    assert api.call("POST", "/api/alerts", fired).body["verdict"] == "already_paused"
    resolved = api.call("POST", "/api/alerts", alert(condition="Resolved"))
    assert [p["id"] for p in resolved.body["pauses"]] == [pause.id]
    assert pauses(api) == []


@pytest.mark.parametrize(
    ("condition", "field", "value"),
    [
        pytest.param("Fired", "firedDateTime", "0001-01-01T00:00:00+05:00", id="fired-before-1"),
        pytest.param("Fired", "firedDateTime", "9999-12-31T23:00:00-02:00", id="fired-after-9999"),
        pytest.param(
            "Resolved", "resolvedDateTime", "0001-01-01T00:00:00+05:00", id="resolved-before-1"
        ),
    ],
)
def test_an_alert_time_that_is_no_utc_instant_is_a_400_naming_the_field(
    api: Api, condition: str, field: str, value: str
) -> None:
    payload = alert(condition=condition)
    payload["data"]["essentials"][field] = value
    answer = api.call("POST", "/api/alerts", payload)
    assert (answer.status, answer.code) == (400, "BadRequest")
    assert f"data.essentials.{field}" in answer.body["error"]["message"]
    assert pauses(api) == []


class DiesBeforeTheRecord:
    """The app's store, in a worker that dies after pausing but before saving the alert's record."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def put_snapshot(self, kind: str, key: str, body: str, now: Any) -> None:
        if kind == "alert":
            raise RuntimeError("worker killed")
        self._store.put_snapshot(kind, key, body, now)


def test_a_fired_whose_worker_died_before_its_record_is_redelivered_into_one_pause(
    api: Api,
) -> None:
    services = api.app.services
    dying = dataclasses.replace(services, store=DiesBeforeTheRecord(services.store))
    with pytest.raises(RuntimeError, match="worker killed"):
        handle_alert(dying, alert(), api.app.clock.now())
    assert len(pauses(api)) == 1  # paused, and no record says by whom
    # Azure Monitor retries a webhook that got no 2xx.

    again = api.call("POST", "/api/alerts", alert())
    assert again.body["verdict"] == "paused"
    assert len(pauses(api)) == 1
    resolved = api.call("POST", "/api/alerts", alert(condition="Resolved"))
    assert resolved.body["verdict"] == "resumed"
    assert pauses(api) == []
