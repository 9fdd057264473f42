"""The planner's :class:`~patchpilot.domain.history.History`, read from the store.

Called once per plan by the service. A reconcile reads its own cluster's
history (:func:`load_own_history`: its own partitions, a cost that does not
grow with the fleet or with the rest of the fleet's past); the status page
and the Windows cycle read the fleet's (:func:`load_history`). What counts:

- reached: every ring progress record;
- failures: `failed` ledger records not yet resolved, that is, not retired
  by an operator (they become `expired`) and not followed by the same
  cluster or pool reaching the same target;
- pauses: those in force at `now`;
- requests: upgrades people asked for that wait for a window (snapshots of
  kind ``request~<subscription>``, written by the manual upgrade use case);
- in flight: `started` records, and `in_progress` claims still within their
  ttl. An `in_progress` claim past its ttl is left out on purpose: its holder
  died, and leaving it in would block the cluster forever; instead the plan
  shows the action as due again, and the next claim takes the record over
  and re-observes AKS before acting (see ``Store.claim``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from patchpilot.adapters.store.codec import subscription_of
from patchpilot.adapters.store.interface import Store
from patchpilot.adapters.store.records import Operation, OperationState, utc
from patchpilot.domain.history import Failure, History, Reached, Requested
from patchpilot.domain.resource_ids import ascii_key

_RELEVANT: frozenset[OperationState] = frozenset({"in_progress", "started", "failed"})
# The snapshot kinds of manual upgrade requests start with this, one kind per subscription.
REQUESTS = "request"
_log = logging.getLogger(__name__)


def requests_kind(cluster: str) -> str:
    """The snapshot kind (one partition) of a cluster's subscription's upgrade requests."""
    return f"{REQUESTS}~{subscription_of(cluster)}"


def load_own_history(store: Store, cluster: str, now: dt.datetime) -> History:
    """What the planner needs of one cluster's past: its own partitions, and shared pauses.

    Bounded by what is open, not by months of history: the ledger query asks
    the backend for open and failed records only, and progress is read only
    for the targets of failed ones (a point read each), to tell whether the
    cluster reached them since. Ring progress for gates is not read here (see
    ``service.gates``); `History.reached` holds just those arrivals.
    """
    now = utc(now, "now")
    ops = store.list_operations(cluster=cluster, states=_RELEVANT)
    arrivals = (store.get_reached(op.key) for op in ops if op.state == "failed")
    reached = tuple(record for record in arrivals if record is not None)
    kept = _read_requests(store.list_snapshots(requests_kind(cluster)))
    requests = [r for r in kept if ascii_key(r.cluster) == cluster]
    return History(
        reached=reached,
        failures=unresolved_failures(ops, reached),
        pauses=tuple(p.to_pause() for p in store.list_pauses(now, cluster=cluster)),
        in_flight=tuple(op.to_in_flight() for op in ops if op.in_flight(now)),
        requests=tuple(requests),
    )


def load_history(store: Store, now: dt.datetime) -> History:
    """Everything the planner needs to know about the past, as of `now`."""
    now = utc(now, "now")
    reached = store.list_reached()
    ops = store.list_operations(states=_RELEVANT)
    return History(
        reached=reached,
        failures=unresolved_failures(ops, reached),
        pauses=tuple(pause.to_pause() for pause in store.list_pauses(now)),
        in_flight=tuple(op.to_in_flight() for op in ops if op.in_flight(now)),
        requests=load_requests(store),
    )


def load_requests_of(store: Store, cluster: str) -> tuple[Requested, ...]:
    """The upgrade requests of a cluster's subscription (one partition), any of its clusters."""
    return _read_requests(store.list_snapshots(requests_kind(cluster)))


def load_requests(store: Store) -> tuple[Requested, ...]:
    """Every manual upgrade request waiting for its window; an unreadable one is skipped."""
    return _read_requests(store.list_snapshots_under(REQUESTS + "~"))


def _read_requests(snapshots: tuple[tuple[str, str], ...]) -> tuple[Requested, ...]:
    found = []
    for key, body in snapshots:
        try:
            found.append(Requested.from_json(json.loads(body)))
        except ValueError as exc:
            # Policy: one bad record must not stop every plan; it is logged and ignored.
            _log.warning("ignored unreadable upgrade request %s: %s", key, exc)
    return tuple(found)


def unresolved_failures(
    ops: tuple[Operation, ...], reached: tuple[Reached, ...]
) -> tuple[Failure, ...]:
    """Failed operations whose target was not reached after they failed."""
    arrivals: dict[tuple[str, str | None, str, str], dt.datetime] = {}
    for record in reached:
        key = (record.cluster, record.pool, record.kind, record.target)
        arrivals[key] = max(record.at, arrivals.get(key, record.at))
    failures = []
    for op in ops:
        if op.state != "failed":
            continue
        failure = op.to_failure()
        arrived = arrivals.get((failure.cluster, failure.pool, failure.kind, failure.target))
        if arrived is None or arrived < failure.at:
            failures.append(failure)
    return tuple(failures)
