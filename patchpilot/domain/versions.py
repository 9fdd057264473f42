"""Kubernetes versions and the AKS rules for moving between them.

Holds the version value (:class:`KubernetesVersion`), what a region offers
(:class:`OfferedVersion`), and the pure rules the planner and the policy
reader build on: which version an AKS auto-upgrade channel aims at
(:func:`channel_target`), the next single hop toward it (:func:`next_step`),
and the control plane / node pool version skew (:func:`skew_allows`).
Called by ``patchpilot.domain.policy`` (channel names, skew default), the
planner, and the fleet and catalog readers.

The AKS facts behind the rules, with where they are written:

- Channels: ``patch`` keeps the minor and takes its latest supported patch;
  ``stable`` takes the latest patch of minor N-1, where N is the latest
  supported minor; ``rapid`` takes the latest patch of N, and a cluster at
  N-2 "first upgrades to the latest supported patch version on N-1 minor
  version"; ``none`` disables auto-upgrade. (Microsoft Learn, "Automatically
  upgrade an Azure Kubernetes Service (AKS) cluster",
  https://learn.microsoft.com/azure/aks/auto-upgrade-cluster, and the
  ``UpgradeChannel`` reference of the ARM SDK,
  https://learn.microsoft.com/dotnet/api/azure.resourcemanager.containerservice.models.upgradechannel.)
  AKS's fifth cluster channel, ``node-image``, is not a Kubernetes version
  channel; node images are planned by ``node_images`` and the planner.
- No minor skipping: "When you upgrade a supported AKS cluster, Kubernetes
  minor versions can't be skipped" (1.12 -> 1.14 must go through 1.13); the
  one exception, jumping from an unsupported version to the oldest supported
  minor, runs "without any guarantee of functionality" and outside the SLA
  (Microsoft Learn, "Supported Kubernetes versions in AKS", FAQ "Can I skip
  multiple AKS versions during cluster upgrade?"; "AKS upgrades frequently
  asked questions"). Patch Pilot never takes that exception: it blocks and
  says why, and leaves the jump to a person.
- Downgrades: "Downgrades aren't supported" (same FAQ).
- Control plane first: auto-upgrade "first upgrades the control plane, and
  then upgrades agent pools one by one" ("Automatically upgrade an AKS
  cluster"); "Upgrade the AKS cluster control plane" documents upgrading the
  control plane alone, then node pools.
- Skew: "The node pool version cannot be greater than the control plane
  version" and "must be within two minor versions of the control plane"
  (``AgentPool.orchestratorVersion`` in the ARM reference). Kubernetes itself
  allows a kubelet three minors behind the API server from 1.28 on
  (https://kubernetes.io/releases/version-skew-policy/), but the AKS API
  answers ``NodePoolMcVersionIncompatible`` "Minor version of node pool cannot
  be more than 2 versions less than control plane's version" (Microsoft Learn
  troubleshooting article "NodePoolMcVersionIncompatible", 2024-10-23). A later
  troubleshooting article ("Troubleshoot AKS upgrade errors because of version
  skew", 2025-08-21) quotes the same error with "more than 3 versions", so the
  limit is a policy setting (0 to 3) whose default stays at the stricter 2.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from patchpilot.errors import InvalidInputError

UpgradeChannel = Literal["none", "patch", "stable", "rapid"]
CHANNELS: Final[tuple[str, ...]] = ("none", "patch", "stable", "rapid")

# The AKS API's limit today (see the module docstring); a policy may lower it
# or raise it to the upstream Kubernetes limit of 3, never beyond.
DEFAULT_MAX_SKEW_MINORS: Final = 2
MAX_SKEW_MINORS_LIMIT: Final = 3

_VERSION = re.compile(r"v?(?P<major>[0-9]+)\.(?P<minor>[0-9]+)\.(?P<patch>[0-9]+)")
_MINOR_ONLY = re.compile(r"v?[0-9]+\.[0-9]+")
_NEGATIVE = re.compile(r"(?:^|\.)v?-[0-9]")
_EXPECTED = "expected MAJOR.MINOR.PATCH such as 1.33.2 (a leading 'v' is allowed)"


@dataclass(frozen=True, order=True)
class KubernetesVersion:
    """One exact Kubernetes version; ordered as (major, minor, patch)."""

    major: int
    minor: int
    patch: int

    def __post_init__(self) -> None:
        for name in ("major", "minor", "patch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidInputError(f"{name} must be a whole number, got {value!r}")
            if value < 0:
                raise InvalidInputError(f"{name} must not be negative, got {value}")

    @classmethod
    def parse(
        cls, text: str, *, source: str | None = None, path: str | None = None
    ) -> KubernetesVersion:
        """Read "1.33.2" or "v1.33.2"; anything else is an error that says what to write.

        A minor alone ("1.33") is refused: AKS would resolve it to the latest GA
        patch at the time of the call, so the plan would not say what it does.
        """
        if not isinstance(text, str):
            raise InvalidInputError(_not_text_message(text), source=source, path=path)
        cleaned = text.strip()
        match = _VERSION.fullmatch(cleaned)
        if match is None:
            raise InvalidInputError(_bad_version_message(cleaned), source=source, path=path)
        return cls(int(match["major"]), int(match["minor"]), int(match["patch"]))

    @property
    def minor_version(self) -> tuple[int, int]:
        """(major, minor): the unit AKS supports, skips and skews by."""
        return (self.major, self.minor)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


def _not_text_message(value: object) -> str:
    """Explain a non-text version; YAML reads an unquoted 1.33 as a number."""
    hint = ' (quote it in YAML: "1.33.2")' if isinstance(value, int | float) else ""
    return f"a Kubernetes version must be text, got {type(value).__name__} {value!r}{hint}"


def _bad_version_message(text: str) -> str:
    """Say why a version string was refused and what would be accepted."""
    if _MINOR_ONLY.fullmatch(text):
        return f"{text!r} is a minor version alone; give the exact patch version: {_EXPECTED}"
    if _NEGATIVE.search(text):
        return f"{text!r} has a negative number; version numbers start at 0; {_EXPECTED}"
    if "-" in text or "+" in text:
        return f"{text!r} has a suffix AKS versions never carry; {_EXPECTED}"
    return f"{text!r} is not a Kubernetes version; {_EXPECTED}"


@dataclass(frozen=True)
class OfferedVersion:
    """A version AKS offers in a region, and whether AKS labels it preview."""

    version: KubernetesVersion
    preview: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.version, KubernetesVersion):
            raise InvalidInputError(
                f"an offered version must be a KubernetesVersion, got {self.version!r}"
            )
        if not isinstance(self.preview, bool):
            raise InvalidInputError(f"preview must be true or false, got {self.preview!r}")


def _visible(offered: Iterable[OfferedVersion], allow_preview: bool) -> list[KubernetesVersion]:
    """The offered versions a policy may use: previews only when it allows them."""
    return sorted({o.version for o in offered if allow_preview or not o.preview})


def _latest_patch(
    minor: tuple[int, int], versions: Iterable[KubernetesVersion]
) -> KubernetesVersion | None:
    """The highest version of one minor, or None when that minor is not offered."""
    of_minor = [v for v in versions if v.minor_version == minor]
    return max(of_minor, default=None)


def _channel_minor(
    channel: UpgradeChannel, current: KubernetesVersion, minors: list[tuple[int, int]]
) -> tuple[int, int] | None:
    """The minor a channel aims at, before the never-lower-than-current rule.

    ``stable`` takes the highest offered minor below N, which is N-1 whenever
    the region offers consecutive minors (it always has so far).
    """
    if channel == "patch":
        return current.minor_version
    if not minors:
        return None
    if channel == "rapid":
        return minors[-1]
    return minors[-2] if len(minors) > 1 else None


def channel_target(
    channel: UpgradeChannel,
    current: KubernetesVersion,
    offered: Iterable[OfferedVersion],
    *,
    allow_preview: bool,
) -> KubernetesVersion | None:
    """The final version the channel aims at, as AKS defines the channels.

    patch = latest patch of the current minor; stable = latest patch of minor
    N-1 where N is the latest offered minor; rapid = latest patch of N;
    none = None. Previews are ignored unless ``allow_preview`` (then they count
    as offered, so N may be a preview minor). Never lower than current: a
    cluster already past the channel's minor aims at the latest patch of its
    own minor, as AKS never downgrades. None when already at the target or
    nothing newer is offered. The path there is :func:`next_step`'s job.
    """
    if channel not in CHANNELS:
        raise InvalidInputError(
            f"unknown channel {channel!r}; expected one of: {', '.join(CHANNELS)}"
        )
    if channel == "none":
        return None
    versions = _visible(offered, allow_preview)
    minors = sorted({v.minor_version for v in versions})
    aim = _channel_minor(channel, current, minors)
    if aim is None or aim < current.minor_version:
        aim = current.minor_version
    target = _latest_patch(aim, versions)
    return target if target is not None and target > current else None


def next_step(
    current: KubernetesVersion,
    target: KubernetesVersion,
    offered: Iterable[OfferedVersion],
    *,
    allow_preview: bool,
) -> KubernetesVersion | None:
    """The next single hop toward target, never skipping a minor.

    Same minor: the target itself. Target in the next minor: the target (never
    past it, so a later ring gets exactly what an earlier ring soaked).
    Further away: the latest offered patch of minor current.minor+1 (GA unless
    ``allow_preview``), as AKS's rapid channel does from N-2. None when the
    target is not ahead of current (never a downgrade) or when the next minor
    is not offered: the caller blocks with that reason, because AKS only lets
    a cluster skip minors out of an unsupported version, without guarantees.
    """
    if target <= current:
        return None
    hops = minor_distance(current, target)
    if hops <= 1:
        return target
    following = (current.major, current.minor + 1)
    return _latest_patch(following, _visible(offered, allow_preview))


def minor_distance(older: KubernetesVersion, newer: KubernetesVersion) -> int:
    """How many minors newer is ahead of older (negative when it is behind).

    Minors only count within one major: Kubernetes has never had a second
    major, and nothing in AKS says how one would skew.
    """
    if older.major != newer.major:
        raise InvalidInputError(
            f"cannot compare minors across major versions ({older} and {newer}); "
            "Patch Pilot only plans upgrades within one major version"
        )
    return newer.minor - older.minor


def skew_allows(
    pool: KubernetesVersion,
    control_plane: KubernetesVersion,
    *,
    max_minors: int = DEFAULT_MAX_SKEW_MINORS,
) -> bool:
    """Whether a node pool at ``pool`` may run under a control plane at ``control_plane``.

    AKS refuses a pool newer than its control plane (down to the patch) or more
    than ``max_minors`` minors behind it, and a pool on another major.
    """
    _check_max_minors(max_minors)
    if pool > control_plane or pool.major != control_plane.major:
        return False
    return minor_distance(pool, control_plane) <= max_minors


def _check_max_minors(max_minors: int) -> None:
    """Refuse a skew limit AKS would never honour (0 to 3 minors)."""
    if isinstance(max_minors, bool) or not isinstance(max_minors, int):
        raise InvalidInputError(f"max_minors must be a whole number, got {max_minors!r}")
    if not 0 <= max_minors <= MAX_SKEW_MINORS_LIMIT:
        raise InvalidInputError(
            f"max_minors must be between 0 and {MAX_SKEW_MINORS_LIMIT} "
            f"(Kubernetes allows a kubelet at most 3 minors behind), got {max_minors}"
        )
