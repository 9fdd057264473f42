"""A resume is audited as every change is: who (Entra object ID and name), the role, the reason.

The store forgets a deleted pause, so the `operator.resume` span carries the
resumer, the role used and their `?reason=`, beside who made the pause and
why (issue 17, point 6). A bad reason is a 422 and the pause stays.
"""

from __future__ import annotations

from pathlib import Path

from patchpilot.telemetry.testing import in_memory_telemetry
from tests.integration.http_support import DEV, person, running_api


def test_a_resume_traces_the_person_the_role_and_both_reasons(tmp_path: Path) -> None:
    memory = in_memory_telemetry()
    try:
        with running_api(tmp_path, telemetry=memory.telemetry) as api:
            stopper = person("sam@contoso.com", "stop", oid="oid-sam")
            body = {"scope": "cluster", "target": DEV, "reason": "incident 12"}
            made = api.call("POST", "/api/pauses", body, headers=stopper)
            operator = person("ann@contoso.com", "operate", oid="oid-ann")
            path = f"/api/pauses/{made.body['id']}"
            lifted = api.call("DELETE", path, headers=operator, params={"reason": "fixed: INC-12"})
        span = memory.span("operator.resume")
    finally:
        memory.shutdown()

    assert lifted.status == 200
    attributes = dict(span.attributes or {})
    assert attributes["enduser.id"] == "entra:oid-ann ann@contoso.com"
    assert attributes["patchpilot.operator.object_id"] == "oid-ann"
    assert attributes["enduser.role"] == "operate"
    assert attributes["patchpilot.reason"] == "fixed: INC-12"
    assert attributes["patchpilot.paused_for"] == "incident 12"
    assert attributes["patchpilot.paused_by"] == "entra:oid-sam sam@contoso.com (stop)"


def test_a_resume_with_a_bad_reason_is_refused_and_the_pause_stays(tmp_path: Path) -> None:
    with running_api(tmp_path) as api:
        body = {"scope": "fleet", "reason": "freeze"}
        made = api.call("POST", "/api/pauses", body, headers=person("sam@contoso.com", "stop"))
        operator = person("ann@contoso.com", "operate")
        path = f"/api/pauses/{made.body['id']}"
        refused = api.call("DELETE", path, headers=operator, params={"reason": "x" * 501})
        left = [p.id for p in api.app.services.store.list_pauses(api.app.clock.now())]

    assert refused.status == 422
    assert refused.body["error"]["message"].startswith("reason")
    assert left == [made.body["id"]]
