"""Who may do what: the route -> role table, the caller as the platform vouches for it, 401 and 403.

People hold app roles of Patch Pilot's Entra app registration; each HTTP
function needs one role (:data:`ROUTE_ROLES`), and a role includes the ones
below it (:data:`INCLUDES`): reading is harmless, stopping (a pause) is
safe, operating (resume, a manual upgrade inside the rules) changes what
runs, forcing (`force: true`) lifts windows and freezes. The alert webhook
has a role of its own that opens nothing else.

Who the caller is (:func:`caller`) depends on what the platform says
(:class:`Platform`, from `WEBSITE_AUTH_ENABLED`):

- App Service authentication on: the principal in the platform's headers
  (:mod:`.principal`) with its app roles; none, and the route is a people's
  route, is a 401. A principal whose name collides with Patch Pilot's own
  actors (``alert:...``, the reconcile's ``patchpilot``, ``aks-event``) is
  refused (403), so a pause's `by` never lies about who made it.
- Off: the identity headers are ignored (anyone could have sent them). The
  Functions host has checked a function key, so the caller is
  ``function key: <function>`` and holds exactly what that route needs,
  never `force`: lifting a freeze takes a named person.

Called by :func:`patchpilot.api.exchange.answer` for every request.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Final, Literal

from patchpilot.api.errors import ForbiddenError, UnauthenticatedError
from patchpilot.api.principal import Principal, principal_from
from patchpilot.service.operator.requester import FUNCTION_KEY, Operator

Role = Literal["read", "stop", "operate", "force", "alert"]
ROLES: Final[tuple[Role, ...]] = ("read", "stop", "operate", "force", "alert")
# The app roles' values in the app registration (the `roles` claim of a token).
APP_ROLES: Final[dict[Role, str]] = {
    "read": "PatchPilot.Read",
    "stop": "PatchPilot.Stop",
    "operate": "PatchPilot.Operate",
    "force": "PatchPilot.Force",
    "alert": "PatchPilot.Alert",
}
# What each role includes: whoever may force may operate, stop and read.
INCLUDES: Final[dict[Role, frozenset[Role]]] = {
    "read": frozenset({"read"}),
    "stop": frozenset({"read", "stop"}),
    "operate": frozenset({"read", "stop", "operate"}),
    "force": frozenset({"read", "stop", "operate", "force"}),
    "alert": frozenset({"alert"}),
}
# The role each HTTP function needs (`force: true` on api_upgrade needs "force" too).
ROUTE_ROLES: Final[dict[str, Role]] = {
    "api_status": "read",
    "api_plan": "read",
    "api_openapi": "read",
    "api_list_pauses": "read",
    "api_shadow_report": "read",
    "api_add_pause": "stop",
    "api_delete_pause": "operate",
    "api_upgrade": "operate",
    "api_alert": "alert",
}
# Machine callers that cannot always get a token: their function keeps its own key
# at the Functions host even with App Service authentication on.
KEY_FUNCTIONS: Final = frozenset({"api_alert"})
# Actors Patch Pilot writes itself (alerts' `alert:<rule>`, the reconcile's failure
# pauses, AKS events' failure pauses) and the prefixes of the names this module makes.
RESERVED_PREFIXES: Final = ("alert:", "entra:", FUNCTION_KEY)
RESERVED_NAMES: Final = frozenset({"patchpilot", "patch pilot", "aks-event"})


@dataclass(frozen=True)
class Platform:
    """What the hosting platform says about the request's credentials."""

    auth_enabled: bool


_platform: ContextVar[Platform | None] = ContextVar("patchpilot_platform", default=None)


def current_platform() -> Platform:
    """The platform a local front door installed, else this process's own settings."""
    from patchpilot.settings import platform_auth_enabled

    return _platform.get() or Platform(platform_auth_enabled())


@contextmanager
def use_platform(platform: Platform) -> Iterator[Platform]:
    """Answer requests as on `platform` (the local front door, tests)."""
    token = _platform.set(platform)
    try:
        yield platform
    finally:
        _platform.reset(token)


def caller(function: str, headers: Mapping[str, str], platform: Platform) -> Operator:
    """Who is calling `function`, as far as the platform vouches (see the module docstring)."""
    if not platform.auth_enabled:
        return key_holder(function)
    principal = principal_from(headers)
    if principal is None:
        if function in KEY_FUNCTIONS:
            return key_holder(function)
        raise UnauthenticatedError(
            "sign in: send a Microsoft Entra token for Patch Pilot's app "
            "(Authorization: Bearer ...; `patchpilot status --app URL` gets one)"
        )
    return _person(principal)


def key_holder(function: str) -> Operator:
    """The holder of `function`'s key: what that route needs, never force."""
    role = ROUTE_ROLES.get(function)
    granted = INCLUDES[role] - {"force"} if role else frozenset()
    return Operator(f"{FUNCTION_KEY}: {function}", "function key", granted=granted)


def require(operator: Operator, role: Role) -> Operator:
    """The operator, marked as acting with `role`; :class:`ForbiddenError` without it."""
    if role in operator.granted:
        return replace(operator, role=role)
    if operator.via == "function key" and role == "force":
        raise ForbiddenError(
            f"force: true needs the force role ({APP_ROLES['force']}), which only a signed-in "
            "person can hold: a function key never lifts windows or freezes",
            role,
        )
    raise ForbiddenError(
        f"{operator.name} lacks the {role} role: this needs the app role {APP_ROLES[role]} "
        "(or one that includes it) on Patch Pilot's app registration",
        role,
    )


def reserved(name: str) -> bool:
    """Whether a name collides with an actor Patch Pilot writes itself."""
    folded = name.strip().casefold()
    return folded in RESERVED_NAMES or folded.startswith(RESERVED_PREFIXES)


def _person(principal: Principal) -> Operator:
    if reserved(principal.name):
        raise ForbiddenError(
            f"the name {principal.name[:60]!r} is reserved for Patch Pilot's own actors "
            "(alerts, the reconcile, AKS events); sign in with a person's account"
        )
    granted = frozenset(
        included
        for role, value in APP_ROLES.items()
        if value in principal.roles
        for included in INCLUDES[role]
    )
    who = f"entra:{principal.object_id} {principal.name}" if principal.object_id else None
    return Operator(who or f"entra:{principal.name}", "entra", principal.object_id, None, granted)
