"""The custom roles hold exactly the actions the adapter's ARM calls need.

Three sides must agree. The table (`patchpilot.adapters.arm.permissions`) maps
each operation to its actions; the Bicep roles load
`infra/modules/role-actions.json`, which must be the table's rendering byte for
byte; and the operations the adapter calls are read here from the source of the
gateway and of discovery, independently of the table: every Azure SDK call
there (``client.<group>.<method>(...)``) is named by the REST operation it sends,
``<Group>_<Method>`` as the SDK generates it from the spec's operationId. The
integration test `tests/integration/test_infra_permissions.py` derives the same
set a third way, from the requests the simulator served.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from pycep import BicepParser

from patchpilot.adapters.arm import permissions
from patchpilot.adapters.arm.permissions import PERMISSIONS

ROOT = Path(__file__).resolve().parents[2]
ROLE_ACTIONS = ROOT / "infra" / "modules" / "role-actions.json"
ROLE_DEFINITIONS = ROOT / "infra" / "modules" / "role-definitions.bicep"
SOURCES = (
    ROOT / "patchpilot" / "adapters" / "arm" / "gateway.py",
    ROOT / "patchpilot" / "adapters" / "discovery.py",
    ROOT / "patchpilot" / "adapters" / "fleet_gates.py",
)
# SDK calls that are not `client.<group>.<method>`: the operation each one sends.
DIRECT_CALLS = {
    # ResourceGraphClient.resources: the spec's operationId is "Resources".
    "resources": "Resources",
    # discovery.graph_page POSTs the same Resources request through the Resource Graph
    # client's pipeline (its generated `_send_request`), to read the rows as JSON.
    "_send_request": "Resources",
    # The gateway GETs an operation's status URL through the client's pipeline.
    "send_request": "AsyncOperation_Get",
}
# Client calls that send no request (closing the client's connections).
LOCAL_CALLS = frozenset({"close"})
_ACTION = re.compile(r"Microsoft\.[A-Za-z]+(/[A-Za-z]+)+/(read|write|action)")


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def _sdk_operation(call: ast.Call) -> str | None:
    """The REST operation an SDK call sends: client.agent_pools.begin_x -> AgentPools_X."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    target = func.value
    if isinstance(target, ast.Name) and target.id == "client":
        if func.attr in LOCAL_CALLS:
            return None
        return DIRECT_CALLS.get(func.attr, f"unknown direct client call {func.attr}")
    if (
        isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id == "client"
    ):
        return f"{_camel(target.attr)}_{_camel(func.attr.removeprefix('begin_'))}"
    return None


@functools.cache
def sdk_operations() -> frozenset[str]:
    """The operations the gateway's and discovery's SDK calls send, read from their source."""
    found = set()
    for source in SOURCES:
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Call) and (operation := _sdk_operation(node)):
                found.add(operation)
    return frozenset(found)


def reported_operations() -> set[str]:
    """The operation names the gateway passes to `_call` and `_start` (its telemetry)."""
    tree = ast.parse(SOURCES[0].read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("_call", "_start")
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def parse(path: Path) -> dict[str, Any]:
    """A Bicep file as pycep reads it."""
    return cast(dict[str, Any], BicepParser().parse(file_path=path))


def role_definitions() -> dict[str, dict[str, Any]]:
    """The Bicep role definitions, by resource name."""
    document = parse(ROLE_DEFINITIONS)
    variables = document["variables"]
    return {
        name: {"config": r["config"], "variables": variables}
        for name, r in document["resources"].items()
        if r["type"] == "Microsoft.Authorization/roleDefinitions"
    }


def test_the_table_covers_exactly_the_operations_the_adapter_calls() -> None:
    assert sdk_operations() == permissions.operations()


def test_the_gateway_reports_each_call_under_the_operation_it_sends() -> None:
    fleet = {p.operation for p in PERMISSIONS if p.scope == "fleet"}

    assert reported_operations() == sdk_operations() - {"Resources"} - fleet


def test_the_fleet_adapter_reports_each_call_under_the_operation_it_sends() -> None:
    tree = ast.parse(SOURCES[2].read_text())
    reported = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "_call"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }

    assert reported == {p.operation for p in PERMISSIONS if p.scope == "fleet"}


def test_the_committed_role_actions_are_the_tables_rendering() -> None:
    assert ROLE_ACTIONS.read_text() == permissions.render_role_actions()


def test_the_module_prints_the_role_actions_file() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "patchpilot.adapters.arm.permissions"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert printed == ROLE_ACTIONS.read_text()


