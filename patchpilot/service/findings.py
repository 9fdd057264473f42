"""Security posture findings kept between sweeps, for `GET /api/status`.

The sweep observes every cluster (posture included) but keeps only the
planner's picture; :func:`save_posture` keeps each cluster's posture
findings too (snapshot kinds ``posture~<subscription>``: a sweep shard reads
its own subscription's in one query), so the status page shows them without
reading ARM. Clusters not yet swept have none ("if available").
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any, Final

from patchpilot.adapters.arm.observe import ClusterObservation
from patchpilot.adapters.store import Store
from patchpilot.adapters.store.codec import subscription_of
from patchpilot.domain.policy import Policy
from patchpilot.domain.posture import posture_findings

KIND: Final = "posture"
# Clusters the sweep forgot (gone from their subscription), shown on the status page.
FORGOTTEN: Final = "forgotten"


def save_posture(
    store: Store, observations: Iterable[ClusterObservation], policy: Policy, now: dt.datetime
) -> None:
    """Keep the posture findings of each observed cluster (unchanged ones are not rewritten)."""
    stored: dict[str, dict[str, str]] = {}
    for observation in observations:
        kind = posture_kind(observation.state.key)
        if kind not in stored:
            stored[kind] = dict(store.list_snapshots(kind))
        offered = (entry.offered for entry in observation.catalog.kubernetes)
        found = posture_findings(
            observation.posture, offered, linux_images_patched=policy.node_images.linux_enabled
        )
        body = json.dumps([finding.to_json() for finding in found])
        key = observation.state.key
        if stored[kind].get(key) != body:
            store.put_snapshot(kind, key, body, now)


def posture_kind(cluster: str) -> str:
    """The snapshot kind (one partition) of a cluster's subscription's posture findings."""
    return f"{KIND}~{subscription_of(cluster)}"


def load_posture(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Posture findings by cluster key, as the last sweep saw them."""
    return {key: list(json.loads(body)) for key, body in store.list_snapshots_under(KIND + "~")}


def forget_posture(store: Store, cluster: str) -> bool:
    """Drop a gone cluster's findings."""
    return store.delete_snapshot(posture_kind(cluster), cluster)
