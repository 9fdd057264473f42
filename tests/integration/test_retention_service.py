"""The retention use case on the running app: what the API wrote ages out, the cursor carries on.

The app (simulator, SQLite store, local host) takes real requests: an alert
that fires and resolves, a pause retried with an `Idempotency-Key`, an
open-ended pause. Retention then runs over the same SQLite file at later
instants, as the timer would.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchpilot.adapters.store.retention import ALERT, IDEMPOTENCY, Retention
from patchpilot.adapters.store.sqlite import SqliteRows
from patchpilot.service.retention import KEY, KIND, load_cursor, sweep_store
from tests.integration.http_support import Api, alert, running_api

DAY = dt.timedelta(days=1)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(tmp_path) as running:
        yield running


@pytest.fixture
def retention(tmp_path: Path) -> Iterator[Retention]:
    rows = SqliteRows(tmp_path / "state.db")
    try:
        yield Retention(rows)
    finally:
        rows.close()


def test_what_the_api_wrote_ages_out_and_what_still_holds_stays(
    api: Api, retention: Retention
) -> None:
    store, now = api.app.services.store, api.app.clock.now()
    assert api.call("POST", "/api/alerts", alert()).body["verdict"] == "paused"
    assert api.call("POST", "/api/alerts", alert(condition="Resolved")).body["verdict"] == "resumed"
    held = {"scope": "ring", "target": "prod", "reason": "release night"}
    api.call("POST", "/api/pauses", held, headers={"Idempotency-Key": "pause-1"})
    assert len(store.list_snapshots(ALERT)) == len(store.list_snapshots(IDEMPOTENCY)) == 1

    soon = sweep_store(store, retention, now + DAY)
    assert soon.swept.total_deleted == 0

    later = sweep_store(store, retention, now + 31 * DAY)
    assert later.swept.deleted[ALERT] == later.swept.deleted[IDEMPOTENCY] == 1
    assert store.list_snapshots(ALERT) == store.list_snapshots(IDEMPOTENCY) == ()
    (pause,) = store.list_pauses(now + 31 * DAY)
    assert pause.target == "prod"


def test_each_run_starts_where_the_last_one_stopped(api: Api, retention: Retention) -> None:
    store, now = api.app.services.store, api.app.clock.now()
    assert load_cursor(store) is None

    first = sweep_store(store, retention, now, budget=3)

    assert first.swept.examined <= 3
    assert load_cursor(store) == first.cursor
    second = sweep_store(store, retention, now, budget=3)
    assert second.cursor != first.cursor
    assert load_cursor(store) == second.cursor


def test_an_unreadable_cursor_starts_the_walk_over(api: Api, retention: Retention) -> None:
    store, now = api.app.services.store, api.app.clock.now()
    store.put_snapshot(KIND, KEY, "not json", now)
    assert load_cursor(store) is None
    store.put_snapshot(KIND, KEY, json.dumps(["a list"]), now)
    assert load_cursor(store) is None

    outcome = sweep_store(store, retention, now)

    assert outcome.swept.laps == 1  # from the start, around once
    assert load_cursor(store) == outcome.cursor
