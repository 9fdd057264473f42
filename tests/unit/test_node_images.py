"""Node image names: every form AKS writes, build dates, order within a family, errors."""

from __future__ import annotations

import contextlib
import csv
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patchpilot.domain.node_images import (
    NodeImageVersion,
    parse_node_image,
    parse_node_image_version,
)
from patchpilot.errors import InvalidInputError

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def read_rows(name: str) -> list[dict[str, str]]:
    """Rows of a shared/data CSV, or a skip when the shared folder is absent."""
    path = DATA / name
    if not path.exists():
        pytest.skip(f"shared data not found at {path}")
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize(
    ("text", "family", "version", "os_type", "built"),
    [
        pytest.param(
            "AKSUbuntu-2204gen2containerd-202511.17.0",
            "AKSUbuntu-2204gen2containerd",
            "202511.17.0",
            "Linux",
            date(2025, 11, 17),
            id="ubuntu-full-family",
        ),
        pytest.param(
            "AKSWindows-2022-containerd-20348.4405.251112",
            "AKSWindows-2022-containerd",
            "20348.4405.251112",
            "Windows",
            date(2025, 11, 12),
            id="windows-full-family",
        ),
        pytest.param(
            "AKSAzureLinux-V3gen2-202511.17.0",
            "AKSAzureLinux-V3gen2",
            "202511.17.0",
            "Linux",
            date(2025, 11, 17),
            id="azure-linux-v3",
        ),
        pytest.param(
            "AKSCBLMariner-V2gen2-202405.20.0",
            "AKSCBLMariner-V2gen2",
            "202405.20.0",
            "Linux",
            date(2024, 5, 20),
            id="cbl-mariner-v2",
        ),
        pytest.param(
            "AKSUbuntu-2204gen2arm64containerd-202511.17.1",
            "AKSUbuntu-2204gen2arm64containerd",
            "202511.17.1",
            "Linux",
            date(2025, 11, 17),
            id="ubuntu-arm64-revision-1",
        ),
        pytest.param(
            "AKSUbuntu:1604:2020.03.11",
            "AKSUbuntu-1604",
            "2020.03.11",
            "Linux",
            date(2020, 3, 11),
            id="legacy-colon-form",
        ),
        pytest.param(
            "AKSUbuntu-1604-2020.03.11",
            "AKSUbuntu-1604",
            "2020.03.11",
            "Linux",
            date(2020, 3, 11),
            id="legacy-dash-form",
        ),
        pytest.param(
            "AKSWindows-2022-20348.1366.221214",
            "AKSWindows-2022",
            "20348.1366.221214",
            "Windows",
            date(2022, 12, 14),
            id="changelog-windows-short",
        ),
        pytest.param(
            "AKSWindows-23H2-25398.1308.241226",
            "AKSWindows-23H2",
            "25398.1308.241226",
            "Windows",
            date(2024, 12, 26),
            id="changelog-windows-23h2",
        ),
        pytest.param(
            "AKSUbuntu-2204-202607.09.0",
            "AKSUbuntu-2204",
            "202607.09.0",
            "Linux",
            date(2026, 7, 9),
            id="changelog-ubuntu-short",
        ),
        pytest.param(
            "AzureLinuxv3-202501.05.0",
            "AzureLinuxv3",
            "202501.05.0",
            "Linux",
            date(2025, 1, 5),
            id="changelog-azure-linux-v3",
        ),
        pytest.param(
            "AzureLinux-202305.24.0",
            "AzureLinux",
            "202305.24.0",
            "Linux",
            date(2023, 5, 24),
            id="changelog-azure-linux",
        ),
        pytest.param(
            "AKSMariner-2023.01.10",
            "AKSMariner",
            "2023.01.10",
            "Linux",
            date(2023, 1, 10),
            id="changelog-mariner-legacy-date",
        ),
        pytest.param(
            "AKSUbuntu-202410.27.0",
            "AKSUbuntu",
            "202410.27.0",
            "Linux",
            date(2024, 10, 27),
            id="changelog-ubuntu-without-release",
        ),
        pytest.param(
            "  AKSUbuntu-2204gen2containerd-202511.17.0\n",
            "AKSUbuntu-2204gen2containerd",
            "202511.17.0",
            "Linux",
            date(2025, 11, 17),
            id="surrounding-space",
        ),
    ],
)
def test_parse_node_image_reads_every_form(
    text: str, family: str, version: str, os_type: str, built: date
) -> None:
    image = parse_node_image(text)
    assert (image.family, image.version, image.os_type, image.build_date) == (
        family,
        version,
        os_type,
        built,
    )


def test_colon_and_dash_forms_of_one_image_are_equal() -> None:
    assert parse_node_image("AKSUbuntu:1604:2020.03.11") == parse_node_image(
        "AKSUbuntu-1604-2020.03.11"
    )


