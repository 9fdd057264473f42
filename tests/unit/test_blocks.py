"""The blocks' table: its order is the precedence, and the earlier of two speaking blocks wins.

Each case plans one cluster (dev-1, whose control plane is otherwise due to
1.32.9 inside its window) with what makes a block speak, and reads the
reason the plan gives today, word for word.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest

from patchpilot.domain.alerts import alert_actor
from patchpilot.domain.blocks import BLOCKS
from patchpilot.domain.history import Failure, History, InFlight, Pause
from patchpilot.domain.plan import Action
from patchpilot.domain.planner import plan
from tests.factories import cluster, cluster_id, fleet, policy, utc
from tests.unit.test_planner import INSIDE_WINDOW, PATCHED, only

PRECEDENCE = [
    "aks_channel",
    "firing_alert",
    "drafted",
    "policy_hold",
    "pause",
    "last_failure",
    "in_flight",
    "not_ready",
    "no_window",
]
DEV_1 = cluster_id("dev-1").lower()


@dataclass(frozen=True)
class Speaks:
    """What makes one block speak for dev-1's control plane, and the reason it then gives."""

    reason: str
    cluster: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    pauses: tuple[Pause, ...] = ()
    failures: tuple[Failure, ...] = ()
    in_flight: tuple[InFlight, ...] = ()


SPEAKS = {
    "aks_channel": Speaks(
        "blocked: managed by AKS auto-upgrade channel stable",
        cluster={"auto_upgrade_channel": "stable"},
    ),
    "firing_alert": Speaks(
        "blocked: alert outage firing (fleet paused): Sev0 alert",
        pauses=(Pause("fleet", "Sev0 alert", None, alert_actor("outage")),),
    ),
    "drafted": Speaks(
        "blocked: 1.32.9 is skipped by policy: kube-proxy regression",
        policy={"skip": [{"kubernetes": "1.32.9", "reason": "kube-proxy regression"}]},
    ),
    "policy_hold": Speaks(
        "blocked: held by policy at 1.32.6: quarter close",
        policy={"holds": [{"cluster": "dev-1", "reason": "quarter close"}]},
    ),
    "pause": Speaks(
        "blocked: fleet paused by ana: incident 42",
        pauses=(Pause("fleet", "incident 42", by="ana"),),
    ),
    "last_failure": Speaks(
        "blocked: the last attempt failed at 2025-11-22T01:00:00Z: PDB blocks drain",
        failures=(
            Failure(DEV_1, None, "kubernetes", "1.32.9", utc(2025, 11, 22, 1), "PDB blocks drain"),
        ),
    ),
    "in_flight": Speaks(
        "blocked: node_image upgrade of system to x in progress since 2025-11-22T01:00:00Z",
        in_flight=(InFlight(DEV_1, "system", "node_image", "x", utc(2025, 11, 22, 1)),),
    ),
    "not_ready": Speaks(
        "blocked: cluster is Failed; waits until AKS reports Succeeded",
        cluster={"provisioning_state": "Failed"},
    ),
    "no_window": Speaks(
        "blocked: no maintenance window (the cluster has no aksManagedAutoUpgradeSchedule "
        "and the policy no default_window)",
        policy={"default_window": None},
    ),
}


def control_plane(*speaking: Speaks) -> Action:
    """dev-1's control plane action, planned with every given block made to speak."""
    doc = cluster("dev-1", "dev", **{k: v for s in speaking for k, v in s.cluster.items()})
    overrides = {k: v for s in speaking for k, v in s.policy.items()}
    history = History(
        pauses=tuple(p for s in speaking for p in s.pauses),
        failures=tuple(f for s in speaking for f in s.failures),
        in_flight=tuple(i for s in speaking for i in s.in_flight),
    )
    result = plan(fleet([doc], PATCHED), policy(**overrides), history, INSIDE_WINDOW)
    return only(result, name="dev-1")


def test_blocks_are_asked_in_the_order_of_their_precedence() -> None:
    assert [block.__name__ for block in BLOCKS] == PRECEDENCE


def test_dev_1_is_due_when_no_block_speaks() -> None:
    assert control_plane().status == "due"


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        pytest.param(earlier, later, id=f"{earlier}-over-{later}")
        for earlier, later in itertools.pairwise(PRECEDENCE)
    ],
)
def test_the_earlier_of_two_speaking_blocks_gives_the_reason(earlier: str, later: str) -> None:
    assert control_plane(SPEAKS[earlier]).reason == SPEAKS[earlier].reason
    assert control_plane(SPEAKS[later]).reason == SPEAKS[later].reason
    both = control_plane(SPEAKS[earlier], SPEAKS[later])
    assert (both.status, both.reason) == ("blocked", SPEAKS[earlier].reason)


def test_a_ring_gate_waits_on_its_ring_only_while_it_is_the_reason() -> None:
    ring_gate = "blocked: ring staging waits for ring dev to soak a version on the way to 1.32.9"
    clusters = [cluster("dev-1", "dev"), cluster("stg-1", "staging")]
    waiting = only(plan(fleet(clusters, PATCHED), policy(), History(), INSIDE_WINDOW), name="stg-1")
    assert waiting.reason.startswith(ring_gate)
    assert waiting.waits_on == "dev"
    alert = History(pauses=SPEAKS["firing_alert"].pauses)
    alerted = only(plan(fleet(clusters, PATCHED), policy(), alert, INSIDE_WINDOW), name="stg-1")
    assert (alerted.reason, alerted.waits_on) == (SPEAKS["firing_alert"].reason, None)
