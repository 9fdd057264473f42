"""`bench/state_scale.py --quick`: each part runs on the app as it is and prints its ratio lines.

The benchmark's figures go into the issue's closing note, so each part must
keep running while the store, the reconcile and the sweep are rewritten
under it. Sizes are small and nothing is timed: this checks that the part
runs to its end and says what it measured, not what the figures are.
Each part runs in its own interpreter, as it is run by hand (the script
silences the app's logging and starts tracemalloc).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.replay_calendar import RELEASES_CSV

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"[0-9][0-9,]*(?:\.[0-9]+)?"
RATIO = rf"(?:{NUMBER}|n/a)"


def run_part(part: str) -> str:
    """The part's printed output; the run must end well."""
    done = subprocess.run(  # our own script, fixed arguments
        [sys.executable, str(ROOT / "bench" / "state_scale.py"), "--quick", "--part", part],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_reconcile_part_prints_each_reconcile_and_the_ratio_across_fleet_sizes() -> None:
    out = run_part("reconcile")

    for label in ("starting", "idle", "idle again"):
        assert re.search(
            rf"^  {label}: read {NUMBER}, written {NUMBER}, {NUMBER} requests", out, re.M
        )
    assert "started nothing" not in out, out
    ratio = rf"^ratio rows read per reconcile 60/10 clusters: starting {RATIO}, idle {RATIO}, "
    assert re.search(ratio + rf"idle again {RATIO} \(goal <= 1.2\)$", out, re.M), out


@pytest.mark.skipif(not RELEASES_CSV.exists(), reason=f"shared data not found at {RELEASES_CSV}")
def test_the_year_part_prints_stored_kinds_over_time_and_the_ratio_of_its_ends() -> None:
    out = run_part("year")

    checkpoints = re.findall(r"^  day +(\d+) .*rows stored: .*longest value: ", out, re.M)
    assert checkpoints == ["8", "16", "24"], out
    assert "snapshots/cluster" in out
    for kind in ("first tries", "follow-ups", "both"):
        ring = (
            rf"^  (dev|staging|prod), {kind} \(from [0-9-]+\): mean {RATIO} \(.*\), most {RATIO} "
        )
        assert re.search(ring, out, re.M), out
    worst = rf"^ratio rows read per reconcile, last 6 days / first 6, worst ring: mean {RATIO}, "
    worst += rf"most {RATIO} \(goal <= 1.2\); first tries and follow-ups mixed: mean {RATIO}$"
    assert re.search(worst, out, re.M), out
    assert re.search(r"^  host failures: \d+", out, re.M), out


def test_the_sweep_part_prints_the_largest_invocation_by_time_and_by_memory() -> None:
    out = run_part("sweep")

    for size in ("20", "100"):
        assert re.search(rf"^sweep, {size} clusters in \d+ subscription", out, re.M), out
    rounds = re.findall(r"^  (first|steady|steady, traced): \d+ invocations .* largest ", out, re.M)
    assert rounds == ["first", "steady", "steady, traced"] * 2, out
    assert len(re.findall(rf"peak memory \w+ {NUMBER} MiB", out)) == 2, out
    assert "FAILED" not in out, out
