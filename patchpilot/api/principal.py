"""Who is calling: the Microsoft Entra principal App Service authentication passes in headers.

With App Service authentication ("Easy Auth") on, the platform validates the
caller's token and adds `X-MS-CLIENT-PRINCIPAL-NAME`, `X-MS-CLIENT-PRINCIPAL-ID`
and `X-MS-CLIENT-PRINCIPAL` (base64 JSON with the claims); it strips those
headers from incoming requests, so only the platform sets them. Without it,
the caller is known only as the holder of the function key. Values are
clipped and cleaned before they reach the store or a trace.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping
from typing import Any, Final

from patchpilot.service.operator import ANONYMOUS, Operator

NAME_HEADER: Final = "x-ms-client-principal-name"
ID_HEADER: Final = "x-ms-client-principal-id"
PRINCIPAL_HEADER: Final = "x-ms-client-principal"
_MAX: Final = 256
_OBJECT_ID_CLAIMS: Final = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
_NAME_CLAIMS: Final = (
    "preferred_username",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "name",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
)
_log = logging.getLogger(__name__)


def operator_from(headers: Mapping[str, str]) -> Operator:
    """The Entra principal when App Service authentication sent one, else "function key"."""
    lowered = {key.lower(): value for key, value in headers.items()}
    claims = _claims(lowered.get(PRINCIPAL_HEADER))
    name = _clean(lowered.get(NAME_HEADER)) or _claimed_name(claims)
    object_id = _clean(lowered.get(ID_HEADER)) or _first(claims.get("claims"), _OBJECT_ID_CLAIMS)
    if not name:
        return ANONYMOUS
    return Operator(name, "entra", object_id)


def _claims(header: str | None) -> dict[str, Any]:
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


def _claimed_name(principal: Mapping[str, Any]) -> str | None:
    name_type = principal.get("name_typ")
    wanted = (name_type, *_NAME_CLAIMS) if isinstance(name_type, str) else _NAME_CLAIMS
    return _first(principal.get("claims"), wanted)


def _first(claims: object, types: tuple[str, ...]) -> str | None:
    """The value of the first claim type present, in the order of `types`."""
    if not isinstance(claims, list):
        return None
    values = {
        claim.get("typ"): claim.get("val")
        for claim in claims
        if isinstance(claim, dict) and isinstance(claim.get("val"), str)
    }
    for claim_type in types:
        value = _clean(values.get(claim_type))
        if value:
            return value
    return None


def _clean(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    printable = "".join(ch for ch in value if ch.isprintable()).strip()
    return printable[:_MAX] or None
