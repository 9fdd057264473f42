"""Fleet documents round-trip: what the service stores between sweeps reads back unchanged."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from patchpilot.domain.fleet import FleetState, fleet_document, parse_fleet
from patchpilot.domain.history import History
from patchpilot.domain.maintenance_config import parse_maintenance_configuration, to_arm
from patchpilot.domain.policy import Policy
from patchpilot.files import load_fleet
from tests.unit.test_planner_properties import scenarios, windows

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fleet.yaml"


def test_the_example_fleet_round_trips() -> None:
    state = load_fleet(EXAMPLE)
    assert parse_fleet(fleet_document(state)) == state


def test_default_form_with_not_allowed_time_round_trips() -> None:
    config = {
        "timeInWeek": [{"day": "Monday", "hourSlots": [1, 2]}],
        "notAllowedTime": [{"start": "2026-11-26T03:00:00Z", "end": "2026-11-30T12:00:00Z"}],
    }
    schedule = parse_maintenance_configuration(config)
    assert parse_maintenance_configuration(to_arm(schedule)) == schedule


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(windows)
def test_every_maintenance_window_round_trips(window: dict[str, object]) -> None:
    schedule = parse_maintenance_configuration({"maintenanceWindow": window})
    assert parse_maintenance_configuration(to_arm(schedule)) == schedule


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_generated_fleets_round_trip(
    scenario: tuple[FleetState, Policy, History, dt.datetime],
) -> None:
    state = scenario[0]
    assert parse_fleet(fleet_document(state)) == state
