"""Shadow decisions live as long as RetentionPolicy.shadow says, then retention removes them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from patchpilot.adapters.store import OperationKey, open_sqlite_store
from patchpilot.adapters.store.retention import RetentionPolicy
from patchpilot.domain.plan import Action
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.service.shadow import KIND, decided, record_decision
from tests.factories import cluster_id, utc

MADE = utc(2025, 11, 22, 1, 5)
KEY = OperationKey(cluster_id("dev-1").lower(), None, "kubernetes", "1.32.9")
ACTION = Action(
    parse_cluster_id(cluster_id("dev-1")),
    None,
    "kubernetes",
    "1.32.6",
    "1.32.9",
    "due",
    MADE,
    "due",
)


@pytest.mark.parametrize(
    ("age", "kept"),
    [
        pytest.param(dt.timedelta(days=89), True, id="a-day-before-its-90-days"),
        pytest.param(dt.timedelta(days=90), False, id="at-90-days"),
    ],
)
def test_a_shadow_decision_is_kept_for_its_lifetime(
    tmp_path: Path, age: dt.timedelta, kept: bool
) -> None:
    store = open_sqlite_store(tmp_path / "state.db")
    record_decision(store, KEY, ACTION, MADE)

    swept, _ = store.retention().run(MADE + age, budget=1000)

    assert decided(store, KEY) is kept
    assert swept.deleted[KIND] == (0 if kept else 1)
    assert RetentionPolicy().shadow == dt.timedelta(days=90)
