"""Starting an upgrade at most once: the one owner of claim -> guard -> start -> record.

The reconcile worker and the operator API (`POST /api/upgrades`) both call
:func:`start_once`, so each ledger transition of a start is written here
and nowhere else:

1. claim the (cluster, pool, kind, target) key; someone else's claim or an
   outcome already recorded means "held", and nothing is sent;
2. a claim taken over from a dead worker is checked against the fresh
   observation first: AKS may be running (or have finished) what it sent;
3. the start call goes out under a guard that runs before every attempt,
   retries included: it re-reads the clock (the invocation's `now` may be
   minutes old after 429s) and refuses unless the allowed window has opened
   on every clock we tolerate and stays open for the call's own deadline
   and that skew; it renews the cluster's lease, so a worker that outlived
   its lease never sends;
4. what AKS answered decides the record: accepted -> `started`; refused
   before anything could start (the guard, a busy 409 with every attempt
   answered, a throttle storm) -> the claim is retired so it can be taken
   again; a refusal that is AKS's final word (a 4xx, a conflict with a
   setting) -> `failed` with AKS's message and one pause; an attempt left
   unanswered -> the claim stays, and the next reconcile adopts or settles
   it from AKS's own state. A claim is never retired on a guess.

In shadow mode (``PATCHPILOT_MODE=shadow``, :mod:`.shadow`) steps 1 to 3 run
unchanged, and where step 3 would send the start, the decision is recorded
instead (once per key: a kept decision is read before claiming and again
under the claim, and a claim is given back only after the decision is
written) and the claim is retired; nothing reaches ARM, and the gateway
itself refuses any start that would.

Also the one shape of what an `UpgradeStarted` notice says about the action.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Final, Literal

from patchpilot.adapters.arm.actions import Busy, Refused, StartResult, Unconfirmed
from patchpilot.adapters.arm.failures import classify_refusal
from patchpilot.adapters.arm.observe import ClusterObservation
from patchpilot.adapters.store import (
    Claim,
    ClaimLostError,
    Lease,
    Operation,
    OperationError,
    OperationKey,
)
from patchpilot.domain.plan import Action, iso
from patchpilot.domain.resource_ids import ClusterId
from patchpilot.domain.versions import KubernetesVersion
from patchpilot.errors import NotNowError, PermanentError, TemporaryError
from patchpilot.service.deps import Gateway, Guard, Services
from patchpilot.service.reconcile.failures import pause_for_failure
from patchpilot.service.reconcile.settle import found_running
from patchpilot.service.shadow import decided, in_shadow, record_decision

_log = logging.getLogger(__name__)

# Refusals that are about us, not about the upgrade: no credential, no role, a gone resource.
_NOT_AKS_REFUSALS: Final = frozenset({None, 401, 403, 404})

Verdict = Literal[
    "started", "held", "found", "not_now", "busy", "unconfirmed", "failed", "shadowed"
]


@dataclass(frozen=True)
class StartAsk:
    """One due action to start, with who asked and the lease the caller holds."""

    observation: ClusterObservation
    action: Action
    lease: Lease
    actor: str | None = None
    reason: str | None = None
    # `force`: windows and freezes are lifted, so the guard checks only the lease.
    forced: bool = False

    @property
    def key(self) -> OperationKey:
        """The idempotency key of the action."""
        state, action = self.observation.state, self.action
        assert action.target is not None  # a due action always has a target
        return OperationKey(state.key, action.pool, action.kind, action.target)


@dataclass(frozen=True)
class StartOutcome:
    """What :func:`start_once` did, the ledger record it left, and when to look again."""

    verdict: Verdict
    why: str
    operation: Operation | None = None
    retry_after: dt.timedelta | None = None

    @property
    def started(self) -> bool:
        """True when this call made AKS start the upgrade."""
        return self.verdict == "started"


def start_once(services: Services, ask: StartAsk, now: dt.datetime) -> StartOutcome:
    """Claim, guard and start one upgrade, and record what AKS said; see the module docstring."""
    key, shadow = ask.key, in_shadow(services)
    if shadow and decided(services.store, key):
        why = f"{_label(key)} was recorded in shadow mode before"
        return _shadowed(services, ask, why, now)
    claim = _claim(services, ask, now)
    if isinstance(claim, StartOutcome):
        return claim
    guard = StartGuard(services, ask, now)
    if shadow:
        return _shadow_start(services, ask, claim, guard)
    try:
        result = start_upgrade(services.gateway, ask.observation.state.id, key, guard=guard)
    except TemporaryError as exc:
        # Every attempt was answered (else the gateway says Unconfirmed): nothing started.
        _retire(services, claim, now)
        return StartOutcome("not_now", str(exc), retry_after=dt.timedelta(seconds=exc.retry_after))
    except PermanentError as exc:
        if exc.status in _NOT_AKS_REFUSALS:
            # Policy: our identity or the request's path is wrong, not this upgrade: nothing
            # started; say it loudly (the message fails) instead of failing the cluster.
            _retire(services, claim, now)
            raise
        # AKS's final word (a deprecated-API block, a version refused): a reason to act on.
        cause = classify_refusal(exc)
        return _failed(services, ask, claim, OperationError(cause.code, cause.reason), now)
    return _recorded(services, ask, claim, result, guard.moment)


def _claim(services: Services, ask: StartAsk, now: dt.datetime) -> Claim | StartOutcome:
    """The key's claim, or why not: held by another, or a dead worker's start found running."""
    key, store = ask.key, services.store
    with services.telemetry.store_write("claim", cluster=key.cluster):
        claim = store.claim(
            key, now, services.tuning.claim_ttl, holder=services.holder,
            actor=ask.actor, reason=ask.reason,
        )  # fmt: skip
    if not isinstance(claim, Claim):
        return StartOutcome("held", f"{_label(key)} already claimed", claim.existing)
    if claim.taken_over and found_running(services, ask.observation, claim, now):
        return StartOutcome("found", f"{_label(key)} found running", store.get(key))
    return claim


def _recorded(
    services: Services, ask: StartAsk, claim: Claim, result: StartResult, now: dt.datetime
) -> StartOutcome:
    key, store = ask.key, services.store
    if isinstance(result, Busy):
        # Every attempt was answered and AKS runs something else: nothing of ours started.
        _retire(services, claim, now)
        why = f"busy: {result.message}"
        return StartOutcome("busy", why, retry_after=dt.timedelta(seconds=result.retry_after))
    if isinstance(result, Unconfirmed):
        _log.warning("%s may have started (the claim stays): %s", key, result.why)
        why = f"{_label(key)} may have started, AKS's state will tell: {result.why}"
        return StartOutcome("unconfirmed", why, store.get(key), services.tuning.follow_up)
    if isinstance(result, Refused):
        return _failed(services, ask, claim, OperationError(result.code, result.message), now)
    try:
        with services.telemetry.store_write("mark_started", cluster=key.cluster):
            operation = store.mark_started(key, json.dumps(result.to_json()), now, claim.etag)
    except ClaimLostError as exc:
        # Only after our lease ran out can another worker take the claim: it follows AKS.
        _log.error("AKS accepted %s but the claim moved on (%s): %s", key, exc, result.status_url)
        return StartOutcome("started", f"{_label(key)} started; the claim moved on", store.get(key))
    return StartOutcome("started", f"{_label(key)} started", operation)


def _shadow_start(
    services: Services, ask: StartAsk, claim: Claim, guard: StartGuard
) -> StartOutcome:
    """Record what would have started, at the instant the guard let it go; send nothing."""
    key = ask.key
    try:
        guard()
    except NotNowError as exc:
        # As a real start the guard stopped: nothing would have gone out yet.
        _retire(services, claim, guard.moment)
        return StartOutcome("not_now", str(exc), retry_after=dt.timedelta(seconds=exc.retry_after))
    # Under the claim: a decision written by an earlier holder was written before its
    # claim was given back, so it is seen here, and the key is recorded once.
    if not decided(services.store, key):
        with services.telemetry.store_write("shadow_decision", cluster=key.cluster):
            record_decision(services.store, key, ask.action, guard.moment)
        _log.info("shadow mode: would have started %s on %s", _label(key), key.cluster)
    _retire(services, claim, guard.moment)
    why = f"shadow mode: would have started {_label(key)}"
    return _shadowed(services, ask, why, guard.moment)


def _shadowed(services: Services, ask: StartAsk, why: str, moment: dt.datetime) -> StartOutcome:
    """Recorded: look again once the window ends (by then AKS or a person may have patched)."""
    ends, tuning = ask.action.window_end, services.tuning
    again = max(ends - moment, tuning.follow_up) if ends is not None else tuning.max_delay
    return StartOutcome("shadowed", why, retry_after=again)


def _failed(
    services: Services, ask: StartAsk, claim: Claim, error: OperationError, now: dt.datetime
) -> StartOutcome:
    """AKS refused for good: the record fails with AKS's words, and the cluster is paused once."""
    key = ask.key
    try:
        record = services.store.mark_finished(
            key, "failed", now, error, token=claim.operation.token
        )
    except ClaimLostError:
        # Our lease ran out and another worker holds the key now: it decides.
        return StartOutcome("held", f"{_label(key)} was taken over", services.store.get(key))
    state = ask.observation.state
    pause_for_failure(services, state.id, f"{_label(key)} was refused: {error}", now)
    return StartOutcome("failed", f"AKS refused {_label(key)}: {error}", record)


