"""How fast simulated upgrades run, in the simulator's clock time.

An AKS upgrade surges one new node, then cordons, drains and deletes each old
node in turn; each of those steps takes ``seconds_per_node`` of clock time.
With the real clock the default lets a three-node pool finish in under two
seconds, so demos and tests do not wait; with a virtual clock the default is
ten virtual minutes per node, closer to AKS, and costs nothing real.
"""

from __future__ import annotations

from dataclasses import dataclass

from patchpilot.errors import InvalidInputError
from patchpilot.sim.clock import Clock, VirtualClock

REAL_SECONDS_PER_NODE = 0.4
VIRTUAL_SECONDS_PER_NODE = 600.0


@dataclass(frozen=True)
class Pace:
    """Step durations of simulated operations, and the polling hint sent to clients.

    ``control_plane_seconds`` defaults to two node steps. ``update_seconds`` is
    how long an operation that rolls no node takes (an agent pool PUT that
    changes nothing, an abort): a hundredth of a node step by default, 6 s on
    the virtual clock, as recorded (``aks-preview__test_aks_upgrade_nodepool.yaml``:
    the pool PUT to its own version ran 6.2 s; ``azure-cli__test_aks_abort.yaml``:
    the abort 5.4 s). ``retry_after_seconds``
    is the ``Retry-After`` header on long-running operation answers; 0 sends
    ``Retry-After: 0``, which the Azure SDK reads as "use your own
    ``polling_interval``" (tests pass a small one).
    """

    seconds_per_node: float = REAL_SECONDS_PER_NODE
    control_plane_seconds: float | None = None
    retry_after_seconds: int = 1
    update_seconds: float | None = None

    def __post_init__(self) -> None:
        if not self.seconds_per_node > 0:
            raise InvalidInputError(
                f"seconds_per_node must be above 0, got {self.seconds_per_node}"
            )
        if self.control_plane_seconds is not None and not self.control_plane_seconds > 0:
            raise InvalidInputError(
                f"control_plane_seconds must be above 0, got {self.control_plane_seconds}"
            )
        if self.update_seconds is not None and not self.update_seconds > 0:
            raise InvalidInputError(f"update_seconds must be above 0, got {self.update_seconds}")
        if self.retry_after_seconds < 0:
            raise InvalidInputError(
                f"retry_after_seconds must not be negative, got {self.retry_after_seconds}"
            )

    @property
    def control_plane(self) -> float:
        """Seconds a control plane upgrade takes."""
        if self.control_plane_seconds is not None:
            return self.control_plane_seconds
        return 2 * self.seconds_per_node

    @property
    def update(self) -> float:
        """Seconds an operation that rolls no node takes."""
        if self.update_seconds is not None:
            return self.update_seconds
        return self.seconds_per_node / 100

    @classmethod
    def default_for(cls, clock: Clock) -> Pace:
        """Fast real-time steps, or AKS-like minutes on a virtual clock."""
        if isinstance(clock, VirtualClock):
            return cls(seconds_per_node=VIRTUAL_SECONDS_PER_NODE)
        return cls()
