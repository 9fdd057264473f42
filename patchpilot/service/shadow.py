"""Shadow mode: a gateway that cannot write, the decisions it leaves, and the report on them.

``PATCHPILOT_MODE=shadow`` (:mod:`patchpilot.settings`) makes the composition
root wrap the ARM gateway in :class:`ShadowGateway`: every read goes through,
every start is refused before a request is built, whoever calls it. The one
door to AKS writes stays :func:`patchpilot.service.reconcile.starts.start_once`; in
shadow mode it claims the key as usual, runs the same start guard (fresh
clock, window, lease), and at the instant a real start would have gone out
records a :class:`~patchpilot.domain.shadow.Decision` here, once per pool and
target, then gives the claim back. The ledger therefore holds no `started`
record and the planner never sees a shadow start in flight; switching to
`act` starts from the same ledger, and a start shadow recorded goes out once,
then, if it is still due.

Decisions are snapshots of kind :data:`KIND`, one per (cluster, pool, kind,
target), kept for ``RetentionPolicy.shadow`` (90 days) after they were made.
:func:`shadow_report` reads them with the arrivals, the stored clusters, the
ring gates and the ledger, and compares them (:func:`patchpilot.domain.shadow.compare`):
the CLI (`patchpilot shadow-report`) and `GET /api/shadow-report` print it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from patchpilot.adapters.arm.actions import OperationStatus, Started, StartResult
from patchpilot.adapters.arm.catalog_cache import SweepCache
from patchpilot.adapters.arm.failures import FailureCause
from patchpilot.adapters.arm.observe import ClusterObservation
from patchpilot.adapters.store import OperationKey, Store
from patchpilot.adapters.store.retention import SHADOW
from patchpilot.domain.plan import Action, iso
from patchpilot.domain.policy import Policy
from patchpilot.domain.resource_ids import ClusterId, ascii_key
from patchpilot.domain.schedule import Schedule
from patchpilot.domain.shadow import Decision, Facts, ShadowRow, compare
from patchpilot.domain.versions import KubernetesVersion
from patchpilot.service.deps import Gateway, Guard, Services
from patchpilot.service.errors import ShadowWriteError
from patchpilot.service.reconcile.gates import load_gates
from patchpilot.service.snapshots import load_fleet_snapshot

# The snapshot kind of decisions (retention names the same kind).
KIND: Final = SHADOW


class ShadowGateway:
    """A :class:`~patchpilot.service.deps.Gateway`: reads go to AKS, writes never do."""

    def __init__(self, inner: Gateway) -> None:
        self._inner = inner

    @property
    def inner(self) -> Gateway:
        """The gateway that acts (what switching to `act` uses)."""
        return self._inner

    def admit(self, cluster: ClusterId) -> ClusterId:
        """The inner gateway's scope check."""
        return self._inner.admit(cluster)

    def observe(self, cluster: ClusterId, cache: SweepCache) -> ClusterObservation:
        """Read one cluster through the inner gateway."""
        return self._inner.observe(cluster, cache)

    def observe_row(
        self, row: Mapping[str, Any], maintenance: Mapping[str, Schedule], cache: SweepCache
    ) -> ClusterObservation:
        """Read one cluster from its Resource Graph row through the inner gateway."""
        return self._inner.observe_row(row, maintenance, cache)

    @property
    def start_deadline(self) -> dt.timedelta:
        """The inner gateway's: the start guard keeps the same margin before a window ends."""
        return self._inner.start_deadline

    def upgrade_control_plane(
        self, cluster: ClusterId, version: KubernetesVersion, *, guard: Guard | None = None
    ) -> StartResult:
        """Refused: shadow mode makes no ARM write."""
        raise _refused(cluster, None)

    def upgrade_pool_version(
        self,
        cluster: ClusterId,
        pool: str,
        version: KubernetesVersion,
        *,
        guard: Guard | None = None,
    ) -> StartResult:
        """Refused: shadow mode makes no ARM write."""
        raise _refused(cluster, pool)

    def upgrade_node_image(
        self, cluster: ClusterId, pool: str, *, guard: Guard | None = None
    ) -> StartResult:
        """Refused: shadow mode makes no ARM write."""
        raise _refused(cluster, pool)

    def operation_status(self, started: Started) -> OperationStatus:
        """Where an operation stands (a read; shadow mode starts none of its own)."""
        return self._inner.operation_status(started)

    def explain_failure(
        self, cluster: ClusterId, pool: str, *, operation: Started | None = None
    ) -> FailureCause | None:
        """Why a pool's rollout failed (a read)."""
        return self._inner.explain_failure(cluster, pool, operation=operation)

    def close(self) -> None:
        """Close the inner gateway's connections, if it has any."""
        closer = getattr(self._inner, "close", None)
        if closer is not None:
            closer()


