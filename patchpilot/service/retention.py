"""The retention timer's use case: one bounded cleanup pass, continued where the last one stopped.

Table Storage keeps rows until someone deletes them. Each run reads at most
:data:`BUDGET` rows (:class:`~patchpilot.adapters.store.retention.Retention`
says what lives how long), deletes what outlived its use, and keeps the
cursor in one snapshot (kind :data:`KIND`), so the next run goes on from
there and a sequence of runs covers every table, around and around. A lost
or unreadable cursor only restarts the walk; a run that dies before saving
it repeats part of the last one, which deletes nothing twice.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any, Final

from patchpilot.adapters.store import Store
from patchpilot.adapters.store.retention import SEGMENT_NAMES, Cursor, Retention, Swept
from patchpilot.domain.gates import generation
from patchpilot.service.deps import Services

KIND: Final = "retention"
KEY: Final = "cursor"
# Rows read per run: about 5 pages and their deletes, seconds on Table Storage. Hourly,
# that walks 120,000 rows a day, a lap of a 10k-cluster fleet's state in about a week.
BUDGET: Final = 5000
# After a whole lap, the next one waits this long: lifetimes are counted in days (the
# shortest, a crashed lease's, is a day), so a lap a day removes each kind within about a
# day of its end; a small store would otherwise be read whole every hour. 20 h, not 24, so
# an hourly timer that drifts still laps once a day.
REST: Final = dt.timedelta(hours=20)
LAP_KEY: Final = "lap"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionOutcome:
    """What one run did and where the next one starts."""

    swept: Swept
    cursor: Cursor

    def to_json(self) -> dict[str, Any]:
        """For the timer's log and tests."""
        return {
            "examined": self.swept.examined,
            "deleted": dict(self.swept.deleted),
            "laps": self.swept.laps,
            "next": self.cursor.to_json(),
        }


def run_retention(services: Services, now: dt.datetime) -> RetentionOutcome:
    """One bounded pass over the whole store, from the saved cursor."""
    retention = services.store.retention(generation(services.policy))
    return sweep_store(services.store, retention, now)


def sweep_store(
    store: Store, retention: Retention, now: dt.datetime, *, budget: int = BUDGET
) -> RetentionOutcome:
    """Load the cursor, run one pass of at most `budget` rows, save the cursor, log the counts.

    A run that finds the walk at its start within :data:`REST` of the last
    whole lap reads nothing: what lives a day or more is not worth a lap an hour.
    """
    cursor = load_cursor(store)
    if _resting(store, cursor, now):
        return RetentionOutcome(Swept(0, {}, 0), cursor or Cursor(SEGMENT_NAMES[0]))
    swept, cursor = retention.run(now, budget=budget, cursor=cursor)
    store.put_snapshot(KIND, KEY, json.dumps(cursor.to_json()), now)
    if swept.laps:
        store.put_snapshot(KIND, LAP_KEY, json.dumps({"at": now.isoformat()}), now)
    removed = ", ".join(f"{kind} {count}" for kind, count in swept.deleted.items() if count)
    _log.info(
        "retention read %d rows, deleted %d (%s); next from %s",
        swept.examined,
        swept.total_deleted,
        removed or "nothing",
        cursor.segment,
    )
    return RetentionOutcome(swept, cursor)


def _resting(store: Store, cursor: Cursor | None, now: dt.datetime) -> bool:
    """True while the walk is at its start and the last lap ended within REST."""
    at_start = cursor is None or (cursor.segment == SEGMENT_NAMES[0] and cursor.after is None)
    body = store.get_snapshot(KIND, LAP_KEY)
    if not at_start or body is None:
        return False
    try:
        ended = dt.datetime.fromisoformat(json.loads(body)["at"])
    except (ValueError, KeyError, TypeError):
        return False
    return now - ended < REST


def load_cursor(store: Store) -> Cursor | None:
    """The saved cursor, or None to start at the beginning (a cursor is only a hint)."""
    body = store.get_snapshot(KIND, KEY)
    if body is None:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        # Policy: an unreadable cursor restarts the walk; nothing depends on where it was.
        _log.warning("ignored an unreadable retention cursor")
        return None
    return Cursor.from_json(data) if isinstance(data, dict) else None
