"""The one pause a failed upgrade makes, whoever hears of the failure first.

AKS's `NodePoolRollingFailed` event, the reconcile that settles the failed
operation and a start AKS refused for good each stop the cluster. They share
one pause id per cluster, so one failure is one pause and one `DELETE` resumes
it; the first to report writes its reason, the others find it in place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

from patchpilot.adapters.store import PauseRecord
from patchpilot.domain.resource_ids import ClusterId
from patchpilot.service.deps import Services

_log = logging.getLogger(__name__)


def failure_pause_id(cluster: ClusterId) -> str:
    """The id of the cluster's failure pause (a digest: keys stay short and URL-safe)."""
    return "failure-" + hashlib.sha256(cluster.key.encode()).hexdigest()[:24]


def pause_for_failure(
    services: Services, cluster: ClusterId, reason: str, now: dt.datetime, *, by: str = "patchpilot"
) -> tuple[PauseRecord, bool]:
    """Pause the cluster for a failure unless its failure pause exists; (pause, made now)."""
    pause_id = failure_pause_id(cluster)
    pause = services.store.add_pause(
        "cluster", reason, by, now, target=cluster.key, pause_id=pause_id
    )
    made = pause.created_at == now and pause.reason == reason
    if made:
        _log.warning("paused %s: %s", cluster, reason)
    return pause, made
