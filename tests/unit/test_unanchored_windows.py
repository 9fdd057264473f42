"""Fleet files and stored snapshots with a maintenance window that has no anchor.

An interval above 1 without ``startDate`` has no phase Patch Pilot can know
(``patchpilot/domain/schedule.py``, the notes above MaintenanceWindow): a fleet file saying so is
refused at the field, while a configuration observed through ARM is kept as an
unusable schedule that opens no window and survives the service's snapshots.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from patchpilot.domain.fleet import fleet_document, parse_fleet
from patchpilot.domain.maintenance_config import parse_maintenance_configuration
from patchpilot.errors import InvalidInputError
from tests.factories import cluster, fleet, utc

NODE_OS = "aksManagedNodeOSUpgradeSchedule"
KUBERNETES = "aksManagedAutoUpgradeSchedule"


def _window(schedule: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "maintenanceWindow": {"schedule": schedule, "durationHours": 4, "startTime": "01:00"}
        | fields
    }


@pytest.mark.parametrize(
    ("name", "schedule", "interval"),
    [
        pytest.param(
            NODE_OS,
            {"weekly": {"intervalWeeks": 2, "dayOfWeek": "Sunday"}},
            "intervalWeeks 2",
            id="node-os-fortnightly",
        ),
        pytest.param(
            KUBERNETES,
            {"absoluteMonthly": {"intervalMonths": 3, "dayOfMonth": 1}},
            "intervalMonths 3",
            id="kubernetes-quarterly",
        ),
        pytest.param(NODE_OS, {"daily": {"intervalDays": 3}}, "intervalDays 3", id="every-3-days"),
    ],
)
def test_a_fleet_file_window_with_an_interval_above_one_needs_a_start_date(
    name: str, schedule: dict[str, Any], interval: str
) -> None:
    doc = cluster("c-1", "dev", maintenance_configurations={name: _window(schedule)})
    with pytest.raises(InvalidInputError) as caught:
        fleet([doc])
    error = caught.value
    assert error.source == "test-fleet.yaml"
    assert (
        error.path == f"clusters[0].maintenance_configurations.{name}.maintenanceWindow.startDate"
    )
    assert f"{interval} without startDate has no anchor" in error.detail
    assert "set startDate" in error.detail
    anchored = cluster(
        "c-1", "dev", maintenance_configurations={name: _window(schedule, startDate="2026-01-04")}
    )
    assert fleet([anchored]).clusters[0].maintenance[name].unusable is None


def test_an_observed_unusable_window_reads_back_from_its_snapshot_unusable() -> None:
    # The service stores each observed cluster as a fleet document between sweeps.
    state = fleet([cluster("c-1", "dev")])
    observed = parse_maintenance_configuration(
        {"name": NODE_OS, "properties": _window({"daily": {"intervalDays": 2}})}, observed=True
    )
    assert observed.unusable is not None
    seen = dataclasses.replace(
        state, clusters=(dataclasses.replace(state.clusters[0], maintenance={NODE_OS: observed}),)
    )

    again = parse_fleet(fleet_document(seen), source="fleet snapshot")

    assert again == seen
    stored = again.clusters[0].maintenance[NODE_OS]
    assert stored.unusable == observed.unusable
    assert stored.windows(utc(2026, 1, 1), 1) == []
