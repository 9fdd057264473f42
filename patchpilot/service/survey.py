"""The fleet as it is now, for ``patchpilot plan --live``: discovery plus one observation each.

A use case over the adapters (discovery, the ARM gateway, one
:class:`~patchpilot.adapters.arm.catalog_cache.SweepCache`), called by the
command line, not by a trigger. :func:`observe_fleet` is what ``plan --live``
plans from: the same :class:`~patchpilot.domain.fleet.FleetState` a fleet file
describing the same clusters would give (release dates are unknown live, so
the catalog has none, and ``node_image_pinning`` is what AKS allows).
:func:`survey_fleet` returns the observations too (posture, pool details) and
the clusters that could not be observed, each with the reason: one bad
cluster never stops the others. Both read the clusters one after the other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from patchpilot.adapters.arm.actions import NODE_IMAGE_PINNING
from patchpilot.adapters.arm.catalog_cache import SweepCache
from patchpilot.adapters.arm.client import ArmClients
from patchpilot.adapters.arm.gateway import ArmGateway
from patchpilot.adapters.arm.observe import ClusterObservation
from patchpilot.adapters.discovery import Discovery, discovery_from
from patchpilot.domain.fleet import FleetState
from patchpilot.domain.policy import Policy
from patchpilot.domain.posture import PostureFinding, posture_findings
from patchpilot.errors import PatchPilotError
from patchpilot.settings import Settings

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FleetSurvey:
    """A live fleet: the planner's state, every observation, and what could not be read."""

    fleet: FleetState
    observations: tuple[ClusterObservation, ...]
    unobserved: tuple[tuple[str, str], ...] = ()

    def posture(self, policy: Policy) -> tuple[PostureFinding, ...]:
        """Security findings of every observed cluster, for the status report."""
        linux_patched = policy.node_images.linux_enabled
        found: list[PostureFinding] = []
        for observation in self.observations:
            offered = self.fleet.region(observation.state.location).kubernetes
            found.extend(
                posture_findings(
                    observation.posture,
                    (entry.offered for entry in offered),
                    linux_images_patched=linux_patched,
                )
            )
        return tuple(found)


def survey_fleet(
    policy: Policy,
    settings: Settings,
    *,
    discovery: Discovery | None = None,
    gateway: ArmGateway | None = None,
) -> FleetSurvey:
    """Discover the clusters under the policy's scopes and observe each once.

    Collaborators not given are built from the settings (and closed at the end).
    """
    owned = ArmClients(settings)  # builds nothing until a client is asked for
    try:
        return _survey(
            policy,
            discovery or discovery_from(settings, owned),
            gateway or ArmGateway(owned, policy.scopes),
        )
    finally:
        owned.close()


def _survey(policy: Policy, discovery: Discovery, gateway: ArmGateway) -> FleetSurvey:
    cache = SweepCache()
    observations: list[ClusterObservation] = []
    unobserved: list[tuple[str, str]] = []
    for cluster in discovery.clusters(policy.scopes):
        try:
            observations.append(gateway.observe(cluster, cache))
        except PatchPilotError as exc:
            # Policy: isolate failures per cluster; it is reported, the others still count.
            _log.warning("could not observe %s: %s", cluster, exc)
            unobserved.append((str(cluster), str(exc)))
    fleet = FleetState(
        clusters=tuple(o.state for o in observations),
        catalog=cache.catalog(),
        node_image_pinning=NODE_IMAGE_PINNING,
    )
    return FleetSurvey(fleet, tuple(observations), tuple(unobserved))


def observe_fleet(
    policy: Policy,
    settings: Settings,
    *,
    discovery: Discovery | None = None,
    gateway: ArmGateway | None = None,
) -> FleetState:
    """The live ``FleetState`` under the policy's scopes (for ``plan --live``)."""
    return survey_fleet(policy, settings, discovery=discovery, gateway=gateway).fleet
