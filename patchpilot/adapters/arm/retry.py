"""The one retry layer for ARM calls: which failures are transient, how long to wait, when to stop.

:class:`RetryPolicy` is a frozen value; :meth:`RetryPolicy.call` runs one ARM
call under tenacity. Transient are ARM throttling (429, honouring its
``Retry-After``), server errors (5xx, 408) and lost connections; those back off
exponentially with jitter, unless ARM said how long to wait. A total deadline
keeps each call well inside a Function's time limit: the policy stops before
a wait would cross it and re-raises the last error, which the gateway turns
into a :class:`~patchpilot.errors.TemporaryError` carrying when to try again.

Who waits for what: before each attempt the gateway asks the process's
request budget (``budget.py``) for its turn; a read sleeps through this
policy's ``sleep`` for at most ``budget_wait_seconds``, a start never sleeps
there (it is requeued at its slot). A 429 that gets through all the same
empties the subscription's bucket until its ``Retry-After``, for every caller.

Who retries what: this module retries single ARM requests; the SDK's own
retry is off (``retry_total=0`` in ``client.py``); a 409 "another operation is
in progress" is not retried here at all (the gateway answers ``Busy`` and the
caller requeues); the Storage queue and Event Grid redeliver whole messages.

A lost connection is retried for PUT and POST too: an ARM PUT is idempotent,
and a repeated upgrade POST finds either nothing to do or the operation it
started (AKS answers 409). Because that 409 may be our own first attempt's
operation, the gateway then answers ``Unconfirmed``, not ``Busy``, and the
claim stays for AKS's own state to settle (never a second upgrade).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, TypeVar

from azure.core.exceptions import (
    HttpResponseError,
    IncompleteReadError,
    ServiceRequestError,
    ServiceResponseError,
)
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from patchpilot.adapters.arm.errors import retry_after_seconds
from patchpilot.errors import InvalidInputError

T = TypeVar("T")

TRANSIENT_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How ARM calls are retried; every field is a knob, the defaults suit a Function."""

    deadline_seconds: float = 60.0
    max_attempts: int = 6
    initial_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 20.0
    jitter_seconds: float = 1.0
    busy_delay_seconds: float = 300.0
    # The longest a read sleeps for its turn in the request budget; past it the call gives
    # up at once with a TemporaryError carrying the wait (nothing is sent, the queue waits).
    budget_wait_seconds: float = 20.0
    transient_statuses: frozenset[int] = TRANSIENT_STATUSES
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidInputError(f"max_attempts must be at least 1, got {self.max_attempts}")
        for name in ("deadline_seconds", "initial_backoff_seconds", "max_backoff_seconds"):
            if not getattr(self, name) > 0:
                raise InvalidInputError(f"{name} must be above 0, got {getattr(self, name)}")
        for name in ("jitter_seconds", "busy_delay_seconds", "budget_wait_seconds"):
            if getattr(self, name) < 0:
                raise InvalidInputError(f"{name} must not be negative, got {getattr(self, name)}")

    @classmethod
    def with_deadline(cls, seconds: float) -> RetryPolicy:
        """The default policy with the settings' total deadline."""
        return cls(deadline_seconds=seconds)

    def is_transient(self, exc: BaseException) -> bool:
        """Whether trying the same request again can succeed."""
        if isinstance(exc, IncompleteReadError):
            return True  # the connection dropped while the body was read
        if isinstance(exc, HttpResponseError):
            return exc.status_code in self.transient_statuses
        return isinstance(exc, ServiceRequestError | ServiceResponseError)

    def call(self, request: Callable[[], T], *, what: str) -> T:
        """Run one ARM request, retrying transient failures; the last failure is re-raised."""
        retrying = Retrying(
            retry=retry_if_exception(self.is_transient),
            wait=self._wait,
            stop=stop_after_attempt(self.max_attempts) | stop_before_delay(self.deadline_seconds),
            sleep=self.sleep,
            before_sleep=_logger(what),
            reraise=True,
        )
        return retrying(request)

    def _wait(self, state: RetryCallState) -> float:
        """ARM's Retry-After when it gave one, else exponential backoff with jitter."""
        outcome = state.outcome
        hint = retry_after_seconds(outcome.exception()) if outcome is not None else None
        if hint is not None:
            return hint
        backoff = wait_exponential_jitter(
            multiplier=self.initial_backoff_seconds,
            max=self.max_backoff_seconds,
            jitter=self.jitter_seconds,
        )
        return backoff(state)


def _logger(what: str) -> Callable[[RetryCallState], None]:
    def log(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        _log.warning(
            "ARM call %s failed (attempt %d: %s); retrying in %.2fs",
            what,
            state.attempt_number,
            type(error).__name__,
            state.upcoming_sleep,
        )

    return log