def _refused(cluster: ClusterId, pool: str | None) -> ShadowWriteError:
    what = f"{cluster}{f'/agentPools/{pool}' if pool else ''}"
    return ShadowWriteError(
        f"PATCHPILOT_MODE=shadow: no upgrade is started on {what}; start_once records "
        "what would have started instead",
        code="ShadowMode",
        status=None,
    )


def in_shadow(services: Services) -> bool:
    """Whether this process may not write to ARM (its gateway is a :class:`ShadowGateway`)."""
    return isinstance(services.gateway, ShadowGateway)


def with_mode(gateway: Gateway, mode: str) -> Gateway:
    """The gateway for a mode: as it is to act, wrapped to shadow (the composition root's call)."""
    return ShadowGateway(gateway) if mode == "shadow" else gateway


# Decisions -------------------------------------------------------------------------------


def decision_key(key: OperationKey) -> str:
    """The snapshot key of one (cluster, pool, kind, target)."""
    return "|".join((ascii_key(key.cluster), key.pool or "", key.kind, key.target))


def decided(store: Store, key: OperationKey) -> bool:
    """Whether a decision for this key is kept (one point read)."""
    return store.get_snapshot(KIND, decision_key(key)) is not None


def record_decision(
    store: Store, key: OperationKey, action: Action, moment: dt.datetime
) -> Decision:
    """Keep what would have started at `moment`; the caller holds the key's claim."""
    decision = Decision(
        cluster=str(action.cluster),
        pool=key.pool,
        kind=key.kind,
        current=action.current,
        target=key.target,
        would_start=moment,
        window_end=action.window_end,
        ring=action.ring,
        reason=action.reason,
    )
    store.put_snapshot(KIND, decision_key(key), json.dumps(decision.to_json()), moment)
    return decision


def undecided(services: Services, cluster: str, due: Iterable[Action]) -> list[Action]:
    """The due actions still to decide: all of them when acting, those without a decision in shadow.

    In act mode a started pool stops being due once it is upgraded, and the
    next pool's start comes up; in shadow mode nothing changes on the cluster,
    so the reconcile would offer the same first action for ever. Skipping what
    is decided lets the next pool's start be recorded, as act mode would start
    it next. A decided control-plane upgrade ends the list: everything after
    it (the pools' own Kubernetes upgrades, not the node images planned for a
    control plane that never moved) depends on that upgrade having run.
    """
    actions = list(due)
    if not in_shadow(services):
        return actions
    left: list[Action] = []
    for action in actions:
        if action.target is None or not decided(
            services.store, OperationKey(cluster, action.pool, action.kind, action.target)
        ):
            left.append(action)
        elif action.pool is None:
            break
    return left


def load_decisions(store: Store) -> tuple[Decision, ...]:
    """Every kept decision (one query of the kind's partition)."""
    return tuple(Decision.from_json(json.loads(body)) for _, body in store.list_snapshots(KIND))


# The report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShadowReport:
    """The comparison at one instant, with what could make it incomplete."""

    at: dt.datetime
    mode: str
    rows: tuple[ShadowRow, ...]
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON of `GET /api/shadow-report` and `shadow-report --json`."""
        rows = self.rows
        patched = [r for r in rows if r.patched_by == "outside"]
        return {
            "at": iso(self.at),
            "mode": self.mode,
            "summary": {
                "decisions": sum(r.would_start is not None for r in rows),
                "patched_outside": len(patched),
                "outside_window": sum(r.in_window is False for r in patched),
                "before_soak": sum(r.before_soak is True for r in patched),
            },
            "note": self.note,
            "rows": [r.to_json() for r in rows],
        }


def shadow_report(services: Services, now: dt.datetime) -> ShadowReport:
    """The report of this process's store, policy and mode (`GET /api/shadow-report`)."""
    mode = "shadow" if in_shadow(services) else "act"
    return build_report(services.store, services.policy, now, mode=mode)


def build_report(store: Store, policy: Policy, now: dt.datetime, *, mode: str) -> ShadowReport:
    """What Patch Pilot would have started beside what happened, from the store only (no ARM)."""
    fleet = load_fleet_snapshot(store)
    gates, hold = load_gates(store, policy, fleet.clusters)
    ours = frozenset(
        (ascii_key(op.key.cluster), op.key.pool, op.key.kind, op.key.target)
        for op in store.list_operations(states=frozenset({"started", "succeeded"}))
    )
    clusters = {cluster.key: cluster for cluster in fleet.clusters}
    rows = compare(
        load_decisions(store), store.list_reached(), Facts(clusters, policy, gates, ours)
    )
    if hold:
        rows = tuple(_unjudged(row) for row in rows)
    note = f"before_soak is not judged yet: {hold}" if hold else None
    return ShadowReport(now, mode, rows, note)


def _unjudged(row: ShadowRow) -> ShadowRow:
    """A row whose ring gate sums are being rebuilt: no soak verdict rather than a wrong one."""
    return replace(row, soaked_at=None, before_soak=None)
