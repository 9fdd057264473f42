"""Azure Monitor alerts: the common schema's typed view, the policy's alerts section, the gate."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from patchpilot.domain.alerts import (
    AlertRules,
    alert_actor,
    alert_rule_of,
    parse_alert,
    rule_key,
)
from patchpilot.domain.history import History, Pause
from patchpilot.domain.planner import plan
from patchpilot.domain.policy import parse_policy
from patchpilot.errors import InvalidInputError
from tests.events import load, names
from tests.factories import catalog, cluster, fleet, policy, policy_doc, utc

FIRED = "alerts-common-schema-test-action-definitions.metric-static-threshold-platform.fired"
RESOLVED = "alerts-common-schema.sample-alert-payload"


def test_every_real_sample_reads_as_an_alert() -> None:
    assert names("alerts-common-schema") == sorted([FIRED, RESOLVED])
    for name in names("alerts-common-schema"):
        assert parse_alert(load(name)).alert_id.startswith("/subscriptions/")


def test_a_fired_metric_alert_reads_every_essential() -> None:
    notice = parse_alert(load(FIRED))
    assert notice.fired
    assert (notice.rule, notice.severity, notice.signal_type) == (
        "test-metricAlertRule",
        "Sev3",
        "Metric",
    )
    assert notice.monitoring_service == "Platform"
    assert notice.fired_at == dt.datetime(2021, 11, 15, 9, 35, 24, 346850, tzinfo=dt.UTC)
    assert notice.target_ids == (
        "/subscriptions/11111111-1111-1111-1111-111111111111/resourcegroups/test-RG"
        "/providers/Microsoft.Storage/storageAccounts/test-storageAccount",
    )
    assert notice.resolved_at is None
    assert notice.description == "Alert rule description"


def test_a_resolved_alert_carries_its_resolution_time_and_rule_id() -> None:
    notice = parse_alert(load(RESOLVED))
    assert notice.condition == "Resolved"
    assert notice.resolved_at == dt.datetime(2019, 3, 22, 14, 3, 16, 224631, tzinfo=dt.UTC)
    assert notice.names == (
        "WCUS-R2-Gen2",
        "/subscriptions/<subscription ID>/resourceGroups/<resource-group>"
        "/providers/microsoft.insights/metricAlerts/WCUS-R2-Gen2",
    )


def broken(path: str, value: Any) -> dict[str, Any]:
    """The fired sample with one essentials field replaced (or removed when value is ...)."""
    payload: dict[str, Any] = copy.deepcopy(load(FIRED))
    essentials = payload["data"]["essentials"]
    if value is ...:
        del essentials[path]
    else:
        essentials[path] = value
    return payload


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        pytest.param([], "alert", id="not-an-object"),
        pytest.param({"schemaId": "Microsoft.Insights/activityLogs"}, "schemaId", id="schema"),
        pytest.param({"schemaId": "azureMonitorCommonAlertSchema"}, "data", id="no-data"),
        pytest.param(
            {"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": "x"}},
            "data.essentials",
            id="essentials",
        ),
        pytest.param(broken("alertId", ...), "alertId", id="no-id"),
        pytest.param(broken("alertRule", ""), "alertRule", id="empty-rule"),
        pytest.param(broken("monitorCondition", "Acked"), "monitorCondition", id="condition"),
        pytest.param(broken("firedDateTime", "2021-13-45"), "firedDateTime", id="time"),
        pytest.param(
            broken("firedDateTime", "0001-01-01T00:00:00+05:00"),
            "data.essentials.firedDateTime",
            id="before-year-1-in-utc",
        ),
        pytest.param(
            broken("firedDateTime", "9999-12-31T23:00:00-02:00"),
            "data.essentials.firedDateTime",
            id="after-year-9999-in-utc",
        ),
        pytest.param(broken("alertTargetIDs", "one"), "alertTargetIDs", id="targets"),
        pytest.param(broken("alertTargetIDs", [3]), "alertTargetIDs[0]", id="target-type"),
        pytest.param(broken("severity", "S" * 5000), "severity", id="huge"),
    ],
)  # fmt: skip
def test_anything_but_a_common_schema_alert_is_refused_naming_the_field(
    payload: Any, where: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_alert(payload)
    assert where in str(caught.value)


def test_a_resolution_time_that_is_no_utc_instant_is_refused_naming_the_field() -> None:
    payload: dict[str, Any] = copy.deepcopy(load(RESOLVED))
    payload["data"]["essentials"]["resolvedDateTime"] = "0001-01-01T00:00:00+05:00"
    with pytest.raises(InvalidInputError) as caught:
        parse_alert(payload)
    assert caught.value.path == "data.essentials.resolvedDateTime"


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        pytest.param("Prod-5XX", "prod-5xx", True, id="ascii-case"),
        pytest.param("\u212a8s-errors", "k8s-errors", False, id="kelvin-sign-is-not-k"),
        pytest.param("\u0130stanbul-slo", "istanbul-slo", False, id="dotted-capital-i-is-not-i"),
    ],
)
def test_rule_names_compare_as_arm_compares_them(one: str, other: str, same: bool) -> None:
    assert (rule_key(one) == rule_key(other)) is same
    assert (AlertRules(rules={other: "prod"}).rings_for([one]) == ("prod",)) is same


def test_an_alert_instance_is_known_by_its_id_ignoring_ascii_case() -> None:
    fired = parse_alert(load(FIRED))
    shouted = copy.deepcopy(load(FIRED))
    shouted["data"]["essentials"]["alertId"] = fired.alert_id.upper()
    assert parse_alert(shouted).key == fired.key == fired.alert_id.lower()


def test_alert_pauses_are_recognised_by_their_author() -> None:
    assert alert_actor("cpu-high") == "alert:cpu-high"
    assert alert_rule_of("alert:cpu-high") == "cpu-high"
    assert alert_rule_of("alice@contoso.com") is None


def test_rules_and_gates_name_the_rings_an_alert_pauses_ignoring_case() -> None:
    rules = AlertRules(
        rules={"prod-5xx": "prod", "/subscriptions/x/metricAlerts/cpu": "staging"},
        gates={"prod": ("dev-slo", "prod-5xx"), "staging": ("DEV-SLO",)},
    )
    assert rules.rings_for(["PROD-5XX"]) == ("prod",)
    assert rules.rings_for(["dev-slo"]) == ("prod", "staging")
    assert rules.rings_for(["other", "/subscriptions/x/metricAlerts/CPU"]) == ("staging",)
    assert rules.rings_for(["other"]) == ()


def test_the_policy_reads_an_alerts_section() -> None:
    doc = policy_doc(
        alerts={"rules": {"prod-5xx": {"ring": "PROD"}}, "gates": {"staging": ["dev-slo"]}}
    )
    policy = parse_policy(doc)
    assert policy.alerts.rules == {"prod-5xx": "prod"}
    assert policy.alerts.gates == {"staging": ("dev-slo",)}
    assert parse_policy(policy_doc()).alerts == AlertRules()


@pytest.mark.parametrize(
    ("alerts", "where"),
    [
        pytest.param({"rules": {"x": {"ring": "qa"}}}, "alerts.rules.x.ring", id="rule-ring"),
        pytest.param({"rules": {"x": "prod"}}, "alerts.rules.x", id="rule-shape"),
        pytest.param({"gates": {"qa": ["x"]}}, "alerts.gates.qa", id="gate-ring"),
        pytest.param({"gates": {"prod": [""]}}, "alerts.gates.prod[0]", id="gate-rule"),
        pytest.param({"gates": {"prod": "x"}}, "alerts.gates.prod", id="gate-list"),
        pytest.param({"mute": True}, "alerts.mute", id="unknown"),
    ],
)
def test_a_bad_alerts_section_is_refused_naming_the_field(alerts: Any, where: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_policy(policy_doc(alerts=alerts), source="policy.yaml")
    assert where in str(caught.value)


NEWER = catalog(
    kubernetes=[{"version": "1.32.6"}, {"version": "1.32.9"}, {"version": "1.33.2"}],
    ubuntu=["202511.03.0", "202511.17.0"],
)


def test_the_plan_says_which_alert_blocks_a_ring_even_behind_a_ring_gate() -> None:
    clusters = fleet([cluster("dev-1", "dev"), cluster("prod-1", "prod")], NEWER)
    pause = Pause("ring", "Sev1 Metric alert fired", "prod", alert_actor("prod-5xx"))
    result = plan(clusters, policy(), History(pauses=(pause,)), utc(2025, 11, 22, 1, 30))
    prod = [a for a in result.actions if a.ring == "prod"]
    assert prod
    assert all(a.reason.startswith("blocked: alert prod-5xx firing") for a in prod)
    assert not any("firing" in a.reason for a in result.actions if a.ring != "prod")


def test_aks_own_channel_still_outranks_a_firing_alert() -> None:
    managed = cluster("dev-1", "dev", auto_upgrade_channel="stable")
    pause = Pause("fleet", "Sev0 alert", None, alert_actor("outage"))
    result = plan(
        fleet([managed], NEWER), policy(), History(pauses=(pause,)), utc(2025, 11, 22, 1, 30)
    )
    control_plane = next(a for a in result.actions if a.pool is None)
    assert control_plane.reason == "blocked: managed by AKS auto-upgrade channel stable"
