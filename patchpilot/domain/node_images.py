"""AKS node image versions: parsing, build dates and order within an image family.

Holds :class:`NodeImageVersion` and the two readers that build one: from a
full node image name as ARM reports it (``nodeImageVersion``,
``latestNodeImageVersion``) or as the AKS changelog spells it
(:func:`parse_node_image`), and from a fleet catalog entry, a family key plus
a version (:func:`parse_node_image_version`). Called by the fleet and catalog
readers, the planner (which image is newer, which Patch Tuesday a Windows
image covers, via ``cadence``) and the replay benchmarks.

What AKS says about the names (Microsoft Learn, "Upgrade Azure Kubernetes
Service (AKS) node images", https://learn.microsoft.com/azure/aks/node-image-upgrade,
and the AKS patch and upgrade guidance in the Azure Architecture Center):

- Linux node images are updated weekly, Windows node images monthly; the
  rollout to all regions can take up to a week (the AKS changelog says up to
  two weeks).
- Linux versions are dated, ``YYYYMM.DD.rev`` (202311.07.0); Windows versions
  are the Windows Server build and date, ``build.rev.yyMMdd`` (20348.2113.231115).
  Older Linux images used ``YYYY.MM.DD`` (``AKSUbuntu-1604-2020.10.28``), and the
  ARM API examples show a colon form ``AKSUbuntu:1604:2020.03.11`` next to
  ``AKSUbuntu-1604-2020.03.11`` for the same image.
- "It's not possible to downgrade a node image version (for example
  AKSUbuntu-2204-202308.01.0 to AKSUbuntu-2204-202307.27.0)": order only has a
  meaning within one family, so comparing across families is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

from patchpilot.errors import InvalidInputError

OsType = Literal["Linux", "Windows"]

# The first dash-separated token of a family says which OS it is. Families
# seen in ARM, the AKS changelog and its vhd-notes: AKSUbuntu-2204gen2containerd,
# AKSAzureLinux-V3gen2, AKSCBLMariner-V2gen2, AKSWindows-2022-containerd, and the
# changelog's short names AKSUbuntu-2204, AKSMariner, AzureLinux, AzureLinuxv3.
_LINUX_PREFIX: Final = r"AKSUbuntu|AKSAzureLinux|AKSCBLMariner|AKSMariner|AzureLinux(?:v[0-9]+)?"
_FAMILY = re.compile(rf"(?P<prefix>{_LINUX_PREFIX}|AKSWindows)(?:-[A-Za-z0-9]+)*")
_LINUX_DATED = re.compile(r"(?P<y>[0-9]{4})(?P<m>[0-9]{2})\.(?P<d>[0-9]{2})\.(?P<rev>[0-9]+)")
_LINUX_LEGACY = re.compile(r"(?P<y>[0-9]{4})\.(?P<m>[0-9]{2})\.(?P<d>[0-9]{2})")
_WINDOWS = re.compile(
    r"(?P<build>[0-9]+)\.(?P<rev>[0-9]+)\.(?P<y>[0-9]{2})(?P<m>[0-9]{2})(?P<d>[0-9]{2})"
)
_COLON = re.compile(r"(?P<prefix>[A-Za-z0-9]+):(?P<release>[A-Za-z0-9]+):(?P<version>[0-9.]+)")

_EXPECTED_NAMES: Final = (
    "expected <family>-<version> such as AKSUbuntu-2204gen2containerd-202511.17.0, "
    "AKSAzureLinux-V3gen2-202511.17.0, AKSUbuntu-1604-2020.03.11, AKSUbuntu:1604:2020.03.11 "
    "or AKSWindows-2022-containerd-20348.4405.251112"
)
_EXPECTED_FAMILIES: Final = (
    "a family starts with AKSUbuntu, AKSAzureLinux, AKSCBLMariner, AKSMariner, "
    "AzureLinux, AzureLinuxv<N> or AKSWindows"
)
_EXPECTED_VERSION: Final[dict[str, str]] = {
    "Linux": "Linux versions are YYYYMM.DD.rev (202511.17.0) or YYYY.MM.DD (2020.03.11)",
    "Windows": "Windows versions are build.rev.yyMMdd (20348.4405.251112)",
}


@dataclass(frozen=True)
class NodeImageVersion:
    """One node image: its family, its version, and what the version encodes.

    ``os_type``, ``build_date`` and ``sort_key`` follow from family and version;
    the constructor checks they agree, so use the readers below to build one.
    """

    family: str
    version: str
    os_type: OsType
    build_date: date
    sort_key: tuple[int, ...]

    def __post_init__(self) -> None:
        decoded = _decode(self.family, self.version, source=None, path=None)
        if (self.os_type, self.build_date, self.sort_key) != decoded:
            raise InvalidInputError(
                f"node image {self} does not match its own os_type, build_date or "
                "sort_key; build it with parse_node_image or parse_node_image_version"
            )

    def __str__(self) -> str:
        return f"{self.family}-{self.version}"

    def newer_than(self, other: NodeImageVersion) -> bool:
        """Whether this image is a later build of the same family.

        Across families there is no order (AKS does not move a pool between
        families by a node image upgrade), so that is an error, not False.
        """
        if self.family != other.family:
            raise InvalidInputError(
                f"cannot order node images of different families: {self} and {other}"
            )
        return self.sort_key > other.sort_key


def parse_node_image(
    text: str, *, source: str | None = None, path: str | None = None
) -> NodeImageVersion:
    """Read a full node image name, as ARM or the AKS changelog writes it.

    Accepts the dash form (``AKSUbuntu-2204gen2containerd-202511.17.0``,
    ``AKSWindows-2022-containerd-20348.4405.251112``, the changelog's short
    ``AKSWindows-2022-20348.1366.221214``, ``AKSUbuntu-2204-202607.09.0``,
    ``AzureLinuxv3-202501.05.0``, ``AKSMariner-2023.01.10``) and the legacy
    colon form ``AKSUbuntu:1604:2020.03.11``, whose family is normalised to
    ``AKSUbuntu-1604`` so both spellings of one image compare equal.
    """
    if not isinstance(text, str):
        raise InvalidInputError(
            f"a node image name must be text, got {type(text).__name__} {text!r}",
            source=source,
            path=path,
        )
    family, version = _split_name(text.strip(), source=source, path=path)
    return parse_node_image_version(family, version, source=source, path=path)


def parse_node_image_version(
    family: str, version: str, *, source: str | None = None, path: str | None = None
) -> NodeImageVersion:
    """Read a catalog entry: a family key and a version of that family."""
    for name, value in (("family", family), ("version", version)):
        if not isinstance(value, str):
            raise InvalidInputError(
                f"a node image {name} must be text, got {type(value).__name__} {value!r}",
                source=source,
                path=path,
            )
    family, version = family.strip(), version.strip()
    os_type, built, key = _decode(family, version, source=source, path=path)
    return NodeImageVersion(family, version, os_type, built, key)


def _split_name(text: str, *, source: str | None, path: str | None) -> tuple[str, str]:
    """Split a name into (family, version); versions never contain a dash."""
    colon = _COLON.fullmatch(text)
    if colon is not None:
        return f"{colon['prefix']}-{colon['release']}", colon["version"]
    family, dash, version = text.rpartition("-")
    if not dash or not family or not version:
        raise InvalidInputError(
            f"{text!r} is not a node image name; {_EXPECTED_NAMES}", source=source, path=path
        )
    return family, version


def _decode(
    family: str, version: str, *, source: str | None, path: str | None
) -> tuple[OsType, date, tuple[int, ...]]:
    """The OS, build date and sort key a family and version encode."""
    os_type = _os_of(family, source=source, path=path)
    if os_type == "Windows":
        built, key = _decode_windows(version)
    else:
        built, key = _decode_linux(version)
    if key is None:
        raise InvalidInputError(
            f"{family}-{version}: {version!r} is not a {os_type} node image version; "
            f"{_EXPECTED_VERSION[os_type]}",
            source=source,
            path=path,
        )
    return os_type, _checked_date(family, version, built, source=source, path=path), key


def _os_of(family: str, *, source: str | None, path: str | None) -> OsType:
    """The OS of a family, from its first token; unknown families are errors."""
    match = _FAMILY.fullmatch(family)
    if match is None:
        raise InvalidInputError(
            f"{family!r} is not a known node image family; {_EXPECTED_FAMILIES} "
            f"({_EXPECTED_NAMES})",
            source=source,
            path=path,
        )
    return "Windows" if match["prefix"] == "AKSWindows" else "Linux"


def _decode_linux(version: str) -> tuple[tuple[int, int, int], tuple[int, ...] | None]:
    """(year, month, day) and sort key of YYYYMM.DD.rev or legacy YYYY.MM.DD.

    The changelog uses both forms within one family (AKSUbuntu-2204 went from
    2023.02.15 to 202303.06.0), so both sort by (year, month, day, rev), with
    rev 0 for the legacy form.
    """
    dated = _LINUX_DATED.fullmatch(version) or _LINUX_LEGACY.fullmatch(version)
    if dated is None:
        return (0, 0, 0), None
    ymd = (int(dated["y"]), int(dated["m"]), int(dated["d"]))
    rev = int(dated["rev"]) if "rev" in dated.groupdict() else 0
    return ymd, (*ymd, rev)


def _decode_windows(version: str) -> tuple[tuple[int, int, int], tuple[int, ...] | None]:
    """(year, month, day) and sort key of build.rev.yyMMdd.

    The OS revision sorts first: it is the cumulative update the image carries,
    and AKS sometimes restamps one revision later (17763.4737.230808 and
    .230809), so the date breaks ties. Over every Windows image in the AKS
    vhd-notes, this order and the date order agree.
    """
    match = _WINDOWS.fullmatch(version)
    if match is None:
        return (0, 0, 0), None
    ymd = (2000 + int(match["y"]), int(match["m"]), int(match["d"]))
    return ymd, (int(match["build"]), int(match["rev"]), *ymd)


def _checked_date(
    family: str, version: str, ymd: tuple[int, int, int], *, source: str | None, path: str | None
) -> date:
    """The build date, or an error naming the impossible one (month 13, day 32)."""
    try:
        return date(*ymd)
    except ValueError as exc:
        year, month, day = ymd
        raise InvalidInputError(
            f"{family}-{version}: the version encodes an impossible build date "
            f"{year:04d}-{month:02d}-{day:02d} ({exc})",
            source=source,
            path=path,
        ) from exc


def default_os_sku(image: NodeImageVersion) -> str:
    """The agent pool `osSKU` an image family implies, as ARM reports it when none was set."""
    family = image.family.lower()
    if image.os_type == "Windows":
        for marker, sku in (
            ("2019", "Windows2019"),
            ("2025", "Windows2025"),
            ("23h2", "WindowsAnnual"),
        ):
            if marker in family:
                return sku
        return "Windows2022"
    if "azurelinux" in family or "mariner" in family:
        return "AzureLinux"
    return "Ubuntu"
