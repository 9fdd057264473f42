"""The infrastructure agrees with the code: events, app settings, queues, timers, names.

Each side is read from where it lives. The Bicep side comes from pycep-parser's
reading of `infra/`; the code side from the registered Function App
(`function_app.app`), `patchpilot.settings`, `patchpilot.runtime`,
`patchpilot.domain.events` and `patchpilot.telemetry`; the local side from
`local.settings.sample.json`. pycep spells an identifier and a string literal
alike, so a value that names a parameter or variable is followed to its
definition.
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from pycep import BicepParser

from patchpilot import settings
from patchpilot.domain.aks_maintenance import MAINTENANCE_EVENT_TYPES
from patchpilot.domain.events import HANDLED_EVENT_TYPES
from patchpilot.domain.fleet_gates import GATE_EVENT_TYPES
from patchpilot.runtime import POISON_QUEUE, RECONCILE_QUEUE
from patchpilot.telemetry import instruments
from patchpilot.telemetry import setup as telemetry_setup

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MODULES = INFRA / "modules"

# Settings a local run needs and Azure must not get, each with the reason
# (infra/README.md documents the same list; a test below checks that it does).
LOCAL_ONLY = {
    "FUNCTIONS_WORKER_RUNTIME": "Flex Consumption takes the runtime from functionAppConfig.runtime "
    "and refuses this setting",
    settings.STORAGE: "a connection string for Azurite; Azure uses the identity-based "
    "AzureWebJobsStorage__* settings (shared keys are off)",
    settings.SQLITE_PATH: "the store is Table Storage in Azure",
    settings.ARM_CA_BUNDLE: "the local simulator's CA bundle; Azure trusts ARM's own certificate",
    settings.CREDENTIAL: "`static` is for the local simulator only; Azure uses the default "
    "(the managed identity named by AZURE_CLIENT_ID)",
}
# The identity-based form of the AzureWebJobsStorage connection, in Azure only.
IDENTITY_STORAGE = {
    settings.STORAGE_ACCOUNT,
    settings.STORAGE_TABLES,
    settings.STORAGE_QUEUES,
    f"{settings.STORAGE}__blobServiceUri",
    f"{settings.STORAGE}__credential",
    f"{settings.STORAGE}__clientId",
}
# Read by the Functions host, the Python worker or azure-identity rather than settings.py.
RUNTIME_READS = {
    telemetry_setup.FUNCTIONS_WORKER_RUNTIME,
    telemetry_setup.APPLICATIONINSIGHTS_CONNECTION_STRING,
    telemetry_setup.PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY,
    "AzureWebJobsFeatureFlags",
    "AZURE_CLIENT_ID",
    # The Functions host: a disabled function is not triggered (localhost.host.DISABLED_SETTING).
    "AzureWebJobs.follow_fleet_gates.Disabled",
}
CODE_READS = set(settings.KNOWN) | {settings.STORAGE} | RUNTIME_READS
METRICS = {
    value
    for name, value in vars(instruments).items()
    if name.isupper() and isinstance(value, str) and value.startswith("patchpilot.")
}


@functools.cache
def _parser() -> BicepParser:
    return BicepParser()


@functools.cache
def bicep(name: str) -> dict[str, Any]:
    """One Bicep file as pycep reads it (`main` or a module's name)."""
    path = INFRA / "main.bicep" if name == "main" else MODULES / f"{name}.bicep"
    return cast(dict[str, Any], _parser().parse(file_path=path))


def resolve(document: Mapping[str, Any], value: Any) -> Any:
    """A value, with a reference to a variable followed to the variable's value."""
    variables = document.get("variables") or {}
    if isinstance(value, str) and value in variables:
        return resolve(document, variables[value]["value"])
    return value


def resources_of(document: Mapping[str, Any], type_name: str) -> list[dict[str, Any]]:
    """The configurations of a file's resources of one type."""
    return [r["config"] for r in document["resources"].values() if r["type"] == type_name]


def site_config() -> dict[str, Any]:
    """The Function App resource's configuration."""
    (site,) = resources_of(bicep("function-app"), "Microsoft.Web/sites")
    return site


def app_settings() -> dict[str, Any]:
    """The app settings the Bicep gives the Function App, by name."""
    entries = site_config()["properties"]["siteConfig"]["appSettings"]
    names = [entry["name"] for entry in entries]
    assert len(names) == len(set(names)), f"an app setting is set twice: {sorted(names)}"
    return {entry["name"]: entry["value"] for entry in entries}


def sample_settings() -> dict[str, str]:
    """local.settings.sample.json's values."""
    values: dict[str, str] = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    return values


def main_default(module_param: str) -> Any:
    """The default of the main.bicep parameter that feeds one of function-app.bicep's."""
    main = bicep("main")
    passed = main["modules"]["functionApp"]["config"]["params"][module_param]
    return main["parameters"][passed]["default"]


@functools.cache
def bindings() -> dict[str, list[Any]]:
    """The trigger bindings of the app's registered functions, by function name.

    A fresh app, built as function_app.py builds its own from the blueprints:
    the Functions library refuses to index one app twice, and other tests index
    function_app.app.
    """
    import azure.functions as func

    from functions import BLUEPRINTS

    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    for blueprint in BLUEPRINTS:
        app.register_functions(blueprint)
    return {str(f.get_function_name()): list(f.get_bindings()) for f in app.get_functions()}


def bindings_of(kind: str) -> dict[str, Any]:
    """The bindings of one trigger type, by function name."""
    return {name: b for name, found in bindings().items() for b in found if b.type == kind}


# -- events ---------------------------------------------------------------------------------


def test_the_clusters_subscribe_to_exactly_the_event_types_the_code_handles() -> None:
    events = bicep("aks-events")
    (subscription,) = resources_of(events, "Microsoft.EventGrid/systemTopics/eventSubscriptions")

    subscribed = resolve(events, subscription["properties"]["filter"]["includedEventTypes"])

    assert isinstance(subscribed, list)
    assert len(subscribed) == len(set(subscribed))
    assert set(subscribed) == set(HANDLED_EVENT_TYPES)


# Each Event Grid function and the module whose subscription delivers to it:
# (module, topic type, function-app.bicep variable naming the function, its output).
EVENT_MODULES = {
    "aks-events": (
        "Microsoft.ContainerService.ManagedClusters",
        "eventFunctionName",
        "eventFunctionId",
    ),
    "fleet-gate-events": (
        "Microsoft.ResourceNotifications.AKSResources",
        "fleetGateFunctionName",
        "fleetGateFunctionId",
    ),
    "aks-maintenance-events": (
        "Microsoft.ResourceNotifications.ContainerServiceEventResources",
        "maintenanceFunctionName",
        "maintenanceFunctionId",
    ),
}


def test_every_event_grid_function_has_exactly_one_module_delivering_to_it() -> None:
    app = bicep("function-app")

    named = {resolve(app, variable) for _, variable, _ in EVENT_MODULES.values()}

    assert set(bindings_of("eventGridTrigger")) == named


def test_the_fleets_subscribe_to_exactly_the_gate_event_types_of_their_fleets() -> None:
    events = bicep("fleet-gate-events")
    (topic,) = resources_of(events, "Microsoft.EventGrid/systemTopics")
    (subscription,) = resources_of(events, "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    event_filter = subscription["properties"]["filter"]

    subscribed = resolve(events, event_filter["includedEventTypes"])
    (by_fleet,) = event_filter["advancedFilters"]

    assert set(subscribed) == set(GATE_EVENT_TYPES)
    assert len(subscribed) == len(set(subscribed))
    # AKS Resources events come from the whole subscription; the subject is the gate's ID.
    assert topic["location"] == "global"
    assert (by_fleet["operatorType"], by_fleet["key"]) == ("StringBeginsWith", "subject")
    prefixes = resolve(events, by_fleet["values"])
    assert prefixes["loop_type"]["detail"]["array_name"] == "fleetIds"
    assert prefixes["config"] == "${fleetId}/gates/"
    main = bicep("main")
    assert main["parameters"]["fleetIds"]["default"] == []
    assert "fleetIds" in json.loads((INFRA / "main.parameters.json").read_text())["parameters"]


def test_the_fleet_gate_follow_up_is_disabled_exactly_when_no_fleet_is_given() -> None:
    passed = bicep("main")["modules"]["functionApp"]["config"]["params"]["followFleetGates"]
    setting = app_settings()["AzureWebJobs.follow_fleet_gates.Disabled"]["operator"]

    assert passed["operator"]["type"] == "not"
    assert passed["operator"]["operands"]["bool_value"]["function"] == {
        "type": "empty",
        "parameters": {"item_to_test": "fleetIds"},
    }
    assert setting["type"] == "conditional"
    assert setting["operands"] == {
        "condition": "followFleetGates",
        "true_value": "false",
        "false_value": "true",
    }
    assert "follow_fleet_gates" in bindings_of("timerTrigger")


def test_each_managed_subscription_subscribes_to_exactly_the_maintenance_event_types() -> None:
    events = bicep("aks-maintenance-events")
    (subscription,) = resources_of(events, "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    (topic,) = resources_of(events, "Microsoft.EventGrid/systemTopics")

    subscribed = resolve(events, subscription["properties"]["filter"]["includedEventTypes"])

    assert subscribed == list(MAINTENANCE_EVENT_TYPES)
    assert topic["location"] == "global"
    loop = bicep("main")["modules"]["aksMaintenanceEvents"]["config"]["loop_type"]
    assert "uniqueSubscriptionIds" in json.dumps(loop)


@pytest.mark.parametrize("module", sorted(EVENT_MODULES))
def test_events_go_to_their_event_grid_function_with_retries_and_dead_letters(
    module: str,
) -> None:
    topic_type, variable, output = EVENT_MODULES[module]
    events = bicep(module)
    (topic,) = resources_of(events, "Microsoft.EventGrid/systemTopics")
    (subscription,) = resources_of(events, "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    properties = subscription["properties"]
    app = bicep("function-app")

    function = resolve(app, variable)

    assert topic["properties"]["topicType"] == topic_type
    assert properties["destination"]["endpointType"] == "AzureFunction"
    assert function in bindings_of("eventGridTrigger")
    assert app["outputs"][output]["value"].endswith(f"/functions/${{{variable}}}")
    assert properties["retryPolicy"]["maxDeliveryAttempts"] > 1
    dead_letter = properties["deadLetterWithResourceIdentity"]
    assert dead_letter["deadLetterDestination"]["endpointType"] == "StorageBlob"
    assert dead_letter["identity"]["type"] == "UserAssigned"


# -- app settings -----------------------------------------------------------------------------


def test_the_sample_lists_every_setting_the_code_reads_and_nothing_else() -> None:
    assert set(sample_settings()) == CODE_READS


def test_azure_gets_every_setting_the_code_reads_except_the_local_only_ones() -> None:
    expected = (CODE_READS - set(LOCAL_ONLY)) | IDENTITY_STORAGE

    assert set(app_settings()) == expected


def test_the_local_only_settings_are_documented_with_their_reasons() -> None:
    readme = (INFRA / "README.md").read_text()

    assert set(LOCAL_ONLY) <= set(sample_settings())
    assert [name for name in LOCAL_ONLY if f"`{name}`" not in readme] == []


def test_storage_is_reached_with_the_managed_identity_never_a_key() -> None:
    values = app_settings()

    assert settings.STORAGE not in values
    assert values[f"{settings.STORAGE}__credential"] == "managedidentity"
    assert values[f"{settings.STORAGE}__clientId"] == "identityClientId"
    assert values["AZURE_CLIENT_ID"] == "identityClientId"
    assert {b.connection for b in bindings_of("queueTrigger").values()} == {settings.STORAGE}


def test_the_fixed_values_in_azure_are_the_ones_the_sample_shows() -> None:
    values, sample = app_settings(), sample_settings()
    fixed = (
        settings.STORE,
        telemetry_setup.PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY,
        "AzureWebJobsFeatureFlags",
    )

    assert {name: values[name] for name in fixed} == {name: sample[name] for name in fixed}


def test_the_app_runs_python_3_11_on_flex_consumption() -> None:
    site = site_config()
    (plan,) = resources_of(bicep("function-app"), "Microsoft.Web/serverfarms")
    runtime = site["properties"]["functionAppConfig"]["runtime"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())

    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert runtime == {
        "name": sample_settings()["FUNCTIONS_WORKER_RUNTIME"],
        "version": pyproject["tool"]["mypy"]["python_version"],
    }
    assert site["properties"]["httpsOnly"] is True
    assert site["properties"]["siteConfig"]["ftpsState"] == "Disabled"


def test_basic_publishing_credentials_are_off_for_ftp_and_scm() -> None:
    policies = resources_of(
        bicep("function-app"), "Microsoft.Web/sites/basicPublishingCredentialsPolicies"
    )

    assert {p["name"]: p["properties"]["allow"] for p in policies} == {"ftp": False, "scm": False}


# -- queues and timers ------------------------------------------------------------------------


def test_the_queues_are_the_ones_the_code_and_its_triggers_use() -> None:
    storage = bicep("storage")
    queues = resources_of(storage, "Microsoft.Storage/storageAccounts/queueServices/queues")
    triggered = {b.queue_name for b in bindings_of("queueTrigger").values()}

    declared = {resolve(storage, q["name"]) for q in queues}

    assert declared == {RECONCILE_QUEUE, POISON_QUEUE} == triggered


@pytest.mark.parametrize(
    ("setting", "default", "module_param"),
    [
        pytest.param(
            settings.SWEEP_SCHEDULE, settings.DEFAULT_SWEEP_SCHEDULE, "sweepSchedule", id="sweep"
        ),
        pytest.param(
            settings.WINDOWS_SCHEDULE,
            settings.DEFAULT_WINDOWS_SCHEDULE,
            "windowsSchedule",
            id="windows",
        ),
        pytest.param(
            settings.RETENTION_SCHEDULE,
            settings.DEFAULT_RETENTION_SCHEDULE,
            "retentionSchedule",
            id="retention",
        ),
        pytest.param(
            settings.FLEET_GATES_SCHEDULE,
            settings.DEFAULT_FLEET_GATES_SCHEDULE,
            "fleetGatesSchedule",
            id="fleet gates",
        ),
    ],
)
def test_each_timer_schedule_is_one_setting_with_the_same_default_everywhere(
    setting: str, default: str, module_param: str
) -> None:
    timers = {b.schedule for b in bindings_of("timerTrigger").values()}

    assert f"%{setting}%" in timers
    assert app_settings()[setting] == module_param
    assert main_default(module_param) == default
    assert sample_settings()[setting] == default


def test_every_timer_reads_its_schedule_from_a_setting_azure_sets() -> None:
    schedules = {b.schedule for b in bindings_of("timerTrigger").values()}

    assert {s.strip("%") for s in schedules} <= set(app_settings())
    assert all(re.fullmatch(r"%[A-Z_]+%", s) for s in schedules)


# -- telemetry, parameters, azd ---------------------------------------------------------------


def test_alerts_and_the_workbook_read_only_metrics_the_app_emits() -> None:
    text = {name: (MODULES / f"{name}.bicep").read_text() for name in ("alerts", "workbook")}
    used = {name: set(re.findall(r'"(patchpilot\.[a-z_.]+)"', body)) for name, body in text.items()}

    assert used["alerts"] | used["workbook"] <= METRICS
    assert {
        instruments.UPGRADES_FAILED,
        instruments.POISON_MESSAGES,
        instruments.PATCH_LAG,
    } <= used["alerts"]
    assert instruments.POOLS_BEHIND in used["workbook"]


def test_the_parameters_file_fills_main_bicep_and_holds_no_secret() -> None:
    parameters = bicep("main")["parameters"]
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    required = {name for name, p in parameters.items() if "default" not in p}
    text = json.dumps(given)

    assert set(given) <= set(parameters)
    assert required <= set(given)
    assert not re.search(r"(?i)(password|secret|key=|sig=|AccountKey)", text)


def test_azd_deploys_this_directory_as_the_tagged_function_app() -> None:
    manifest = yaml.safe_load((ROOT / "azure.yaml").read_text())
    tags = site_config()["tags"]["function"]["parameters"]["arg_2"]

    assert manifest["services"] == {
        "patchpilot": {"project": ".", "language": "python", "host": "function"}
    }
    assert manifest["infra"]["path"] == "infra"
    assert tags == {"'azd-service-name'": "patchpilot"}
