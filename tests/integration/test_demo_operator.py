"""The demo's people act as signed-in persons: their names and roles are recorded.

The on-call engineer's resume (`DELETE /api/pauses/{id}`) and the racing
operator's manual upgrade (`POST /api/upgrades`) run on a platform with App
Service authentication on, so the trace names the Entra principal and the
operate role (not "function key"), as a deployed app's would (issue 17).
"""

from __future__ import annotations

from pathlib import Path

from patchpilot.demo.scenario import calm
from patchpilot.demo.script import ON_CALL_NAME, ON_CALL_OBJECT_ID, Script
from patchpilot.localhost.workers import OPERATOR_NAME, RacePlan
from patchpilot.telemetry.testing import in_memory_telemetry
from tests.integration.http_support import DEV, running_api


def test_the_on_call_resume_records_the_signed_in_engineer_and_the_operate_role(
    tmp_path: Path,
) -> None:
    memory = in_memory_telemetry()
    try:
        with running_api(tmp_path, telemetry=memory.telemetry) as api:
            store = api.app.services.store
            now = api.app.clock.now()
            store.add_pause("cluster", "drain failed", "patchpilot", now, target=DEV.lower())
            script = Script(api.app, calm())
            script._resume(DEV.lower(), now)  # what the demo's clock hook calls when it is due
            left = store.list_pauses(now)
        span = memory.span("operator.resume")
    finally:
        memory.shutdown()

    assert left == ()
    attributes = dict(span.attributes or {})
    assert attributes["enduser.id"] == f"entra:{ON_CALL_OBJECT_ID} {ON_CALL_NAME}"
    assert attributes["enduser.role"] == "operate"
    assert attributes["patchpilot.operator.via"] == "entra"
    assert f"via DELETE /api/pauses/{{id}} as {ON_CALL_NAME} (operate)" in script.notes[-1].text


def test_the_racing_operator_is_a_signed_in_person_with_the_operate_role(tmp_path: Path) -> None:
    memory = in_memory_telemetry()
    try:
        with running_api(tmp_path, telemetry=memory.telemetry) as api:
            workers = api.app.collide(RacePlan(manual_rate=1.0, max_races=1))
            api.app.host.fire_timer("sweep")
            api.app.host.drain()
        span = memory.span("operator.upgrade")
    finally:
        memory.shutdown()

    ((status, outcome),) = workers.manual_answers
    assert status not in (401, 403), outcome
    attributes = dict(span.attributes or {})
    assert str(attributes["enduser.id"]).endswith(f" {OPERATOR_NAME}")
    assert attributes["enduser.role"] == "operate"