def test_each_bicep_role_holds_one_list_of_the_file_and_nothing_more() -> None:
    roles = role_definitions()
    loaded = {}

    for role in roles.values():
        (permission,) = role["config"]["properties"]["permissions"]
        accessor = permission["actions"]["operator"]["operands"]
        source = role["variables"][accessor["operand_1"]]["value"]["function"]
        assert source["type"] == "load_json_content"
        assert source["parameters"]["file_path"] == ROLE_ACTIONS.name
        assert [permission[k] for k in ("notActions", "dataActions", "notDataActions")] == [[]] * 3
        loaded[accessor["operand_2"]] = role["config"]["properties"]["type"]

    assert loaded == {"cluster": "CustomRole", "subscription": "CustomRole", "fleet": "CustomRole"}
    assert set(json.loads(ROLE_ACTIONS.read_text())) == set(permissions.SCOPES)


def test_each_role_keeps_to_its_kind_of_resource_and_no_action_is_a_wildcard() -> None:
    actions = permissions.role_actions()
    aks = "Microsoft.ContainerService/managedClusters/"

    assert all(a.startswith(aks) for a in actions["cluster"])
    assert all(a.endswith("/read") for a in actions["subscription"])
    # The gate approver reads gates and runs and writes gates: nothing else of a fleet.
    assert actions["fleet"] == [
        "Microsoft.ContainerService/fleets/gates/read",
        "Microsoft.ContainerService/fleets/gates/write",
        "Microsoft.ContainerService/fleets/updateRuns/read",
    ]
    assert not [a for listed in actions.values() for a in listed if "*" in a]


def test_every_row_names_real_looking_actions_and_a_reason() -> None:
    operations = [p.operation for p in PERMISSIONS]

    assert len(operations) == len(set(operations))
    assert all(p.actions and p.why for p in PERMISSIONS)
    assert [a for p in PERMISSIONS for a in p.actions if not _ACTION.fullmatch(a)] == []


def test_an_operation_outside_the_table_is_refused_by_name() -> None:
    with pytest.raises(KeyError, match="ManagedClusters_Delete"):
        permissions.actions_for(["AgentPools_Get", "ManagedClusters_Delete"])


def test_the_actions_of_a_call_come_from_its_row() -> None:
    assert permissions.actions_for(["AsyncOperation_Get"]) == {
        "Microsoft.ContainerService/locations/operations/read",
        "Microsoft.ContainerService/locations/operationresults/read",
    }


def _accessor_path(value: Any) -> list[str]:
    """`roles.outputs.operatorRoleName` as pycep nests it, flattened to its names."""
    if isinstance(value, str):
        return [value]
    operands = value["operator"]["operands"]
    return [operands["operand_1"], *_accessor_path(operands["operand_2"])]


@pytest.mark.parametrize(
    ("module", "target", "array", "role"),
    [
        pytest.param(
            "operatorOnSubscriptions",
            "subscription",
            "managedScopes",
            "operatorRoleName",
            id="operator-on-subscription-scopes",
        ),
        pytest.param(
            "operatorOnResourceGroups",
            "resourceGroup",
            "managedScopes",
            "operatorRoleName",
            id="operator-on-resource-group-scopes",
        ),
        pytest.param(
            "regionReaderOnSubscriptions",
            "subscription",
            "uniqueSubscriptionIds",
            "regionReaderRoleName",
            id="region-reader-on-their-subscriptions",
        ),
        pytest.param(
            "fleetGateApprover",
            "resourceGroup",
            "fleetIds",
            "fleetGateApproverRoleName",
            id="fleet-gate-approver-on-each-fleet",
        ),
    ],
)
def test_each_role_is_assigned_to_the_app_where_its_actions_are_checked(
    module: str, target: str, array: str, role: str
) -> None:
    declared = parse(ROOT / "infra" / "main.bicep")["modules"][module]
    body = declared["config"]
    assignment = parse(ROOT / "infra" / declared["detail"]["path"])

    assert assignment["globals"]["scope"]["value"] == target
    assert body["loop_type"]["detail"]["array_name"] == array
    assert _accessor_path(body["config"]["params"]["roleDefinitionName"]) == [
        "roles",
        "outputs",
        role,
    ]
    assert _accessor_path(body["config"]["params"]["principalId"]) == [
        "identity",
        "outputs",
        "appPrincipalId",
    ]


def test_the_fleet_role_is_assigned_on_the_fleet_itself_not_its_resource_group() -> None:
    module = parse(ROOT / "infra" / "modules" / "role-assignment-fleet.bicep")
    (assignment,) = [
        r
        for r in module["resources"].values()
        if r["type"] == "Microsoft.Authorization/roleAssignments"
    ]
    (fleet,) = [
        r for r in module["resources"].values() if r["type"] == "Microsoft.ContainerService/fleets"
    ]

    assert assignment["config"]["scope"] == "fleet"
    assert fleet["existing"] is True
