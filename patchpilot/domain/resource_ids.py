"""Azure resource IDs of managed clusters, parsed strictly, and policy scopes.

Every layer that receives a cluster ID from outside (an event, an HTTP body, a
fleet file) goes through :func:`parse_cluster_id`, so a crafted ID with path
tricks is refused before anything is looked up, and :func:`in_scopes` decides
whether Patch Pilot may touch it at all.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from patchpilot.errors import InvalidInputError

# ARM names: subscription GUIDs, resource group names (letters, digits, `._-()`,
# not ending in a dot) and AKS cluster names (letters, digits, `_-`, 1 to 63).
_SUBSCRIPTION = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_GROUP = r"[-\w.()]{0,89}[-\w()]"
_CLUSTER = r"[A-Za-z0-9][-_A-Za-z0-9]{0,62}"
_CLUSTER_ID = re.compile(
    rf"/subscriptions/(?P<sub>{_SUBSCRIPTION})"
    rf"/resourceGroups/(?P<rg>{_GROUP})"
    rf"/providers/Microsoft\.ContainerService/managedClusters/(?P<name>{_CLUSTER})",
    re.IGNORECASE,
)
_SCOPE = re.compile(rf"/subscriptions/{_SUBSCRIPTION}(/resourceGroups/{_GROUP})?", re.IGNORECASE)


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
        return str(self).lower()


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
    match = _CLUSTER_ID.fullmatch(text)
    if match is None:
        raise InvalidInputError(
            f"{_shorten(text)!r} is not a managed cluster resource ID "
            "(/subscriptions/<guid>/resourceGroups/<group>/providers/"
            "Microsoft.ContainerService/managedClusters/<name>)",
            source=source,
            path=path,
        )
    return ClusterId(match["sub"].lower(), match["rg"], match["name"])


def parse_scope(text: object, *, source: str | None = None, path: str | None = None) -> str:
    """Validate a policy scope: a subscription, or a resource group inside one."""
    if not isinstance(text, str) or _SCOPE.fullmatch(text.rstrip("/")) is None:
        raise InvalidInputError(
            f"{_shorten(str(text))!r} is not a scope; expected /subscriptions/<guid> "
            "or /subscriptions/<guid>/resourceGroups/<group>",
            source=source,
            path=path,
        )
    return text.rstrip("/")


def in_scopes(cluster: ClusterId, scopes: tuple[str, ...]) -> bool:
    """True when the cluster sits under one of the scopes, compared segment by segment."""
    key = cluster.key + "/"
    return any(key.startswith(scope.lower() + "/") for scope in scopes)


def _shorten(text: str, limit: int = 200) -> str:
    """Keep error messages readable when a hostile caller sends a huge string."""
    return text if len(text) <= limit else text[:limit] + "..."
