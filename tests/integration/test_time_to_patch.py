"""`bench/time_to_patch.py` on a short replay: two months of real releases over six clusters.

The benchmark's figures are only worth printing if its records hold the
issue's invariants: every upgrade starts inside its pool's node OS window,
never before the earliest moment the rules allowed (which itself is never
before the image reached the region), never twice, and prod never ahead of
dev. The windows here are recomputed from the fleet's schedules and the
policy's freezes, not taken from the benchmark's own fields.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import pytest

from bench.time_to_patch import Operation, Replay, render, replay, write_operations
from patchpilot.domain.fleet import NODE_OS_SCHEDULE
from patchpilot.domain.schedule import subtract

START = dt.date(2025, 8, 1)
DAYS = 61  # crosses the 2025-08-08, 08-29 and 09-21 releases and two Patch Tuesdays
CLUSTERS = 6


@pytest.fixture(scope="module")
def result() -> Replay:
    """One replay shared by the tests: it takes a few seconds of real time."""
    return replay(START, DAYS, CLUSTERS, seed=1)


def _in_window(result: Replay, op: Operation) -> bool:
    fleet, policy = result.run.inputs.fleet, result.run.inputs.policy
    cluster = next(c for c in fleet.clusters if c.key == op.cluster.lower())
    window = cluster.maintenance[NODE_OS_SCHEDULE].window_at(op.started_at)
    if window is None:
        return False
    return any(piece.contains(op.started_at) for piece in subtract(window, policy.freeze_spans))


def test_patchpilot_upgraded_both_oses(result: Replay) -> None:
    oses = {op.os for op in result.patchpilot if op.outcome == "succeeded"}
    assert oses == {"Linux", "Windows"}


def test_every_record_knows_its_availability_and_earliest_moment(result: Replay) -> None:
    for op in result.patchpilot:
        assert op.available_at is not None, op
        assert op.earliest_allowed_at is not None, op
        assert op.available_at <= op.earliest_allowed_at <= op.started_at, op
        assert op.finished_at is None or op.finished_at > op.started_at, op


def test_no_upgrade_started_outside_its_window_or_twice(result: Replay) -> None:
    assert all(_in_window(result, op) for op in result.patchpilot)
    starts = Counter((op.key, str(op.target)) for op in result.patchpilot)
    assert max(starts.values()) == 1


def test_figures_hold_the_goals(result: Replay) -> None:
    figures = result.patchpilot_figures
    assert figures.early_starts == 0
    assert figures.start_ratio is not None
    assert figures.start_ratio == pytest.approx(1.0, abs=0.05)
    assert figures.prod_before_dev == 0
    assert all(v >= 0 for values in figures.exposures.values() for v in values)


def test_the_node_image_model_uses_the_same_windows(result: Replay) -> None:
    assert result.model
    for op in result.model:
        assert op.available_at is not None
        assert op.available_at <= op.started_at
        assert _in_window(result, op), op
    assert result.model_figures.early_starts == 0


def test_output_and_last_line(result: Replay, tmp_path: Path) -> None:
    path = tmp_path / "records.json"
    write_operations(path, result)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert len(document["patchpilot"]) == len(result.patchpilot)
    assert len(document["nodeimage_model"]) == len(result.model)
    assert {"available_at", "earliest_allowed_at", "started_at", "finished_at"} <= set(
        document["patchpilot"][0]
    )
    assert render(result).splitlines()[-1].startswith("ratios: ")