def test_str_is_family_dash_version() -> None:
    assert str(parse_node_image("AKSUbuntu:1604:2020.03.11")) == "AKSUbuntu-1604-2020.03.11"


def test_parse_node_image_version_reads_a_catalog_entry() -> None:
    image = parse_node_image_version("AKSWindows-2022-containerd", "20348.4294.251015")
    assert image == parse_node_image("AKSWindows-2022-containerd-20348.4294.251015")
    assert image.build_date == date(2025, 10, 15)


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        pytest.param(
            "AKSUbuntu-2204gen2containerd-202511.03.0",
            "AKSUbuntu-2204gen2containerd-202511.17.0",
            id="linux-later-day",
        ),
        pytest.param(
            "AKSUbuntu-2204gen2containerd-202511.17.0",
            "AKSUbuntu-2204gen2containerd-202511.17.1",
            id="linux-later-revision",
        ),
        pytest.param(
            "AKSUbuntu-2204gen2containerd-202509.30.2",
            "AKSUbuntu-2204gen2containerd-202510.01.0",
            id="linux-month-beats-revision",
        ),
        pytest.param(
            "AKSUbuntu-2204-2023.02.15", "AKSUbuntu-2204-202303.06.0", id="legacy-then-dated"
        ),
        pytest.param(
            "AKSWindows-2022-containerd-20348.4294.251015",
            "AKSWindows-2022-containerd-20348.4405.251112",
            id="windows-next-month",
        ),
        pytest.param(
            "AKSWindows-2019-17763.4737.230808",
            "AKSWindows-2019-17763.4737.230809",
            id="windows-restamp-of-same-revision",
        ),
        pytest.param(
            "AKSWindows-2019-17763.999.231231",
            "AKSWindows-2019-17763.1000.230101",
            id="windows-revision-numeric-not-text",
        ),
    ],
)
def test_newer_than_orders_builds_within_a_family(older: str, newer: str) -> None:
    old, new = parse_node_image(older), parse_node_image(newer)
    assert new.newer_than(old)
    assert not old.newer_than(new)
    assert not new.newer_than(new)


def test_newer_than_refuses_images_of_different_families() -> None:
    ubuntu = parse_node_image("AKSUbuntu-2204gen2containerd-202511.17.0")
    mariner = parse_node_image("AKSCBLMariner-V2gen2-202511.17.0")
    with pytest.raises(InvalidInputError, match="different families"):
        ubuntu.newer_than(mariner)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param(
            "Ubuntu-2204-202511.17.0", "not a known node image family", id="unknown-prefix"
        ),
        pytest.param("aksubuntu-2204-202511.17.0", "not a known node image family", id="lowercase"),
        pytest.param("AKSUbuntuX-202511.17.0", "not a known node image family", id="glued-prefix"),
        pytest.param("AKSUbuntu--202511.17.0", "not a known node image family", id="empty-token"),
        pytest.param(
            "AKSWindows-2022-containerd-202511.17.0",
            "not a Windows node image version",
            id="linux-version-on-windows",
        ),
        pytest.param(
            "AKSUbuntu-2204-20348.4405.251112",
            "not a Linux node image version",
            id="windows-version-on-linux",
        ),
        pytest.param(
            "AKSUbuntu-2204-202513.01.0", "impossible build date 2025-13-01", id="month-13"
        ),
        pytest.param("AKSUbuntu-2204-202502.30.0", "impossible build date 2025-02-30", id="feb-30"),
        pytest.param(
            "AKSUbuntu-1604-2020.00.11", "impossible build date 2020-00-11", id="legacy-month-0"
        ),
        pytest.param(
            "AKSWindows-2022-20348.4405.251332",
            "impossible build date 2025-13-32",
            id="windows-month-13",
        ),
        pytest.param(
            "AKSUbuntu-2204-2025-11-17", "not a Linux node image version", id="dashed-date"
        ),
        pytest.param(
            "AKSUbuntu-2204gen2containerd", "not a Linux node image version", id="no-version"
        ),
        pytest.param("AKSUbuntu", "not a node image name", id="family-word-alone"),
        pytest.param("-202511.17.0", "not a node image name", id="no-family"),
        pytest.param("", "not a node image name", id="empty"),
        pytest.param("AKSUbuntu:1604", "not a node image name", id="colon-without-version"),
        pytest.param("Foo:1604:2020.03.11", "not a known node image family", id="colon-unknown"),
    ],
)
def test_parse_node_image_refuses_unknown_forms_with_the_expected_ones(
    text: str, says: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_node_image(text)
    message = str(caught.value)
    assert says in message
    assert ("expected" in message) or ("versions are" in message) or ("impossible" in message)


def test_parse_error_names_the_text_and_where_it_sits() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_node_image(
            "Flatcar-4081.2.0", source="fleet.yaml", path="clusters[0].pools[1].node_image"
        )
    assert caught.value.path == "clusters[0].pools[1].node_image"
    assert "'Flatcar'" in str(caught.value)
    assert "AKSWindows-2022-containerd-20348.4405.251112" in str(caught.value)


def test_parse_refuses_non_text() -> None:
    with pytest.raises(InvalidInputError, match="must be text"):
        parse_node_image(202511)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="version must be text"):
        parse_node_image_version("AKSUbuntu-2204gen2containerd", 202511.17)  # type: ignore[arg-type]


