"""The fleet calendar as values: what the HTML report draws, independent of how.

A :class:`Calendar` spans [start, end) and holds one :class:`Row` per cluster
control plane or node pool, grouped by ring. A row carries the allowed windows
of both kinds of upgrade (Kubernetes, node OS), the maintenance AKS announced
and ran on its own on the cluster, and the upgrades as bars with their
outcome. Freezes and markers (Patch Tuesdays, AKS releases, injected faults,
an operator's action, a Fleet Manager gate waiting and its approval, a start
Patch Pilot moved out of AKS's work) span all rows. Frozen and validated here, so
the renderer never meets a naive datetime or a bar that ends before it starts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["succeeded", "failed", "running"]
UpgradeKind = Literal["kubernetes", "node_image"]
MarkerKind = Literal[
    "patch-tuesday", "release", "fault", "operator", "fleet-gate", "aks-maintenance"
]


def _aware(moment: dt.datetime, name: str) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment.isoformat()}")
    return moment.astimezone(dt.UTC)


@dataclass(frozen=True)
class Span:
    """An interval [start, end), such as an allowed window or a freeze, with a label."""

    start: dt.datetime
    end: dt.datetime
    label: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _aware(self.start, "start"))
        object.__setattr__(self, "end", _aware(self.end, "end"))
        if self.end < self.start:
            raise ValueError(f"a span ends before it starts: {self.start} to {self.end}")


@dataclass(frozen=True)
class Bar:
    """One upgrade: when it ran, what it did, how it ended; `title` is its tooltip."""

    span: Span
    kind: UpgradeKind
    outcome: Outcome
    title: str


@dataclass(frozen=True)
class Row:
    """A cluster's control plane (`pool` None) or one of its pools."""

    group: str
    cluster: str
    pool: str | None
    os: str
    kubernetes_windows: tuple[Span, ...]
    node_os_windows: tuple[Span, ...]
    bars: tuple[Bar, ...]
    note: str = ""
    # AKS's own announced maintenance on the cluster; each span's label is its tooltip.
    aks_maintenance: tuple[Span, ...] = ()

    @property
    def label(self) -> str:
        """`cluster / pool`, or `cluster / control plane`."""
        return f"{self.cluster} / {self.pool or 'control plane'}"


@dataclass(frozen=True)
class Marker:
    """Something that happened to the whole fleet: an instant, or a span when `end` is set.

    `label` is drawn beside the marker (empty: none); `detail` is its tooltip.
    """

    at: dt.datetime
    kind: MarkerKind
    label: str
    end: dt.datetime | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", _aware(self.at, "at"))
        if self.end is not None:
            object.__setattr__(self, "end", _aware(self.end, "end"))


@dataclass(frozen=True)
class Fact:
    """A headline figure; `good` False draws it as a failure (an invariant broken)."""

    label: str
    value: str
    good: bool | None = None


@dataclass(frozen=True)
class Table:
    """A plain table under the calendar (the upgrades)."""

    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Calendar:
    """Everything the report shows."""

    title: str
    subtitle: str
    start: dt.datetime
    end: dt.datetime
    rows: tuple[Row, ...]
    freezes: tuple[Span, ...] = ()
    markers: tuple[Marker, ...] = ()
    facts: tuple[Fact, ...] = ()
    tables: tuple[Table, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _aware(self.start, "start"))
        object.__setattr__(self, "end", _aware(self.end, "end"))
        if self.end <= self.start:
            raise ValueError("a calendar must end after it starts")
