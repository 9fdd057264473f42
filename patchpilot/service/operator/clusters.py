"""Find the cluster an operator's request names, among those Patch Pilot observed and may touch.

Shared by the manual upgrade, pause and status use cases, so "unknown" means
the same everywhere: a malformed ID is an invalid value (422), an ID outside
the policy's scopes or not in the last observed picture of the fleet is not
found (404).
"""

from __future__ import annotations

from patchpilot.domain.fleet import ClusterState, FleetState
from patchpilot.domain.resource_ids import ClusterId, in_scopes, parse_cluster_id
from patchpilot.service.operator.errors import NotFoundError


def cluster_id(text: object, *, path: str = "cluster") -> ClusterId:
    """Parse a managed cluster resource ID given by a person (422 when it is not one)."""
    return parse_cluster_id(text, path=path)


def known_cluster(fleet: FleetState, cluster: ClusterId, scopes: tuple[str, ...]) -> ClusterState:
    """The observed state of a cluster inside the scopes; :class:`NotFoundError` otherwise."""
    if not in_scopes(cluster, scopes):
        raise NotFoundError(
            f"cluster {cluster} is outside the policy's scopes: Patch Pilot never touches it",
            code="ClusterNotInScope",
        )
    found = next((c for c in fleet.clusters if c.key == cluster.key), None)
    if found is None:
        raise NotFoundError(
            f"Patch Pilot has not observed cluster {cluster} (the sweep reads the fleet "
            "under the scopes every 15 minutes)",
            code="ClusterNotFound",
        )
    return found
