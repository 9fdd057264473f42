"""Security posture findings kept between sweeps, for `GET /api/status`.

The sweep observes every cluster (posture included) but keeps only the
planner's picture; :func:`save_posture` keeps each cluster's posture
findings too (snapshot kind :data:`KIND`), so the status page shows them
without reading ARM. Clusters not yet swept have none ("if available").
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any, Final

from patchpilot.adapters.arm.observe import ClusterObservation
from patchpilot.adapters.store import Store
from patchpilot.domain.policy import Policy
from patchpilot.domain.posture import posture_findings

KIND: Final = "posture"


def save_posture(
    store: Store, observations: Iterable[ClusterObservation], policy: Policy, now: dt.datetime
) -> None:
    """Keep the posture findings of each observed cluster (unchanged ones are not rewritten)."""
    stored = dict(store.list_snapshots(KIND))
    for observation in observations:
        offered = (entry.offered for entry in observation.catalog.kubernetes)
        found = posture_findings(
            observation.posture, offered, linux_images_patched=policy.node_images.linux_enabled
        )
        body = json.dumps([finding.to_json() for finding in found])
        key = observation.state.key
        if stored.get(key) != body:
            store.put_snapshot(KIND, key, body, now)


def load_posture(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Posture findings by cluster key, as the last sweep saw them."""
    return {key: list(json.loads(body)) for key, body in store.list_snapshots(KIND)}
