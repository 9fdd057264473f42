"""Who asked: the operator behind a request, and the trace span that records what they did.

Every use case that changes something on a person's behalf (a manual
upgrade, a pause, a resume) receives an :class:`Operator` and runs inside
:func:`operator_span`, so the trace says who asked, what and why; the store
gets the same name (the pause's `by`, the ledger's `actor`). The HTTP layer
builds the operator from App Service authentication headers
(`patchpilot.api.principal`); an alert's operator is the alert rule.
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
    """A person (Microsoft Entra principal), a caller holding the function key, or an alert."""

    name: str
    via: Via
    object_id: str | None = None

    def __str__(self) -> str:
        return self.name


ANONYMOUS: Final = Operator(FUNCTION_KEY, "function key")


@contextmanager
def operator_span(
    services: Services,
    action: str,
    operator: Operator,
    **attributes: AttributeValue | None,
) -> Iterator[Span]:
    """The `operator.<action>` span: who asked (`enduser.id`), how, and the details given."""
    merged: dict[str, AttributeValue] = {
        "enduser.id": operator.name,
        "patchpilot.operator.via": operator.via,
    }
    if operator.object_id:
        merged["patchpilot.operator.object_id"] = operator.object_id
    merged.update({f"patchpilot.{k}": v for k, v in attributes.items() if v is not None})
    with services.telemetry.tracer.start_as_current_span(
        f"operator.{action}", attributes=merged
    ) as span:
        yield span