def _retire(services: Services, claim: Claim, now: dt.datetime) -> None:
    """Give back a claim proven unused, so the next reconcile may claim the key again."""
    try:
        services.store.mark_finished(
            claim.operation.key, "expired", now, token=claim.operation.token
        )
    except ClaimLostError:
        _log.warning("the claim on %s had already moved on", claim.operation.key)


class StartGuard:
    """Runs before each attempt of a start call: the fresh clock, the window, the lease.

    Raises :class:`NotNowError` (with when to look again) instead of letting
    the attempt go out. `moment` is the last instant read.
    """

    def __init__(self, services: Services, ask: StartAsk, now: dt.datetime) -> None:
        self._services, self._ask = services, ask
        self.moment = now

    def __call__(self) -> None:
        services, ask = self._services, self._ask
        clock = services.clock
        self.moment = clock().astimezone(dt.UTC) if clock is not None else self.moment
        _check_clock(services)
        if not ask.forced:
            _check_window(services, ask.action, self.moment)
        # The lease is the token of one acquisition: lost means another worker acts here now.
        if services.store.renew_lease(ask.lease, self.moment, services.tuning.lease) is None:
            raise NotNowError(
                f"the lease on {ask.observation.state.id.name} was lost: another worker acts",
                retry_after=services.tuning.lease_retry.total_seconds(),
            )


