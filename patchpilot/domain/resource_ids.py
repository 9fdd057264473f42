"""Azure resource IDs of managed clusters, parsed strictly, and policy scopes.

Every layer that receives a cluster ID from outside (an event, an HTTP body, a
fleet file) goes through :func:`parse_cluster_id`, so a crafted ID with path
tricks is refused before anything is looked up, and :func:`in_scopes` decides
whether Patch Pilot may touch it at all.

IDs and scopes are ASCII, and compare ignoring ASCII case only. ARM names are
case-insensitive ("Naming rules and restrictions for Azure resources": always
compare names case-insensitively) and AKS cluster names are ASCII
(alphanumerics, `_` and `-`). Resource group names may hold Unicode letters
and digits (.NET `Char.IsLetterOrDigit`), but the rules do not say how ARM
folds their case, and Python's folding is not a safe guess: the Kelvin sign
(U+212A) lower-cases to `k`, and `re.IGNORECASE` lets the long s (U+017F)
match `s`, so a group spelled `rg-` U+212A `ube` counted as inside `rg-kube`.
A scope check that guesses is no check, so non-ASCII IDs and scopes are
refused, with an error naming the character: a cluster in such a group is not
managed (discovery logs and skips it).

Inside the app a cluster is a :class:`ClusterId`: its `key` is the identity,
its `name` the last segment, `str()` the canonical ID the JSON contract, the
queue and the store write. The other ARM names that several layers compare sit
here too: :func:`region_key` (a region's one spelling) and
:func:`is_pool_name` (the AKS agent pool name rule).
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from dataclasses import dataclass
from typing import Final

from patchpilot.errors import InvalidInputError

# ARM names: subscription GUIDs, resource group names (letters, digits, `._-()`,
# not ending in a dot) and AKS cluster names (letters, digits, `_-`, 1 to 63).
# re.ASCII: `\w` and IGNORECASE must not reach beyond ASCII (see the module docstring).
_SUBSCRIPTION = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_GROUP = r"[-\w.()]{0,89}[-\w()]"
_CLUSTER = r"[A-Za-z0-9][-_A-Za-z0-9]{0,62}"
_CLUSTER_ID = re.compile(
    rf"/subscriptions/(?P<sub>{_SUBSCRIPTION})"
    rf"/resourceGroups/(?P<rg>{_GROUP})"
    rf"/providers/Microsoft\.ContainerService/managedClusters/(?P<name>{_CLUSTER})",
    re.IGNORECASE | re.ASCII,
)
_SCOPE = re.compile(
    rf"/subscriptions/{_SUBSCRIPTION}(/resourceGroups/{_GROUP})?", re.IGNORECASE | re.ASCII
)
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_NOT_ASCII = (
    "Patch Pilot manages only resource groups and clusters with ASCII names, so that a "
    "look-alike letter can never pass a scope check"
)


# AKS agent pool names ("System node pools", Limitations, learn.microsoft.com/azure/aks/
# use-system-pools): lowercase letters and numbers, starting with a letter, 1 to 12
# characters for Linux and 1 to 6 for Windows. ARM compares names ignoring case, so
# upper case letters address the same pool and pass.
POOL_NAME_LONGEST: Final = 12
_POOL_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9]*", re.ASCII)


def ascii_key(text: str) -> str:
    """ARM's case-insensitive form of an ID: A-Z folded to a-z, every other character kept."""
    return text.translate(_ASCII_LOWER)


@dataclass(frozen=True)
class ClusterId:
    """A managed cluster's resource ID, split into its parts."""

    subscription: str
    resource_group: str
    name: str

    def __str__(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.ContainerService/managedClusters/{self.name}"
        )

    @functools.cached_property
    def key(self) -> str:
        """The case-insensitive identity ARM uses: IDs differing only in case are one cluster.

        Cached: the planner asks for it many times per cluster.
        """
        return ascii_key(str(self))


def parse_cluster_id(
    text: object, *, source: str | None = None, path: str | None = None
) -> ClusterId:
    """Parse a managed cluster resource ID, refusing anything that is not exactly one."""
    if not isinstance(text, str):
        raise InvalidInputError(
            f"expected a managed cluster resource ID string, got {type(text).__name__}",
            source=source,
            path=path,
        )
    if not text.isascii():
        raise InvalidInputError(_not_ascii(text), source=source, path=path)
    match = _CLUSTER_ID.fullmatch(text)
    if match is None:
        raise InvalidInputError(
            f"{_shorten(text)!r} is not a managed cluster resource ID "
            "(/subscriptions/<guid>/resourceGroups/<group>/providers/"
            "Microsoft.ContainerService/managedClusters/<name>)",
            source=source,
            path=path,
        )
    return ClusterId(ascii_key(match["sub"]), match["rg"], match["name"])


def parse_scope(text: object, *, source: str | None = None, path: str | None = None) -> str:
    """Validate a policy scope: a subscription, or a resource group inside one."""
    if not isinstance(text, str):
        raise InvalidInputError(
            f"expected a scope string, got {type(text).__name__}", source=source, path=path
        )
    if not text.isascii():
        raise InvalidInputError(_not_ascii(text), source=source, path=path)
    if _SCOPE.fullmatch(text.rstrip("/")) is None:
        raise InvalidInputError(
            f"{_shorten(text)!r} is not a scope; expected /subscriptions/<guid> "
            "or /subscriptions/<guid>/resourceGroups/<group>",
            source=source,
            path=path,
        )
    return text.rstrip("/")


def in_scopes(cluster: ClusterId, scopes: tuple[str, ...]) -> bool:
    """True when the cluster sits under one of the scopes, compared segment by segment."""
    key = cluster.key + "/"
    return any(key.startswith(ascii_key(scope) + "/") for scope in scopes)


def resource_name(resource_id: str) -> str:
    """The last segment of a resource ID kept as text (a JSON answer, a Fleet member's ID).

    What tables and messages show; for a parsed ID, :attr:`ClusterId.name` is the same text.
    """
    return resource_id.rsplit("/", 1)[-1]


def region_key(location: str) -> str:
    """A region's one spelling: ARM writes regions in several ways ("West Europe", "westeurope")."""
    return location.replace(" ", "").lower()


def is_pool_name(text: object, *, longest: int = POOL_NAME_LONGEST) -> bool:
    """True when ``text`` is an AKS agent pool name: a letter, then letters and digits.

    ``longest`` is AKS's 12 (Linux) unless a reader keeps a looser bound it has always
    had (an event's ``nodePoolName`` is bounded at 64 before this rule).
    """
    return isinstance(text, str) and len(text) <= longest and _POOL_NAME.fullmatch(text) is not None


def _not_ascii(text: str) -> str:
    """Name the first non-ASCII character: it usually looks exactly like an ASCII one."""
    char = next(c for c in text if not c.isascii())
    name = unicodedata.name(char, "unnamed")
    return f"{_shorten(text)!r} holds U+{ord(char):04X} ({name}), not ASCII; {_NOT_ASCII}"


def _shorten(text: str, limit: int = 200) -> str:
    """Keep error messages readable when a hostile caller sends a huge string."""
    return text if len(text) <= limit else text[:limit] + "..."
