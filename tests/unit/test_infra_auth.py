"""The Bicep agrees with the code on who may call what: Easy Auth, the app roles, the alert webhook.

Read as tests/unit/test_infra_contract.py reads it (pycep-parser): App
Service authentication is on by default and refuses unauthenticated calls,
leaving only the alert route to its own function key; the app roles the
registration script creates are the roles `patchpilot.api.roles` checks;
the action group calls the alert function with that function's own key
(never a host key), in the common alert schema, with an Entra token when
the secure webhook is configured.
"""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from patchpilot.api.roles import APP_ROLES, KEY_FUNCTIONS, ROUTE_ROLES
from tests.unit.test_infra_contract import INFRA, bicep, bindings_of, resolve, resources_of

APP_ROLES_FILE = INFRA / "entra" / "app-roles.json"


def auth_settings() -> dict[str, Any]:
    (config,) = resources_of(bicep("function-app"), "Microsoft.Web/sites/config")
    assert config["name"] == "authsettingsV2"
    properties: dict[str, Any] = config["properties"]
    return properties


def conditional(value: Any) -> dict[str, Any]:
    operands: dict[str, Any] = value["operator"]["operands"]
    assert value["operator"]["type"] == "conditional"
    return operands


def test_app_service_authentication_is_on_by_default_and_refuses_the_unauthenticated() -> None:
    app, main = bicep("function-app"), bicep("main")
    settings = auth_settings()
    validation = settings["globalValidation"]
    entra = settings["identityProviders"]["azureActiveDirectory"]

    assert settings["platform"]["enabled"] == "enableAuthentication"
    assert app["parameters"]["enableAuthentication"]["default"] is True
    assert main["parameters"]["enableAuthentication"]["default"] is True
    assert main["modules"]["functionApp"]["config"]["params"]["enableAuthentication"] == (
        "enableAuthentication"
    )
    assert (validation["requireAuthentication"], validation["unauthenticatedClientAction"]) == (
        True,
        "Return401",
    )
    assert entra["enabled"] is True
    assert entra["registration"]["clientId"] == "apiClientId"
    assert entra["registration"]["openIdIssuer"].endswith("${tenant().tenantId}/v2.0")
    assert set(entra["validation"]["allowedAudiences"]) == {"apiIdentifierUri", "apiClientId"}
    assert settings["httpSettings"]["requireHttps"] is True


def test_only_event_grid_and_the_alert_route_without_a_secure_webhook_skip_easy_auth() -> None:
    app = bicep("function-app")
    excluded = conditional(auth_settings()["globalValidation"]["excludedPaths"])
    routes = {
        name: binding.route
        for name, binding in bindings_of("httpTrigger").items()
        if name in KEY_FUNCTIONS
    }

    event_grid = "/runtime/webhooks/eventgrid"  # its own system key; Event Grid sends no token
    assert excluded["condition"] == "alertsUseToken"
    assert [resolve(app, p) for p in excluded["true_value"]] == [event_grid]
    assert [resolve(app, p) for p in excluded["false_value"]] == [
        *(f"/api/{route}" for route in routes.values()),
        event_grid,
    ]
    assert resolve(app, "alertFunctionName") in KEY_FUNCTIONS


def test_people_routes_are_anonymous_to_the_host_only_behind_easy_auth() -> None:
    levels = {name: b.auth_level for name, b in bindings_of("httpTrigger").items()}

    assert set(levels) == set(ROUTE_ROLES)
    # This process has no WEBSITE_AUTH_ENABLED: every route needs a key, failing closed.
    assert set(levels.values()) == {func.AuthLevel.FUNCTION}


def test_the_app_roles_are_the_ones_the_code_checks() -> None:
    roles = json.loads(APP_ROLES_FILE.read_text())
    by_value = {role["value"]: role for role in roles}

    assert set(by_value) == set(APP_ROLES.values())
    assert len({role["id"] for role in roles}) == len(roles)
    assert all(role["isEnabled"] for role in roles)
    # Azure Monitor's service principal gets the alert role; people never need it.
    assert by_value[APP_ROLES["alert"]]["allowedMemberTypes"] == ["Application"]
    for dangerous in ("operate", "force"):
        assert by_value[APP_ROLES[dangerous]]["allowedMemberTypes"] == ["User"]


def test_the_action_group_calls_the_alert_function_with_its_own_key() -> None:
    alerts = bicep("alerts")
    (group,) = resources_of(alerts, "Microsoft.Insights/actionGroups")
    receivers = conditional(group["properties"]["webhookReceivers"])
    (webhook_ref,) = receivers["true_value"]
    webhook = resolve(alerts, webhook_ref)
    (function,) = resources_of(alerts, "Microsoft.Web/sites/functions")
    main_params = bicep("main")["modules"]["alerts"]["config"]["params"]

    assert receivers["condition"] == "wireAlertWebhook"
    assert main_params["wireAlertWebhook"] == "subscribeAksEvents"
    assert webhook["serviceUri"] == (
        "https://${functionHostName}${alertRoute}?code=${alertFunction.listKeys().default}"
    )
    assert function["name"] == "${functionAppName}/${alertFunctionName}"
    assert alerts["parameters"]["alertFunctionName"]["default"] in KEY_FUNCTIONS
    assert webhook["useCommonAlertSchema"] is True


def test_the_secure_webhook_asks_for_a_token_for_the_apps_own_registration() -> None:
    alerts = bicep("alerts")
    webhook = resolve(alerts, "alertWebhook")
    main = bicep("main")

    assert webhook["useAadAuth"] == "useAadAuth"
    # useAadAuth = !empty(apiObjectId): a token only once the registration's object ID is given.
    negated = alerts["variables"]["useAadAuth"]["value"]["operator"]
    assert negated["type"] == "not"
    assert negated["operands"]["bool_value"]["function"] == {
        "type": "empty",
        "parameters": {"item_to_test": "apiObjectId"},
    }
    assert conditional(webhook["objectId"])["true_value"] == "apiObjectId"
    assert conditional(webhook["identifierUri"])["true_value"] == "apiIdentifierUri"
    assert "tenant" in json.dumps(conditional(webhook["tenantId"])["true_value"])
    assert main["modules"]["alerts"]["config"]["params"]["apiIdentifierUri"] == "apiAudience"
    assert main["modules"]["functionApp"]["config"]["params"]["apiIdentifierUri"] == "apiAudience"