def _check_clock(services: Services) -> None:
    """This instance's clock is near the store's, so its expiries mean what others read."""
    offset = services.store.clock_offset()
    bound = services.tuning.clock_skew / 2
    if offset is not None and abs(offset) > bound:
        raise NotNowError(
            f"this instance's clock is {abs(offset)} off Table Storage's, more than {bound} "
            "(half the tolerated skew between two instances): no start until its time is synced",
            retry_after=services.tuning.lease_retry.total_seconds(),
        )


def _check_window(services: Services, action: Action, moment: dt.datetime) -> None:
    """Open on every clock within the tolerated skew, and for the whole call after that."""
    skew = services.tuning.clock_skew
    opens = action.window_start or action.not_before
    if opens is not None and moment < opens + skew:
        wait = opens + skew - moment
        raise NotNowError(
            f"the window opens at {iso(opens)}; a clock {skew} behind must see it open too",
            retry_after=wait.total_seconds(),
        )
    ends = action.window_end
    margin = services.gateway.start_deadline + skew
    if ends is not None and moment >= ends - margin:
        raise NotNowError(
            f"the window ends at {iso(ends)}, within the start call's deadline and the "
            f"tolerated clock skew ({margin}) of {iso(moment)}: not started, planned again after",
            retry_after=max((ends - moment).total_seconds(), 1.0),
        )


def start_upgrade(
    gateway: Gateway, cluster: ClusterId, key: OperationKey, *, guard: Guard | None = None
) -> StartResult:
    """Start the control plane, pool version or node image upgrade the ledger claimed."""
    if key.kind == "node_image":
        if key.pool is None:
            raise ValueError("a node image upgrade names its pool")
        return gateway.upgrade_node_image(cluster, key.pool, guard=guard)
    version = KubernetesVersion.parse(key.target)
    if key.pool is None:
        return gateway.upgrade_control_plane(cluster, version, guard=guard)
    return gateway.upgrade_pool_version(cluster, key.pool, version, guard=guard)


def started_data(action: Action) -> dict[str, object]:
    """The `UpgradeStarted` notice's data for a planned action."""
    return {
        "cluster": str(action.cluster),
        "pool": action.pool,
        "kind": action.kind,
        "from": action.current,
        "to": action.target,
        "window_end": iso(action.window_end),
        "reason": action.reason,
    }


def _label(key: OperationKey) -> str:
    return f"{key.pool or 'control plane'} {key.kind} -> {key.target}"
