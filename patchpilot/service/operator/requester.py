"""Who asked: the operator behind a request, and the trace span that records what they did.

Every use case that changes something on a person's behalf (a manual
upgrade, a pause, a resume) receives an :class:`Operator` and runs inside
:func:`operator_span`, so the trace says who asked, with which role, what
and why; the store gets :attr:`Operator.actor` (the pause's `by`, the
ledger's `actor`): ``entra:<object id> <name> (<role>)`` for a person,
``function key: <function> (<role>)`` for a key holder. The HTTP layer
builds the operator and checks its role (`patchpilot.api.roles`); an
alert's operator is the alert rule (``alert:<rule>``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final, Literal

from opentelemetry.trace import Span

from patchpilot.service.deps import Services
from patchpilot.telemetry.recorder import AttributeValue

Via = Literal["entra", "function key", "alert"]
FUNCTION_KEY: Final = "function key"


@dataclass(frozen=True)
class Operator:
    """A person (Microsoft Entra principal), a caller holding a function key, or an alert.

    `name` is who (``entra:<oid> <name>``, ``function key: <function>``,
    ``alert:<rule>``); `role` the role this request used, once checked;
    `granted` every role the caller holds (a person's app roles, or what one
    function's key opens), so a use case can ask for a stronger one later
    (`force: true` needs the force role).
    """

    name: str
    via: Via
    object_id: str | None = None
    role: str | None = None
    granted: frozenset[str] = frozenset()

    def __str__(self) -> str:
        return self.actor

    @property
    def actor(self) -> str:
        """What the store records as who acted: the name and the role used."""
        return f"{self.name} ({self.role})" if self.role else self.name


ANONYMOUS: Final = Operator(FUNCTION_KEY, "function key")


@contextmanager
def operator_span(
    services: Services,
    action: str,
    operator: Operator,
    **attributes: AttributeValue | None,
) -> Iterator[Span]:
    """The `operator.<action>` span: who asked (`enduser.id`), how, with which role
    (`enduser.role`), and the details given (the reason among them)."""
    merged: dict[str, AttributeValue] = {
        "enduser.id": operator.name,
        "patchpilot.operator.via": operator.via,
    }
    if operator.object_id:
        merged["patchpilot.operator.object_id"] = operator.object_id
    if operator.role:
        merged["enduser.role"] = operator.role
    merged.update({f"patchpilot.{k}": v for k, v in attributes.items() if v is not None})
    with services.telemetry.tracer.start_as_current_span(
        f"operator.{action}", attributes=merged
    ) as span:
        yield span
