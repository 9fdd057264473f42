"""Rows of the single-partition layout before per-subscription partitions, moved or dropped.

Until this version every cluster picture, posture record and upgrade
request shared one partition per kind (``cluster``, ``posture``,
``request``). Pictures and posture are rebuilt by the next sweep, so the old
rows are only deleted; a waiting upgrade request is an operator's intent, so
it moves to its subscription's kind first. Bounded per run (:data:`PER_RUN`
rows), run by the sweep timer: cheap (one empty query per kind) once done.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Final

from patchpilot.adapters.store import Store
from patchpilot.adapters.store.history import REQUESTS, requests_kind
from patchpilot.domain.resource_ids import ascii_key
from patchpilot.service.findings import KIND as POSTURE
from patchpilot.service.snapshots import CLUSTERS

PER_RUN: Final = 500
_log = logging.getLogger(__name__)


def move_legacy_rows(store: Store, now: dt.datetime) -> int:
    """Move waiting requests to their subscription's kind; drop old pictures; how many rows."""
    moved = 0
    for key, body in store.list_snapshots(REQUESTS)[:PER_RUN]:
        cluster = ascii_key(key.split("|", 1)[0])
        store.put_snapshot(requests_kind(cluster), key, body, now)
        store.delete_snapshot(REQUESTS, key)
        moved += 1
    for kind in (CLUSTERS, POSTURE):
        for key, _ in store.list_snapshots(kind)[: PER_RUN - moved]:
            moved += store.delete_snapshot(kind, key)
    if moved:
        _log.info("moved or dropped %d rows of the single-partition layout", moved)
    return moved
