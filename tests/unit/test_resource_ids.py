"""Resource IDs from outside are parsed strictly; scopes compare whole segments."""

from __future__ import annotations

import pytest

from patchpilot.domain.resource_ids import (
    ascii_key,
    in_scopes,
    is_pool_name,
    parse_cluster_id,
    parse_scope,
    region_key,
    resource_name,
)
from patchpilot.errors import InvalidInputError
from tests.factories import SUB, cluster_id


def test_cluster_id_round_trips_and_compares_case_insensitively() -> None:
    parsed = parse_cluster_id(cluster_id("prod-1", "rg-Prod"))
    assert (parsed.resource_group, parsed.name) == ("rg-Prod", "prod-1")
    assert str(parsed) == cluster_id("prod-1", "rg-Prod")
    assert parse_cluster_id(
        cluster_id("prod-1").upper().replace("MANAGEDCLUSTERS", "managedClusters")
    ).key == (parse_cluster_id(cluster_id("prod-1")).key)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(cluster_id("a") + "/agentPools/x", id="child-resource"),
        pytest.param(cluster_id("a") + "/", id="trailing-slash"),
        pytest.param(cluster_id("a").replace("/rg/", "/rg/../other/"), id="dot-dot"),
        pytest.param(cluster_id("a").replace("/rg/", "//"), id="empty-segment"),
        pytest.param(cluster_id("a%2F..%2Fb"), id="encoded-slash"),
        pytest.param(cluster_id("a").replace(SUB, "not-a-guid"), id="bad-subscription"),
        pytest.param("/subscriptions/" + SUB, id="scope-not-cluster"),
        pytest.param(cluster_id("a") + "\n", id="newline"),
        pytest.param("x" * 10_000, id="huge"),
        pytest.param("", id="empty"),
    ],
)
def test_malformed_cluster_ids_are_refused(text: str) -> None:
    with pytest.raises(InvalidInputError, match="not a managed cluster resource ID"):
        parse_cluster_id(text)


def test_non_string_id_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="got int"):
        parse_cluster_id(42)


def test_scopes_match_whole_segments_only() -> None:
    scopes = (parse_scope(f"/subscriptions/{SUB}/resourceGroups/rg"),)
    assert in_scopes(parse_cluster_id(cluster_id("a", "rg")), scopes)
    assert not in_scopes(parse_cluster_id(cluster_id("a", "rg2")), scopes)
    assert in_scopes(parse_cluster_id(cluster_id("a", "RG")), scopes)


@pytest.mark.parametrize(
    ("text", "longest", "expected"),
    [
        pytest.param("system", 12, True, id="linux-pool"),
        pytest.param("win22", 12, True, id="windows-pool"),
        pytest.param("UserPool1", 12, True, id="upper-case-addresses-the-same-pool"),
        pytest.param("abcdefghijkl", 12, True, id="twelve-characters"),
        pytest.param("abcdefghijklm", 12, False, id="thirteen-characters"),
        pytest.param("abcdefghijklm", 64, True, id="an-event-keeps-its-64-bound"),
        pytest.param("1pool", 12, False, id="starts-with-a-digit"),
        pytest.param("pool-1", 12, False, id="dash"),
        pytest.param("pool/..", 12, False, id="path-trick"),
        pytest.param("po\u0131l", 12, False, id="dotless-i-is-not-ascii"),
        pytest.param("", 12, False, id="empty"),
        pytest.param(7, 12, False, id="not-a-string"),
    ],
)
def test_the_aks_pool_name_rule(text: object, longest: int, expected: bool) -> None:
    assert is_pool_name(text, longest=longest) is expected


def test_region_key_is_one_spelling_of_a_region() -> None:
    assert region_key("West Europe") == region_key("westeurope") == "westeurope"


def test_a_cluster_id_names_its_key_and_name_without_reparsing() -> None:
    upper = parse_cluster_id(cluster_id("Prod-1", "RG"))

    assert (upper.key, upper.name) == (ascii_key(cluster_id("Prod-1", "RG")), "Prod-1")
    assert resource_name(str(upper)) == upper.name
