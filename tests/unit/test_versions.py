"""Kubernetes versions: parsing, order, AKS channels, single-minor hops and skew."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patchpilot.domain.versions import (
    CHANNELS,
    DEFAULT_MAX_SKEW_MINORS,
    KubernetesVersion,
    OfferedVersion,
    UpgradeChannel,
    channel_target,
    minor_distance,
    next_step,
    skew_allows,
)
from patchpilot.errors import InvalidInputError

FIXTURE = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "fixtures"
    / "azure-rest-api-specs"
    / "containerservice"
    / "2026-08-01"
    / "KubernetesVersions_List.json"
)

# The shape of ManagedClusters_ListKubernetesVersions (api-version 2026-08-01),
# copied from the fixture so the tests run where the shared folder is absent.
KUBERNETES_VERSIONS_LIST: dict[str, object] = {
    "values": [
        {
            "capabilities": {"supportPlan": ["KubernetesOfficial"]},
            "patchVersions": {
                "1.23.12": {"upgrades": ["1.23.15", "1.24.6", "1.24.9"]},
                "1.23.15": {"upgrades": ["1.24.6", "1.24.9"]},
            },
            "version": "1.23",
        },
        {
            "capabilities": {"supportPlan": ["KubernetesOfficial"]},
            "isDefault": True,
            "patchVersions": {
                "1.24.6": {"upgrades": ["1.24.9", "1.25.4", "1.25.5"]},
                "1.24.9": {"upgrades": ["1.25.4", "1.25.5"]},
            },
            "version": "1.24",
        },
        {
            "capabilities": {"supportPlan": ["KubernetesOfficial"]},
            "patchVersions": {
                "1.25.4": {"upgrades": ["1.25.5", "1.26.0"]},
                "1.25.5": {"upgrades": ["1.26.0"]},
            },
            "version": "1.25",
        },
        {
            "capabilities": {"supportPlan": ["KubernetesOfficial"]},
            "isPreview": True,
            "patchVersions": {"1.26.0": {"upgrades": []}},
            "version": "1.26",
        },
    ]
}


def v(text: str) -> KubernetesVersion:
    return KubernetesVersion.parse(text)


def offered_from_list(body: dict[str, object]) -> list[OfferedVersion]:
    """Flatten a ListKubernetesVersions body: AKS marks preview per minor."""
    values = body["values"]
    assert isinstance(values, list)
    return [
        OfferedVersion(v(patch), preview=bool(minor.get("isPreview", False)))
        for minor in values
        for patch in minor["patchVersions"]
    ]


def ga(*texts: str) -> list[OfferedVersion]:
    return [OfferedVersion(v(t)) for t in texts]


def preview(*texts: str) -> list[OfferedVersion]:
    return [OfferedVersion(v(t), preview=True) for t in texts]


OFFERED = offered_from_list(KUBERNETES_VERSIONS_LIST)


def test_the_embedded_list_matches_the_azure_rest_api_specs_example() -> None:
    if not FIXTURE.exists():
        pytest.skip(f"shared fixture not found at {FIXTURE}")
    body = json.loads(FIXTURE.read_text(encoding="utf-8"))["responses"]["200"]["body"]
    assert offered_from_list(body) == OFFERED


# Parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("1.33.2", KubernetesVersion(1, 33, 2), id="plain"),
        pytest.param("v1.33.2", KubernetesVersion(1, 33, 2), id="leading-v"),
        pytest.param(" 1.30.0\n", KubernetesVersion(1, 30, 0), id="surrounding-space"),
        pytest.param("1.27.100", KubernetesVersion(1, 27, 100), id="three-digit-patch"),
    ],
)
def test_parse_reads_exact_versions(text: str, expected: KubernetesVersion) -> None:
    assert KubernetesVersion.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param("1.33", "minor version alone", id="minor-alone"),
        pytest.param("v1.33", "minor version alone", id="minor-alone-with-v"),
        pytest.param("latest", "not a Kubernetes version", id="garbage"),
        pytest.param("", "not a Kubernetes version", id="empty"),
        pytest.param("1.33.2.1", "not a Kubernetes version", id="four-parts"),
        pytest.param("1..2", "not a Kubernetes version", id="empty-part"),
        pytest.param("-1.33.2", "negative", id="negative-major"),
        pytest.param("1.-33.2", "negative", id="negative-minor"),
        pytest.param("1.33.-2", "negative", id="negative-patch"),
        pytest.param("1.33.2-rc.1", "suffix", id="prerelease-suffix"),
        pytest.param("1.33.2+aks", "suffix", id="build-suffix"),
        pytest.param("1.٣.2", "not a Kubernetes version", id="non-ascii-digit"),
    ],
)
def test_parse_refuses_anything_but_an_exact_version(text: str, says: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        KubernetesVersion.parse(text)
    assert says in str(caught.value)
    assert "1.33.2" in str(caught.value)


def test_parse_error_names_where_the_bad_version_sits() -> None:
    with pytest.raises(InvalidInputError) as caught:
        KubernetesVersion.parse("1.33", source="fleet.yaml", path="clusters[0].kubernetes_version")
    assert caught.value.source == "fleet.yaml"
    assert caught.value.path == "clusters[0].kubernetes_version"
    assert str(caught.value).startswith("fleet.yaml: clusters[0].kubernetes_version: '1.33'")


def test_parse_explains_an_unquoted_yaml_number() -> None:
    with pytest.raises(InvalidInputError, match="quote it in YAML"):
        KubernetesVersion.parse(1.33)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        pytest.param((1, -1, 0), "minor must not be negative", id="negative"),
        pytest.param((1, True, 0), "minor must be a whole number", id="bool"),
        pytest.param((1, 33, "2"), "patch must be a whole number", id="text"),
    ],
)
def test_a_version_is_validated_when_built_directly(fields: tuple[object, ...], says: str) -> None:
    with pytest.raises(InvalidInputError, match=says):
        KubernetesVersion(*fields)  # type: ignore[arg-type]


def test_versions_order_by_number_not_by_text() -> None:
    texts = ["1.10.0", "1.9.11", "1.9.2", "1.33.10", "1.33.9", "2.0.0"]
    ordered = [str(x) for x in sorted(v(t) for t in texts)]
    assert ordered == ["1.9.2", "1.9.11", "1.10.0", "1.33.9", "1.33.10", "2.0.0"]


def test_minor_version_is_major_and_minor() -> None:
    assert v("1.33.2").minor_version == (1, 33)


def test_str_prints_the_version_without_the_v() -> None:
    assert str(v("v1.33.2")) == "1.33.2"


def test_offered_version_refuses_a_string_version() -> None:
    with pytest.raises(InvalidInputError, match="must be a KubernetesVersion"):
        OfferedVersion("1.33.2")  # type: ignore[arg-type]


def test_channels_are_the_aks_kubernetes_channels() -> None:
    assert CHANNELS == ("none", "patch", "stable", "rapid")


# Channels, on the AKS ListKubernetesVersions example: GA 1.23 to 1.25, preview 1.26


@pytest.mark.parametrize(
    ("channel", "current", "allow_preview", "expected"),
    [
        pytest.param("patch", "1.23.12", False, "1.23.15", id="patch-latest-of-own-minor"),
        pytest.param("patch", "1.24.6", True, "1.24.9", id="patch-ignores-newer-minors"),
        pytest.param("patch", "1.23.15", False, None, id="patch-already-latest"),
        pytest.param("stable", "1.23.12", False, "1.24.9", id="stable-is-n-minus-1-of-ga"),
        pytest.param("stable", "1.23.12", True, "1.25.5", id="stable-counts-preview-n"),
        pytest.param("stable", "1.24.6", False, "1.24.9", id="stable-at-n-minus-1"),
        pytest.param("stable", "1.25.4", False, "1.25.5", id="stable-past-n-minus-1"),
        pytest.param("stable", "1.25.5", False, None, id="stable-past-and-latest"),
        pytest.param("rapid", "1.23.12", False, "1.25.5", id="rapid-is-latest-ga"),
        pytest.param("rapid", "1.23.12", True, "1.26.0", id="rapid-takes-allowed-preview"),
        pytest.param("rapid", "1.25.5", False, None, id="rapid-already-there"),
        pytest.param("rapid", "1.26.0", False, None, id="rapid-on-preview-never-down"),
        pytest.param("none", "1.23.12", True, None, id="none-never-moves"),
    ],
)
def test_channel_target_follows_the_aks_channel_definitions(
    channel: UpgradeChannel, current: str, allow_preview: bool, expected: str | None
) -> None:
    target = channel_target(channel, v(current), OFFERED, allow_preview=allow_preview)
    assert target == (v(expected) if expected else None)


# The example in the AKS UpgradeChannel reference: a cluster on 1.17.7 with
# 1.17.9, 1.18.4, 1.18.6 and 1.19.1 available.
DOCS_EXAMPLE = ga("1.17.7", "1.17.9", "1.18.4", "1.18.6", "1.19.1")


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        pytest.param("patch", "1.17.9", id="patch"),
        pytest.param("stable", "1.18.6", id="stable"),
        pytest.param("rapid", "1.19.1", id="rapid"),
    ],
)
def test_channel_target_matches_the_aks_documentation_example(
    channel: UpgradeChannel, expected: str
) -> None:
    assert channel_target(channel, v("1.17.7"), DOCS_EXAMPLE, allow_preview=False) == v(expected)


def test_rapid_from_n_minus_2_goes_through_the_latest_n_minus_1_first() -> None:
    target = channel_target("rapid", v("1.17.7"), DOCS_EXAMPLE, allow_preview=False)
    assert target is not None
    first = next_step(v("1.17.7"), target, DOCS_EXAMPLE, allow_preview=False)
    assert first == v("1.18.6")
    assert next_step(v("1.18.6"), target, DOCS_EXAMPLE, allow_preview=False) == v("1.19.1")


def test_patch_channel_stays_on_the_current_minor() -> None:
    offered = ga("1.30.1", "1.30.4", "1.31.2", "1.32.0")
    assert channel_target("patch", v("1.30.1"), offered, allow_preview=False) == v("1.30.4")


def test_preview_patches_of_the_current_minor_count_only_when_allowed() -> None:
    offered = [*ga("1.30.1"), *preview("1.30.2")]
    assert channel_target("patch", v("1.30.1"), offered, allow_preview=False) is None
    assert channel_target("patch", v("1.30.1"), offered, allow_preview=True) == v("1.30.2")


def test_patch_channel_gives_nothing_when_the_own_minor_is_no_longer_offered() -> None:
    offered = ga("1.31.2", "1.32.0")
    assert channel_target("patch", v("1.29.9"), offered, allow_preview=False) is None


def test_stable_with_a_single_offered_minor_keeps_the_own_minor() -> None:
    offered = ga("1.32.0", "1.32.3")
    assert channel_target("stable", v("1.32.0"), offered, allow_preview=False) == v("1.32.3")


def test_channel_target_with_nothing_offered_is_none() -> None:
    for channel in ("patch", "stable", "rapid"):
        assert channel_target(channel, v("1.30.0"), [], allow_preview=True) is None


def test_channel_target_refuses_an_unknown_channel() -> None:
    with pytest.raises(InvalidInputError, match="unknown channel 'node-image'"):
        channel_target("node-image", v("1.30.0"), OFFERED, allow_preview=False)  # type: ignore[arg-type]


def test_channel_target_accepts_any_iterable_once() -> None:
    target = channel_target("rapid", v("1.23.12"), iter(OFFERED), allow_preview=False)
    assert target == v("1.25.5")


# Single hops


CHAIN = ga("1.30.3", "1.30.7", "1.31.1", "1.31.5", "1.32.0", "1.32.4", "1.33.2", "1.33.6", "1.34.0")


def test_next_step_chain_moves_one_minor_at_a_time_to_the_latest_patches() -> None:
    current, target = v("1.30.3"), v("1.34.0")
    hops = []
    while (step := next_step(current, target, CHAIN, allow_preview=False)) is not None:
        hops.append(str(step))
        current = step
    assert hops == ["1.31.5", "1.32.4", "1.33.6", "1.34.0"]


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [
        pytest.param("1.30.3", "1.30.7", "1.30.7", id="same-minor-goes-to-target"),
        pytest.param("1.30.3", "1.31.1", "1.31.1", id="next-minor-stops-at-target-not-latest"),
        pytest.param("1.30.3", "1.32.0", "1.31.5", id="two-minors-away-takes-latest-next"),
        pytest.param("1.30.7", "1.30.7", None, id="already-at-target"),
        pytest.param("1.32.4", "1.31.5", None, id="target-below-is-no-downgrade"),
        pytest.param("1.30.7", "1.30.3", None, id="lower-patch-is-no-downgrade"),
    ],
)
def test_next_step_takes_one_hop_toward_the_target(
    current: str, target: str, expected: str | None
) -> None:
    step = next_step(v(current), v(target), CHAIN, allow_preview=False)
    assert step == (v(expected) if expected else None)


def test_next_step_is_none_when_the_next_minor_is_not_offered() -> None:
    offered = ga("1.28.9", "1.30.2", "1.31.0")
    assert next_step(v("1.28.9"), v("1.31.0"), offered, allow_preview=False) is None


def test_next_step_uses_a_preview_next_minor_only_when_allowed() -> None:
    offered = [*ga("1.30.2"), *preview("1.31.0", "1.31.1"), *ga("1.32.0")]
    assert next_step(v("1.30.2"), v("1.32.0"), offered, allow_preview=False) is None
    assert next_step(v("1.30.2"), v("1.32.0"), offered, allow_preview=True) == v("1.31.1")


def test_next_step_refuses_to_plan_across_majors() -> None:
    with pytest.raises(InvalidInputError, match="across major versions"):
        next_step(v("1.34.0"), v("2.0.0"), ga("2.0.0"), allow_preview=False)


# Distance and skew


def test_minor_distance_counts_minors_ahead() -> None:
    assert minor_distance(v("1.28.9"), v("1.31.0")) == 3
    assert minor_distance(v("1.31.0"), v("1.31.9")) == 0
    assert minor_distance(v("1.31.0"), v("1.29.9")) == -2


def test_minor_distance_refuses_different_majors() -> None:
    with pytest.raises(InvalidInputError, match=r"1\.34\.0 and 2\.0\.0"):
        minor_distance(v("1.34.0"), v("2.0.0"))


def test_default_skew_is_the_two_minors_the_aks_api_enforces() -> None:
    assert DEFAULT_MAX_SKEW_MINORS == 2


@pytest.mark.parametrize(
    ("pool", "control_plane", "max_minors", "allowed"),
    [
        pytest.param("1.32.4", "1.32.4", 2, True, id="same-version"),
        pytest.param("1.32.1", "1.32.4", 2, True, id="older-patch"),
        pytest.param("1.32.5", "1.32.4", 2, False, id="newer-patch-than-control-plane"),
        pytest.param("1.33.0", "1.32.4", 2, False, id="newer-minor-than-control-plane"),
        pytest.param("1.30.0", "1.32.4", 2, True, id="two-minors-behind"),
        pytest.param("1.29.9", "1.32.4", 2, False, id="three-minors-behind-default"),
        pytest.param("1.29.9", "1.32.4", 3, True, id="three-minors-behind-when-policy-allows"),
        pytest.param("1.31.0", "1.32.4", 0, False, id="zero-skew-policy"),
        pytest.param("1.34.0", "2.0.0", 3, False, id="different-major"),
    ],
)
def test_skew_allows_follows_the_aks_rules(
    pool: str, control_plane: str, max_minors: int, allowed: bool
) -> None:
    assert skew_allows(v(pool), v(control_plane), max_minors=max_minors) is allowed


@pytest.mark.parametrize(
    "max_minors",
    [
        pytest.param(-1, id="negative"),
        pytest.param(4, id="past-kubernetes"),
        pytest.param(True, id="bool"),
    ],
)
def test_skew_refuses_a_limit_aks_would_never_honour(max_minors: int) -> None:
    with pytest.raises(InvalidInputError, match="max_minors"):
        skew_allows(v("1.30.0"), v("1.30.0"), max_minors=max_minors)


# Properties

versions = st.builds(
    KubernetesVersion,
    major=st.just(1),
    minor=st.integers(min_value=20, max_value=36),
    patch=st.integers(min_value=0, max_value=12),
)
offered_lists = st.lists(
    st.builds(OfferedVersion, version=versions, preview=st.booleans()), max_size=25
)


@given(
    version=st.builds(
        KubernetesVersion, st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6)
    )
)
def test_str_then_parse_gives_back_the_same_version(version: KubernetesVersion) -> None:
    assert KubernetesVersion.parse(str(version)) == version


@given(text=st.text(max_size=20))
def test_parse_never_crashes_on_any_text(text: str) -> None:
    with contextlib.suppress(InvalidInputError):
        assert isinstance(KubernetesVersion.parse(text), KubernetesVersion)


@given(
    channel=st.sampled_from(CHANNELS),
    current=versions,
    offered=offered_lists,
    allow_preview=st.booleans(),
)
def test_channel_target_is_never_at_or_below_current(
    channel: UpgradeChannel,
    current: KubernetesVersion,
    offered: list[OfferedVersion],
    allow_preview: bool,
) -> None:
    target = channel_target(channel, current, offered, allow_preview=allow_preview)
    assert target is None or target > current
    if target is not None:
        usable = {o.version for o in offered if allow_preview or not o.preview}
        assert target in usable


@given(current=versions, target=versions, offered=offered_lists, allow_preview=st.booleans())
def test_next_step_never_skips_a_minor_nor_downgrades(
    current: KubernetesVersion,
    target: KubernetesVersion,
    offered: list[OfferedVersion],
    allow_preview: bool,
) -> None:
    step = next_step(current, target, offered, allow_preview=allow_preview)
    if step is None:
        return
    assert current < step <= target
    assert minor_distance(current, step) in (0, 1)


@given(
    current=versions,
    offered=offered_lists,
    allow_preview=st.booleans(),
    channel=st.sampled_from(CHANNELS),
)
def test_walking_next_steps_reaches_the_channel_target_or_stops_with_a_reason(
    current: KubernetesVersion,
    offered: list[OfferedVersion],
    allow_preview: bool,
    channel: UpgradeChannel,
) -> None:
    target = channel_target(channel, current, offered, allow_preview=allow_preview)
    if target is None:
        return
    position = current
    while (step := next_step(position, target, offered, allow_preview=allow_preview)) is not None:
        assert minor_distance(position, step) <= 1
        position = step
    if position != target:
        missing = (position.major, position.minor + 1)
        usable = {o.version.minor_version for o in offered if allow_preview or not o.preview}
        assert missing not in usable
