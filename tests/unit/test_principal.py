"""Who asked: the Entra principal from App Service authentication headers, else the key."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from patchpilot.api.principal import operator_from
from patchpilot.service.operator import Operator

OID = "http://schemas.microsoft.com/identity/claims/objectidentifier"


def principal(**document: Any) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({}, Operator("function key", "function key"), id="no-headers"),
        pytest.param(
            {"X-MS-CLIENT-PRINCIPAL-NAME": "alice@contoso.com", "X-MS-CLIENT-PRINCIPAL-ID": "o1"},
            Operator("alice@contoso.com", "entra", "o1"),
            id="name-header",
        ),
        pytest.param(
            {
                "x-ms-client-principal": principal(
                    auth_typ="aad",
                    name_typ="preferred_username",
                    claims=[
                        {"typ": "preferred_username", "val": "bob@contoso.com"},
                        {"typ": OID, "val": "o2"},
                    ],
                )
            },
            Operator("bob@contoso.com", "entra", "o2"),
            id="claims",
        ),
        pytest.param(
            {"X-MS-CLIENT-PRINCIPAL": principal(claims=[{"typ": "name", "val": "Carol"}])},
            Operator("Carol", "entra"),
            id="name-claim",
        ),
        pytest.param(
            {"X-MS-CLIENT-PRINCIPAL": "%%% not base64"},
            Operator("function key", "function key"),
            id="unreadable",
        ),
        pytest.param(
            {"X-MS-CLIENT-PRINCIPAL": principal(claims="nope")},
            Operator("function key", "function key"),
            id="claims-not-a-list",
        ),
        pytest.param(
            {"X-MS-CLIENT-PRINCIPAL-NAME": "  \x00\x1b  "},
            Operator("function key", "function key"),
            id="control-characters",
        ),
    ],
)
def test_the_operator_is_the_entra_principal_when_app_service_sends_one(
    headers: dict[str, str], expected: Operator
) -> None:
    assert operator_from(headers) == expected


def test_a_huge_principal_name_is_clipped() -> None:
    operator = operator_from({"X-MS-CLIENT-PRINCIPAL-NAME": "a" * 10_000})
    assert len(operator.name) == 256
