"""A running upgrade is polled no sooner than AKS's Retry-After asks, nor sooner than usual."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from patchpilot.domain.messages import ReconcileRequest
from patchpilot.domain.policy import parse_policy
from patchpilot.files import read_document
from patchpilot.localhost.harness import running_app
from patchpilot.service.messages import handle_reconcile_message
from patchpilot.service.outcomes import ReconcileOutcome
from patchpilot.sim.pace import Pace

ROOT = Path(__file__).resolve().parents[2]
FLEET = read_document(ROOT / "examples" / "fleet.yaml")
POLICY = parse_policy(read_document(ROOT / "examples" / "policy.yaml"))
START = dt.datetime(2025, 11, 22, 1, 30, tzinfo=dt.UTC)  # inside the dev window
CLUSTER = next(c["id"] for c in FLEET["clusters"] if c["id"].endswith("/dev-neu-1"))


def follow_up_after_start(tmp_path: Path, retry_after: int) -> float | None:
    """Start dev-neu-1's upgrade, then poll it once: the delay the poll asks for."""
    pace = Pace(seconds_per_node=3600.0, retry_after_seconds=retry_after)
    with running_app(FLEET, POLICY, START, tmp_path, pace=pace) as app:
        services, now = app.services, app.clock.now()
        app.host.fire_timer("sweep")
        first = handle_reconcile_message(
            services, ReconcileRequest(CLUSTER, "t", now).encode(), now
        )
        assert isinstance(first, ReconcileOutcome)
        assert first.started
        later = now + dt.timedelta(minutes=10)
        poll = handle_reconcile_message(
            services, ReconcileRequest(CLUSTER, "t", later).encode(), later
        )
        assert isinstance(poll, ReconcileOutcome)
        assert not poll.started
        return poll.requeued_after_seconds


def test_a_long_retry_after_spaces_the_next_poll(tmp_path: Path) -> None:
    assert follow_up_after_start(tmp_path, retry_after=1800) == 1800


def test_a_short_retry_after_keeps_the_usual_follow_up(tmp_path: Path) -> None:
    assert follow_up_after_start(tmp_path, retry_after=1) == 600
