"""Who hears about each ARM call: a small protocol the telemetry handle fits, and a silent default.

The gateway wraps every logical ARM call (retries included) in
``observer.arm_call(operation, cluster=...)`` and reports each HTTP attempt
to the sink it yields: the status (or ``"error"`` when no answer came) and
ARM's ``x-ms-request-id``. ``patchpilot.telemetry``'s ``Telemetry`` has this
shape, so it can be passed as is; without one, nothing is recorded.
Operation names are the REST API's operationIds (``ManagedClusters_Get``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from azure.core.pipeline import PipelineResponse

ERROR_STATUS = "error"
Hook = Callable[["PipelineResponse[Any, Any]"], None]


class AttemptSink(Protocol):
    """Hears each HTTP attempt of one logical call."""

    def attempt(self, status: int | str, *, request_id: str | None = None) -> None:
        """One attempt's HTTP status (or ``"error"``) and ARM request ID."""
        ...


class CallObserver(Protocol):
    """Opens the record of one logical ARM call."""

    def arm_call(
        self, operation: str, *, cluster: str | None = None
    ) -> AbstractContextManager[AttemptSink]:
        """A context around the call; it yields where attempts are reported."""
        ...


class _Silent:
    def attempt(self, status: int | str, *, request_id: str | None = None) -> None:
        """Nothing is recorded."""


class Unobserved:
    """The observer used when none is given: records nothing."""

    @contextmanager
    def arm_call(self, operation: str, *, cluster: str | None = None) -> Iterator[AttemptSink]:
        """A context that records nothing."""
        yield _Silent()


def response_hook(sink: AttemptSink, also: Hook | None = None) -> Hook:
    """An SDK ``raw_response_hook`` that reports every answer to the sink."""

    def hook(response: PipelineResponse[Any, Any]) -> None:
        answer = response.http_response
        sink.attempt(answer.status_code, request_id=answer.headers.get("x-ms-request-id"))
        if also is not None:
            also(response)

    return hook
