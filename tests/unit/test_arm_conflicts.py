"""Which 409s mean "AKS is busy, wait" and which are a refusal to report (issue 13, defect 4)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from patchpilot.adapters.arm.errors import arm_error, is_busy_conflict


class _Answer:
    """The least of an HTTP response that azure-core's HttpResponseError reads."""

    reason = "Conflict"
    request = None

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status_code, self._body = status, body
        self.headers: dict[str, str] = {}

    def json(self) -> dict[str, Any]:
        return self._body

    def text(self, encoding: str | None = None) -> str:
        return json.dumps(self._body)

    def body(self) -> bytes:
        return self.text().encode()


def _error(status: int, code: str, message: str) -> HttpResponseError:
    return HttpResponseError(
        response=_Answer(status, {"error": {"code": code, "message": message}})
    )


@pytest.mark.parametrize(
    ("status", "code", "message", "busy"),
    [
        pytest.param(
            409,
            "OperationNotAllowed",
            "Operation is not allowed because there's an in progress upgrade node image version "
            "operation (operation ID: 1) on the agent pool system started on UTC ...",
            True,
            id="another-operation-in-progress",
        ),
        pytest.param(
            409,
            "AnotherOperationInProgress",
            "Another operation (Upgrading) is in progress",
            True,
            id="older-wording",
        ),
        pytest.param(
            409,
            "QuotaExceeded",
            "Operation could not be completed as it results in exceeding approved quota.",
            False,
            id="quota",
        ),
        pytest.param(
            409,
            "Conflict",
            "The agent pool's max surge conflicts with the subnet's free addresses.",
            False,
            id="setting-conflict",
        ),
        pytest.param(400, "OperationNotAllowed", "in progress", False, id="not-a-409"),
    ],
)
def test_only_another_operation_in_progress_makes_a_409_a_wait(
    status: int, code: str, message: str, busy: bool
) -> None:
    error = _error(status, code, message)

    assert is_busy_conflict(error) is busy
    assert arm_error(error).message == message
