"""A worker killed with SIGKILL at any point leaves the ledger safe and nothing stuck.

A real separate Python process claims an upgrade in the store and is killed
at a chosen step: after the claim, after "ARM accepted" (before the ledger
heard of it), or after `mark_started`; or at an arbitrary moment of a burst
of writes. Then the parent, like the next reconcile, claims again: it never
gets a fresh claim while the record protects the upgrade, and once a dead
claim's ttl has passed exactly one of many racing claimers takes it over,
flagged so it re-observes AKS first. Runs against SQLite and Azurite.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from patchpilot.adapters.store import (
    AlreadyClaimed,
    Claim,
    OperationKey,
    RowStore,
    TableNames,
    load_history,
    open_sqlite_store,
    open_table_store,
)
from patchpilot.adapters.store.records import MAX_CLOCK_SKEW
from tests.integration.azurite import Azurite, running

ROOT = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2025, 11, 22, 1, 30, tzinfo=dt.UTC)
TTL = dt.timedelta(minutes=30)
AFTER_TTL = T0 + TTL + MAX_CLOCK_SKEW + dt.timedelta(minutes=1)
CLUSTER = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg"
    "/providers/microsoft.containerservice/managedclusters/prod-1"
)
RACERS = 8
BURST = 400
READ_DEADLINE_SECONDS = 30.0


def op_key(index: int = 0) -> OperationKey:
    """The upgrade a worker claims: one pool per index."""
    return OperationKey(CLUSTER, f"pool{index}", "node_image", "AKSUbuntu-2204gen2containerd-1")


@dataclass(frozen=True)
class Backend:
    """Where the store lives, in a form a child process can be handed on its command line."""

    spec: dict[str, str]

    def open(self) -> RowStore:
        """A store object on this backend."""
        if self.spec["kind"] == "sqlite":
            return open_sqlite_store(self.spec["path"])
        names = TableNames.prefixed(self.spec["prefix"])
        return open_table_store(connection_string=self.spec["connection_string"], names=names)


def child_main(spec_json: str, stop_after: str) -> None:
    """The worker: claim, "call ARM", mark started; hang at `stop_after` until killed."""
    store = Backend(json.loads(spec_json)).open()
    if stop_after == "burst":
        for index in range(BURST):
            claim = store.claim(op_key(index), T0, TTL, holder=str(os.getpid()))
            assert isinstance(claim, Claim)
            store.mark_started(op_key(index), f"op-{index}", T0, claim.etag)
            print(index, flush=True)  # noqa: T201  # the parent reads progress from stdout
    else:
        claim = store.claim(op_key(), T0, TTL, holder=str(os.getpid()))
        assert isinstance(claim, Claim)
        for step in ("claimed", "arm-accepted"):
            print(step, flush=True)  # noqa: T201
            if stop_after == step:
                break
        else:
            store.mark_started(op_key(), "https://arm/operations/1", T0, claim.etag)
            print("started", flush=True)  # noqa: T201
    threading.Event().wait()


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    """One Azurite for this module's Table Storage runs."""
    with running() as emulator:
        yield emulator


@pytest.fixture(params=["sqlite", "tables"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Fresh storage on each backend."""
    if request.param == "sqlite":
        return Backend({"kind": "sqlite", "path": str(tmp_path / "state.db")})
    emulator: Azurite = request.getfixturevalue("azurite")
    prefix = "c" + uuid.uuid4().hex[:12]
    return Backend(
        {"kind": "tables", "connection_string": emulator.connection_string, "prefix": prefix}
    )


def run_until(backend: Backend, stop_after: str, line: str) -> int:
    """Start a worker, wait until it prints `line`, SIGKILL it; its pid."""
    code = (
        "import sys; from tests.reliability.test_store_crash import child_main; "
        "child_main(*sys.argv[1:])"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(backend.spec), stop_after],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_line(child, line)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    return child.pid


def wait_for_line(child: subprocess.Popen[str], line: str) -> None:
    """Read the child's stdout until `line`, with a deadline; fail with its stderr if it dies."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert child.stdout is not None
        for got in child.stdout:
            lines.put(got.strip())
        lines.put("")  # end of output: the child died

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + READ_DEADLINE_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        try:
            got = lines.get(timeout=left)
        except queue.Empty:
            break
        if got == line:
            return
        if not got:
            assert child.stderr is not None
            pytest.fail(f"the worker died early: {child.stderr.read()}")
    pytest.fail(f"the worker did not print {line!r} within {READ_DEADLINE_SECONDS}s")


def race_claims(backend: Backend, key: OperationKey, now: dt.datetime) -> list[Claim]:
    """RACERS store objects claim `key` at once; the claims that succeeded."""
    stores = [backend.open() for _ in range(RACERS)]
    barrier = threading.Barrier(RACERS)

    def claim(store: RowStore) -> Claim | AlreadyClaimed:
        barrier.wait(timeout=30)
        return store.claim(key, now, TTL, holder=uuid.uuid4().hex)

    try:
        with ThreadPoolExecutor(RACERS) as pool:
            results = list(pool.map(claim, stores))
    finally:
        for store in stores:
            store.close()
    return [result for result in results if isinstance(result, Claim)]


@pytest.mark.parametrize("stop_after", ["claimed", "arm-accepted"])
def test_a_claim_whose_worker_died_blocks_until_its_ttl_then_is_taken_over_once(
    backend: Backend, stop_after: str
) -> None:
    pid = run_until(backend, stop_after, stop_after)

    with backend.open() as store:
        soon = store.claim(op_key(), T0 + dt.timedelta(minutes=5), TTL)
        assert isinstance(soon, AlreadyClaimed)
        assert (soon.existing.state, soon.existing.holder) == ("in_progress", str(pid))
        assert load_history(store, T0).in_flight != ()
        # Past its ttl the dead claim no longer blocks the plan, so the action comes back...
        assert load_history(store, AFTER_TTL).in_flight == ()

    # ...and exactly one of the next reconciles takes it over, told to re-observe AKS.
    claims = race_claims(backend, op_key(), AFTER_TTL)
    assert len(claims) == 1
    assert claims[0].taken_over
    assert claims[0].previous is not None
    assert claims[0].previous.holder == str(pid)
    assert claims[0].operation.attempts == 2


def test_an_upgrade_marked_started_by_a_worker_that_died_is_never_claimed_again(
    backend: Backend,
) -> None:
    run_until(backend, "started", "started")

    assert race_claims(backend, op_key(), T0 + 100 * TTL) == []
    with backend.open() as store:
        record = store.get(op_key())
        assert record is not None
        assert (record.state, record.operation_id) == ("started", "https://arm/operations/1")
        assert len(load_history(store, T0 + 100 * TTL).in_flight) == 1


def test_a_worker_killed_mid_burst_leaves_every_record_whole_and_nothing_stuck(
    backend: Backend,
) -> None:
    run_until(backend, "burst", "40")

    with backend.open() as store:
        records = store.list_operations()
        started = [op for op in records if op.state == "started"]
        # Every upgrade the worker confirmed is started; at most one claim was cut short.
        assert len(started) >= 41
        assert len(records) - len(started) <= 1
        outcomes = [store.claim(op_key(i), AFTER_TTL, TTL) for i in range(len(records) + 5)]
    for index, outcome in enumerate(outcomes):
        if index < len(started):
            assert isinstance(outcome, AlreadyClaimed), index
            assert outcome.existing.state == "started"
        else:
            # Unconfirmed or never written: claimable now, a takeover only if it was written.
            assert isinstance(outcome, Claim), index
            assert outcome.taken_over == (index < len(records))
