"""Who may do what: roles from the platform's principal, key holders, reserved names."""

from __future__ import annotations

import pytest

from patchpilot.api.errors import ForbiddenError, UnauthenticatedError
from patchpilot.api.principal import encode_principal
from patchpilot.api.roles import (
    APP_ROLES,
    ROUTE_ROLES,
    Platform,
    Role,
    caller,
    require,
)
from patchpilot.service.operator.requester import Operator

ON, OFF = Platform(auth_enabled=True), Platform(auth_enabled=False)


def signed_in(name: str, *roles: Role, oid: str = "o1") -> dict[str, str]:
    return {
        "X-MS-CLIENT-PRINCIPAL": encode_principal(name, oid, tuple(APP_ROLES[r] for r in roles))
    }


def allowed(operator: Operator, role: Role) -> bool:
    try:
        require(operator, role)
    except ForbiddenError:
        return False
    return True


@pytest.mark.parametrize(
    ("roles", "may"),
    [
        pytest.param((), set(), id="no-role"),
        pytest.param(("read",), {"read"}, id="reader"),
        pytest.param(("stop",), {"read", "stop"}, id="stopper"),
        pytest.param(("operate",), {"read", "stop", "operate"}, id="operator"),
        pytest.param(("force",), {"read", "stop", "operate", "force"}, id="forcer"),
        pytest.param(("alert",), {"alert"}, id="alert-only"),
        pytest.param(("read", "alert"), {"read", "alert"}, id="two-roles"),
    ],
)
def test_a_role_includes_the_ones_below_it_and_nothing_else(
    roles: tuple[Role, ...], may: set[str]
) -> None:
    operator = caller("api_status", signed_in("ann@contoso.com", *roles), ON)
    assert {role for role in APP_ROLES if allowed(operator, role)} == may


def test_a_person_is_named_by_object_id_and_name_and_the_role_used() -> None:
    operator = require(caller("api_add_pause", signed_in("ann@contoso.com", "operate"), ON), "stop")
    assert operator.name == "entra:o1 ann@contoso.com"
    assert operator.actor == "entra:o1 ann@contoso.com (stop)"
    assert operator.object_id == "o1"


def test_without_platform_authentication_the_headers_are_ignored() -> None:
    spoofed = signed_in("ceo@contoso.com", "force")
    operator = caller("api_add_pause", spoofed, OFF)
    assert operator.name == "function key: api_add_pause"
    assert operator.via == "function key"
    assert allowed(operator, "stop")
    assert not allowed(operator, "operate")


@pytest.mark.parametrize("function", sorted(ROUTE_ROLES))
def test_a_function_key_opens_its_own_route_and_never_force(function: str) -> None:
    operator = caller(function, {}, OFF)
    assert allowed(operator, ROUTE_ROLES[function])
    with pytest.raises(ForbiddenError, match=r"PatchPilot\.Force"):
        require(operator, "force")


def test_with_platform_authentication_a_people_route_needs_a_principal() -> None:
    with pytest.raises(UnauthenticatedError):
        caller("api_status", {}, ON)
    # The alert webhook keeps its own key: no principal means its key holder.
    assert caller("api_alert", {}, ON).name == "function key: api_alert"


@pytest.mark.parametrize(
    "name",
    ["alert:prod-5xx", "ALERT:x", "patchpilot", "aks-event", "function key: api_alert", "entra:x"],
)
def test_names_of_patch_pilots_own_actors_are_refused(name: str) -> None:
    with pytest.raises(ForbiddenError, match="reserved"):
        caller("api_add_pause", signed_in(name, "stop"), ON)


def test_a_refusal_names_the_role_needed() -> None:
    reader = caller("api_delete_pause", signed_in("ann@contoso.com", "stop"), ON)
    with pytest.raises(ForbiddenError, match=r"operate role.*PatchPilot\.Operate") as refused:
        require(reader, "operate")
    assert refused.value.role == "operate"
