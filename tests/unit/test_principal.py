"""The platform's principal as sent: name, object ID and app roles from Easy Auth's headers."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from patchpilot.api.principal import (
    OBJECT_ID_CLAIM,
    ROLE_CLAIM,
    Principal,
    encode_principal,
    principal_from,
)


def principal(**document: Any) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({}, None, id="no-headers"),
        pytest.param(
            {"X-MS-CLIENT-PRINCIPAL-NAME": "alice@contoso.com", "X-MS-CLIENT-PRINCIPAL-ID": "o1"},
            Principal("alice@contoso.com", "o1", frozenset()),
            id="name-header",
        ),
        pytest.param(
            {
                "x-ms-client-principal": principal(
                    auth_typ="aad",
                    name_typ="preferred_username",
                    role_typ=ROLE_CLAIM,
                    claims=[
                        {"typ": "preferred_username", "val": "bob@contoso.com"},
                        {"typ": OBJECT_ID_CLAIM, "val": "o2"},
                        {"typ": "roles", "val": "PatchPilot.Stop"},
                        {"typ": ROLE_CLAIM, "val": "PatchPilot.Read"},
                    ],
                )
            },
            Principal("bob@contoso.com", "o2", frozenset({"PatchPilot.Stop", "PatchPilot.Read"})),
            id="claims-and-roles",
        ),
        pytest.param(
            {"X-MS-CLIENT-PRINCIPAL": principal(claims=[{"typ": "name", "val": "Carol"}])},
            Principal("Carol", None, frozenset()),
            id="name-claim",
        ),
        pytest.param({"X-MS-CLIENT-PRINCIPAL": "%%% not base64"}, None, id="unreadable"),
        pytest.param(
            {"X-MS-CLIENT-PRINCIPAL": principal(claims="nope")}, None, id="claims-not-a-list"
        ),
        pytest.param({"X-MS-CLIENT-PRINCIPAL-NAME": "  \x00\x1b  "}, None, id="control-chars"),
    ],
)
def test_the_principal_is_read_from_the_platforms_headers(
    headers: dict[str, str], expected: Principal | None
) -> None:
    assert principal_from(headers) == expected


def test_a_huge_principal_name_is_clipped() -> None:
    found = principal_from({"X-MS-CLIENT-PRINCIPAL-NAME": "a" * 10_000})
    assert found is not None
    assert len(found.name) == 256


def test_the_local_front_doors_principal_reads_back_as_sent() -> None:
    header = encode_principal("dana@contoso.com", "o3", ("PatchPilot.Operate",))
    assert principal_from({"X-MS-CLIENT-PRINCIPAL": header}) == Principal(
        "dana@contoso.com", "o3", frozenset({"PatchPilot.Operate"})
    )