def test_a_node_image_built_by_hand_must_agree_with_its_version() -> None:
    with pytest.raises(InvalidInputError, match="does not match"):
        NodeImageVersion(
            "AKSUbuntu-2204gen2containerd", "202511.17.0", "Windows", date(2025, 11, 17), (1,)
        )


def test_a_node_image_built_by_hand_with_the_right_fields_is_accepted() -> None:
    image = NodeImageVersion(
        "AKSUbuntu-2204gen2containerd",
        "202511.17.0",
        "Linux",
        date(2025, 11, 17),
        (2025, 11, 17, 0),
    )
    assert image == parse_node_image("AKSUbuntu-2204gen2containerd-202511.17.0")


# The real AKS calendar


def release_image_names() -> list[str]:
    rows = read_rows("aks_releases.csv")
    columns = ("windows_node_images", "linux_node_images")
    return [name for row in rows for column in columns for name in row[column].split(";") if name]


def test_every_node_image_in_the_aks_changelog_parses() -> None:
    names = release_image_names()
    assert len(names) > 300
    parsed = [parse_node_image(name) for name in names]
    assert [str(image) for image in parsed] == names


def test_changelog_images_of_one_family_get_newer_release_by_release() -> None:
    latest: dict[str, NodeImageVersion] = {}
    for name in release_image_names():
        image = parse_node_image(name)
        previous = latest.get(image.family)
        if previous is None or image.newer_than(previous):
            latest[image.family] = image
    assert latest["AKSWindows-2022"].build_date.year >= 2026


def test_every_windows_vhd_note_parses_with_its_own_build_date() -> None:
    rows = read_rows("aks_windows_vhd_notes.csv")
    assert len(rows) == 164
    for row in rows:
        image = parse_node_image(f"AKSWindows-{row['folder_sku']}-{row['build']}")
        assert image.os_type == "Windows"
        assert image.build_date.isoformat() == row["image_date_yymmdd"]


def test_windows_revision_order_agrees_with_build_date_order_in_the_vhd_notes() -> None:
    rows = read_rows("aks_windows_vhd_notes.csv")
    by_family: dict[str, list[NodeImageVersion]] = {}
    for row in rows:
        image = parse_node_image(f"AKSWindows-{row['folder_sku']}-{row['build']}")
        by_family.setdefault(image.family, []).append(image)
    for images in by_family.values():
        by_key = sorted(images, key=lambda image: image.sort_key)
        by_date = sorted(images, key=lambda image: (image.build_date, image.sort_key))
        assert by_key == by_date


# Properties

linux_versions = st.builds(
    lambda d, rev: f"{d:%Y%m}.{d:%d}.{rev}",
    st.dates(min_value=date(2019, 1, 1), max_value=date(2099, 12, 31)),
    st.integers(0, 9),
)
windows_versions = st.builds(
    lambda build, rev, d: f"{build}.{rev}.{d:%y%m%d}",
    st.sampled_from([17763, 20348, 25398, 26100]),
    st.integers(1, 99999),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
)
linux_families = st.sampled_from(
    ["AKSUbuntu-2204gen2containerd", "AKSAzureLinux-V3gen2", "AKSCBLMariner-V2gen2fips"]
)
windows_families = st.sampled_from(
    ["AKSWindows-2022-containerd", "AKSWindows-2019", "AKSWindows-23H2"]
)
names = st.one_of(
    st.builds(lambda f, v: f"{f}-{v}", linux_families, linux_versions),
    st.builds(lambda f, v: f"{f}-{v}", windows_families, windows_versions),
)


@given(name=names)
def test_str_of_a_parsed_name_gives_the_name_back(name: str) -> None:
    assert str(parse_node_image(name)) == name


@given(text=st.text(max_size=40))
def test_parse_never_crashes_on_any_text(text: str) -> None:
    with contextlib.suppress(InvalidInputError):
        assert isinstance(parse_node_image(text), NodeImageVersion)


@given(
    family=linux_families,
    first=st.dates(min_value=date(2019, 1, 1), max_value=date(2099, 12, 31)),
    second=st.dates(min_value=date(2019, 1, 1), max_value=date(2099, 12, 31)),
)
def test_linux_images_order_by_build_date(family: str, first: date, second: date) -> None:
    a = parse_node_image_version(family, f"{first:%Y%m}.{first:%d}.0")
    b = parse_node_image_version(family, f"{second:%Y%m}.{second:%d}.0")
    assert a.newer_than(b) == (first > second)
