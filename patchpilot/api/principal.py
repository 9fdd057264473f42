"""The Microsoft Entra principal App Service authentication passes in headers, read as sent.

With App Service authentication ("Easy Auth") on, the platform validates the
caller's token and adds `X-MS-CLIENT-PRINCIPAL-NAME`, `X-MS-CLIENT-PRINCIPAL-ID`
and `X-MS-CLIENT-PRINCIPAL` (base64 JSON: `auth_typ`, `name_typ`, `role_typ`
and `claims`, a list of `{typ, val}`; app roles arrive as `roles` claims);
it strips those headers from incoming requests, so only the platform sets
them ("Work with user identities in Azure App Service authentication",
learn.microsoft.com/azure/app-service/configure-authentication-user-identities).
Without it, anyone can send them: :mod:`patchpilot.api.roles` reads them
only when the platform says authentication is on. Values are clipped and
cleaned before they reach the store or a trace.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

NAME_HEADER: Final = "x-ms-client-principal-name"
ID_HEADER: Final = "x-ms-client-principal-id"
PRINCIPAL_HEADER: Final = "x-ms-client-principal"
IDP_HEADER: Final = "x-ms-client-principal-idp"
IDENTITY_HEADERS: Final = (NAME_HEADER, ID_HEADER, PRINCIPAL_HEADER, IDP_HEADER)
OBJECT_ID_CLAIM: Final = "http://schemas.microsoft.com/identity/claims/objectidentifier"
ROLE_CLAIM: Final = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
_MAX: Final = 256
_MAX_ROLES: Final = 50
_OBJECT_ID_CLAIMS: Final = (OBJECT_ID_CLAIM, "oid")
_ROLE_CLAIMS: Final = ("roles", ROLE_CLAIM)
_NAME_CLAIMS: Final = (
    "preferred_username",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "name",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
)
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    """A caller the platform authenticated: name, Entra object ID, app roles."""

    name: str
    object_id: str | None
    roles: frozenset[str]


def principal_from(headers: Mapping[str, str]) -> Principal | None:
    """The principal in the platform's headers, or None when they name nobody."""
    lowered = {key.lower(): value for key, value in headers.items()}
    document = _document(lowered.get(PRINCIPAL_HEADER))
    claims = document.get("claims")
    name = _clean(lowered.get(NAME_HEADER)) or _claimed_name(document)
    object_id = _clean(lowered.get(ID_HEADER)) or _first(claims, _OBJECT_ID_CLAIMS)
    if not name and not object_id:
        return None
    role_type = document.get("role_typ")
    role_types = (role_type, *_ROLE_CLAIMS) if isinstance(role_type, str) else _ROLE_CLAIMS
    return Principal(name or object_id or "", object_id, _all(claims, role_types))


def platform_headers(name: str, object_id: str, roles: tuple[str, ...]) -> dict[str, str]:
    """The identity headers Easy Auth sends for a signed-in caller (local front door, demo).

    Only meaningful on a platform with authentication on
    (:func:`patchpilot.api.roles.use_platform`); elsewhere they are ignored.
    """
    return {
        PRINCIPAL_HEADER: encode_principal(name, object_id, roles),
        NAME_HEADER: name,
        ID_HEADER: object_id,
        IDP_HEADER: "aad",
    }


def encode_principal(name: str, object_id: str, roles: tuple[str, ...]) -> str:
    """An `X-MS-CLIENT-PRINCIPAL` value as Easy Auth writes one (for the local front door)."""
    claims = [
        {"typ": "name", "val": name},
        {"typ": "preferred_username", "val": name},
        {"typ": OBJECT_ID_CLAIM, "val": object_id},
        *({"typ": "roles", "val": role} for role in roles),
    ]
    document = {"auth_typ": "aad", "name_typ": "name", "role_typ": "roles", "claims": claims}
    return base64.b64encode(json.dumps(document).encode()).decode()


def _document(header: str | None) -> dict[str, Any]:
    """The decoded X-MS-CLIENT-PRINCIPAL, or empty when absent or unreadable."""
    if not header:
        return {}
    try:
        decoded = json.loads(base64.b64decode(header + "=" * (-len(header) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        # Policy: a bad header is the platform's, not the caller's; fall back to the name header.
        _log.warning("ignored an unreadable X-MS-CLIENT-PRINCIPAL header")
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _claimed_name(document: Mapping[str, Any]) -> str | None:
    name_type = document.get("name_typ")
    wanted = (name_type, *_NAME_CLAIMS) if isinstance(name_type, str) else _NAME_CLAIMS
    return _first(document.get("claims"), wanted)


def _pairs(claims: object) -> list[tuple[object, str]]:
    if not isinstance(claims, list):
        return []
    return [
        (claim.get("typ"), claim["val"])
        for claim in claims
        if isinstance(claim, dict) and isinstance(claim.get("val"), str)
    ]


def _first(claims: object, types: tuple[str, ...]) -> str | None:
    """The value of the first claim type present, in the order of `types`."""
    values = dict(_pairs(claims))
    for claim_type in types:
        value = _clean(values.get(claim_type))
        if value:
            return value
    return None


def _all(claims: object, types: tuple[str, ...]) -> frozenset[str]:
    """Every value of the given claim types (app roles: one claim per role)."""
    found = {_clean(value) for kind, value in _pairs(claims) if kind in types}
    return frozenset(sorted(value for value in found if value)[:_MAX_ROLES])


def _clean(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    printable = "".join(ch for ch in value if ch.isprintable()).strip()
    return printable[:_MAX] or None
