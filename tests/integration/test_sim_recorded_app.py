"""The whole app against the simulator's recorded-ARM answers: signed URLs, errors in status bodies.

The registered functions run on the simulator, SQLite, the local host and
one virtual clock (as in ``test_start_safety.py``). The simulator hands out
~2,700-character signed ``Azure-AsyncOperation`` URLs and adds a
``NotLatestOperation`` error to running and succeeded status bodies; the app
must keep each URL whole in its ledger, poll it whole, and read ``status``,
not the presence of ``error``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest

from bench.arm_cost import generate, policy
from patchpilot.localhost.harness import running_app
from patchpilot.sim.faults import FaultPlan
from patchpilot.sim.operation_urls import is_signed

AT = dt.datetime(2025, 11, 22, 1, 30, tzinfo=dt.UTC)


def test_the_ledger_keeps_and_polls_signed_urls_whole_and_ignores_errors_of_live_operations(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    faults = FaultPlan(status_errors=frozenset({"InProgress", "Succeeded"}))
    with (
        caplog.at_level(logging.DEBUG, logger="patchpilot"),
        running_app(generate(2, behind=2), policy(), AT, tmp_path, faults=faults) as app,
    ):
        app.host.run_until(AT + dt.timedelta(hours=12))
        ledger = app.services.store.list_operations()
        issued = [op.status_url for op in app.sim.aks.operations()]
        polls = app.sim.aks.polls()

    stored = [json.loads(op.operation_id or "{}").get("status_url") for op in ledger]
    assert len(ledger) == 4
    assert {op.state for op in ledger} == {"succeeded"}
    assert sorted(url or "" for url in stored) == sorted(url or "" for url in issued)
    for url in stored:
        assert url is not None
        assert is_signed(url)
        assert len(url) > 2500
        assert url in polls  # the poll hit the URL AKS sent, whole
    assert set(polls) <= set(stored)
    # The app's own log lines that name an operation name its URL whole (the SDK's
    # http_logging_policy redacts t, c, s and h itself).
    for record in caplog.records:
        if record.name.startswith("patchpilot.sim"):
            continue
        text = record.getMessage()
        for url in stored:
            path = (url or "").split("?", 1)[0]
            if path and path in text:
                assert url in text, text[:300]
