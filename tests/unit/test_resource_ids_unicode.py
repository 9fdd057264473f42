"""Resource IDs and scopes compare as ARM names do: ASCII only, ASCII case ignored.

Unicode case folding makes look-alikes equal (the Kelvin sign lower-cases to
`k`, `re.IGNORECASE` matches the long s to `s`), so a non-ASCII ID or scope
is refused before any scope check can be fooled by it.
"""

from __future__ import annotations

import pytest

from patchpilot.domain.resource_ids import (
    ClusterId,
    ascii_key,
    in_scopes,
    parse_cluster_id,
    parse_scope,
)
from patchpilot.errors import InvalidInputError
from tests.factories import SUB, cluster_id

KELVIN = "\u212a"
LONG_S = "\u017f"
DOTTED_I = "\u0130"
SCOPE = parse_scope(f"/subscriptions/{SUB}/resourceGroups/rg-kube")


@pytest.mark.parametrize(
    ("text", "char"),
    [
        pytest.param(cluster_id("prod-1", f"rg-{KELVIN}ube"), "U+212A", id="kelvin-in-group"),
        pytest.param(cluster_id(f"{KELVIN}8s", "rg-kube"), "U+212A", id="kelvin-in-name"),
        pytest.param(
            cluster_id("prod-1", "rg-kube").replace("/subscriptions/", f"/{LONG_S}ubscriptions/"),
            "U+017F",
            id="long-s-in-subscriptions",
        ),
        pytest.param(cluster_id("prod-1", f"rg-{DOTTED_I}t"), "U+0130", id="dotted-capital-i"),
        pytest.param(cluster_id("prod-1", "rg-caf\u00e9"), "U+00E9", id="accented-letter"),
    ],
)
def test_a_cluster_id_with_a_non_ascii_character_is_refused_naming_it(text: str, char: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_cluster_id(text, path="cluster")
    assert caught.value.path == "cluster"
    assert char in str(caught.value)
    assert "ASCII" in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"/subscriptions/{SUB}/resourceGroups/rg-{KELVIN}ube", id="kelvin"),
        pytest.param(f"/{LONG_S}ubscriptions/{SUB}", id="long-s"),
        pytest.param(f"/subscriptions/{SUB}/resourceGroups/\u0440\u0433", id="cyrillic"),
    ],
)
def test_a_scope_with_a_non_ascii_character_is_refused(text: str) -> None:
    with pytest.raises(InvalidInputError, match="not ASCII"):
        parse_scope(text, path="scopes[0]")


def test_a_scope_that_is_not_text_is_refused_by_its_type() -> None:
    huge = [["lol"] * 1000] * 1000
    with pytest.raises(InvalidInputError) as caught:
        parse_scope(huge, path="scopes[0]")
    assert str(caught.value) == "scopes[0]: expected a scope string, got list"


def test_keys_fold_ascii_case_only() -> None:
    assert ascii_key("/Subscriptions/RG-Kube") == "/subscriptions/rg-kube"
    assert ascii_key(f"rg-{KELVIN}ube") == f"rg-{KELVIN}ube"
    assert ascii_key(f"{DOTTED_I}") == DOTTED_I


def test_a_look_alike_group_is_never_inside_the_scope_it_imitates() -> None:
    # Built directly, past the parser: the scope check itself must not fold Unicode.
    look_alike = ClusterId(SUB, f"rg-{KELVIN}ube", "prod-1")
    assert not in_scopes(look_alike, (SCOPE,))
    assert in_scopes(parse_cluster_id(cluster_id("prod-1", "RG-KUBE")), (SCOPE,))
