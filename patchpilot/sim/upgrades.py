"""What AKS accepts as an upgrade request, and the phases it runs for one.

Each ``plan_*`` function checks a request the way AKS does (versions offered
in the region, no downgrade, no skipped minor, the node pool / control plane
skew, rollback only to ``recentlyUsedVersions``), raises the
:class:`~patchpilot.sim.arm_errors.ArmError` AKS would answer, and otherwise
lays out the operation's phases from ``now``. An empty plan means nothing
changes (a managed cluster PUT or ``upgradeNodeImageVersion`` with nothing to
do); an agent pool PUT always starts an operation, as recorded. AKS wording
is quoted from Microsoft's troubleshooting articles
("NodePoolMcVersionIncompatible", "Troubleshoot AKS upgrade errors because of
version skew") and AKS answers seen in public issues (rancher/dashboard#11884,
Azure/AKS#1109, elastic/cloud-on-k8s#2760).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from patchpilot.domain.node_images import NodeImageVersion, parse_node_image
from patchpilot.domain.versions import KubernetesVersion
from patchpilot.errors import InvalidInputError
from patchpilot.sim import arm_errors
from patchpilot.sim.arm_errors import ArmError
from patchpilot.sim.catalog import Catalog, upgrades_from
from patchpilot.sim.operations import BROKEN_STATES, Phase, PhaseKind
from patchpilot.sim.pace import Pace
from patchpilot.sim.state import SimCluster, SimPool

# AKS's API refuses a pool more than this many minors behind its control plane
# ("Troubleshoot AKS upgrade errors because of version skew", 2025-08-21).
MAX_POOL_SKEW_MINORS = 3

DrainFails = Callable[[SimCluster, SimPool], bool]
BlocksOnDeprecatedApi = Callable[[SimCluster], bool]


class UpgradeChecker:
    """Checks upgrade requests against one cluster's state and lays out their phases."""

    def __init__(
        self,
        catalog: Catalog,
        pace: Pace,
        drain_fails: DrainFails,
        deprecated: BlocksOnDeprecatedApi,
    ) -> None:
        self._catalog = catalog
        self._pace = pace
        self._drain_fails = drain_fails
        self._deprecated = deprecated

    def node_image(self, cluster: SimCluster, pool: SimPool, now: dt.datetime) -> list[Phase]:
        """``upgradeNodeImageVersion``: the family's latest image, or nothing when already on it."""
        latest = self._catalog.latest_image(cluster.location, pool.node_image.family, now)
        if latest is None or not latest.newer_than(pool.node_image):
            return []
        return [self._pool_phase(cluster, pool, "node_image", now, image=latest)]

    def pool_put(
        self, cluster: SimCluster, pool: SimPool, body: Mapping[str, Any], now: dt.datetime
    ) -> list[Phase]:
        """An agent pool PUT: a new ``orchestratorVersion`` or a node image rollback."""
        properties = _properties(body)
        version = self._requested_version(
            cluster, properties.get("orchestratorVersion"), now, pool=True
        )
        image = _requested_image(properties.get("nodeImageVersion"))
        rollback = image is not None and image != pool.node_image
        goal = version or pool.orchestrator_version
        if rollback and goal != pool.current_orchestrator_version:
            raise arm_errors.bad_request(
                "Changing orchestratorVersion and nodeImageVersion in one request is not "
                "allowed; upgrade the Kubernetes version and roll back the node image separately."
            )
        if rollback and image is not None:
            self._check_rollback(pool, image)
            return [self._pool_phase(cluster, pool, "node_image", now, image=image)]
        if goal == pool.current_orchestrator_version:
            # Recorded (aks-preview test_aks_upgrade_nodepool): a PUT to the version the pool
            # already runs still starts an operation, the pool Updating for about 6 s.
            return self._reconcile(pool.provisioning_state, now, pool.name) or [
                Phase("reconcile", pool.name, now, self._pace.update, ("update the agent pool",))
            ]
        self._check_pool_version(cluster, pool, goal, cluster.current_kubernetes_version, now)
        pool.orchestrator_version = goal
        return [self._pool_phase(cluster, pool, "kubernetes", now, version=goal)]

    def cluster_put(
        self, cluster: SimCluster, body: Mapping[str, Any], now: dt.datetime
    ) -> list[Phase]:
        """A managed cluster PUT: the control plane (``kubernetesVersion``), then changed pools.

        ``az aks upgrade --control-plane-only`` sends the cluster back with only
        ``kubernetesVersion`` changed; without that flag it also sets every
        pool's ``orchestratorVersion``. Both are served.
        """
        properties = _properties(body)
        target = self._requested_version(
            cluster, properties.get("kubernetesVersion"), now, pool=False
        )
        target = target or cluster.kubernetes_version
        pool_goals = self._pool_goals(cluster, properties.get("agentPoolProfiles"), now)
        if target != cluster.current_kubernetes_version:
            self._check_control_plane(cluster, target, now)
        for pool in cluster.pools:
            goal = pool_goals.get(pool.name, pool.orchestrator_version)
            if goal != pool.current_orchestrator_version:
                self._check_pool_version(cluster, pool, goal, target, now)
            else:
                _check_skew(cluster, pool, goal, target)
        phases: list[Phase] = []
        if target != cluster.current_kubernetes_version:
            phases.append(self._control_plane_phase(target, now))
        cluster.kubernetes_version = target
        for pool in cluster.pools:
            goal = pool_goals.get(pool.name, pool.orchestrator_version)
            pool.orchestrator_version = goal
            if goal != pool.current_orchestrator_version:
                start = phases[-1].end if phases else now
                phases.append(self._pool_phase(cluster, pool, "kubernetes", start, version=goal))
        if not phases:
            broken = any(p.provisioning_state in BROKEN_STATES for p in cluster.pools)
            return self._reconcile("Failed" if broken else cluster.provisioning_state, now, None)
        return phases

    def _requested_version(
        self, cluster: SimCluster, value: object, now: dt.datetime, *, pool: bool
    ) -> KubernetesVersion | None:
        """A version from a request body: None when absent or empty (keep the goal)."""
        if value is None or value == "":
            return None
        field = "orchestratorVersion" if pool else "kubernetesVersion"
        if not isinstance(value, str):
            raise arm_errors.bad_request(
                f"{field} must be a string, got {value!r}", code="InvalidParameter"
            )
        try:
            resolved = self._catalog.resolve(cluster.location, value, now)
        except InvalidInputError as exc:
            raise arm_errors.bad_request(
                f"{field} {value!r} is not a valid Kubernetes version: {exc}",
                code="InvalidParameter",
            ) from exc
        if resolved is None:
            raise _not_supported(value, pool=pool)
        return resolved

    def _pool_goals(
        self, cluster: SimCluster, profiles: object, now: dt.datetime
    ) -> dict[str, KubernetesVersion]:
        """Each pool's requested version in a cluster PUT (pools left out keep theirs)."""
        goals: dict[str, KubernetesVersion] = {}
        if profiles is None:
            return goals
        if not isinstance(profiles, list):
            raise arm_errors.bad_request(
                "agentPoolProfiles must be a list", code="InvalidParameter"
            )
        for profile in profiles:
            name = profile.get("name") if isinstance(profile, Mapping) else None
            pool = cluster.pool(str(name)) if name else None
            if pool is None:
                raise arm_errors.bad_request(
                    "A new agent pool was introduced. Adding agent pools to an existing cluster "
                    "is not allowed through managed cluster operations. For agent pool specific "
                    "change, please use per agent pool operations: "
                    "https://aka.ms/agent-pool-rest-api"
                )
            version = self._requested_version(
                cluster, profile.get("orchestratorVersion"), now, pool=True
            )
            if version is not None:
                goals[pool.name] = version
        return goals

    def _check_control_plane(
        self, cluster: SimCluster, target: KubernetesVersion, now: dt.datetime
    ) -> None:
        current = cluster.current_kubernetes_version
        offered = self._catalog.offered(cluster.location, now)
        if target not in {o.version for o in offered}:
            raise _not_supported(str(target), pool=False)
        allowed = upgrades_from(current, offered)
        if target not in {o.version for o in allowed}:
            listed = " ".join(str(o.version) for o in reversed(allowed))
            raise arm_errors.bad_request(
                f"Upgrading Kubernetes version {current} to {target} is not allowed. Available "
                f"upgrades: [{listed}]. Please see https://aka.ms/aks-supported-k8s-ver for "
                "version details.",
                code="OperationNotAllowed",
            )
        if target.minor_version != current.minor_version and self._deprecated(cluster):
            raise arm_errors.deprecated_api_usage(
                f"{target.major}.{target.minor}", now - dt.timedelta(hours=1)
            )

    def _check_pool_version(
        self,
        cluster: SimCluster,
        pool: SimPool,
        goal: KubernetesVersion,
        control_plane: KubernetesVersion,
        now: dt.datetime,
    ) -> None:
        current = pool.current_orchestrator_version
        if goal not in {o.version for o in self._catalog.offered(cluster.location, now)}:
            raise _not_supported(str(goal), pool=True)
        if goal < current or goal.minor > current.minor + 1 or goal.major != current.major:
            raise arm_errors.bad_request(
                f"Upgrade agent pool version from {current} to {goal} is not allowed, you can only "
                "upgrade one minor version at a time and never downgrade. Please use [az aks "
                "get-upgrades] command to get the supported upgrade paths. For more information, "
                "please check https://aka.ms/version-skew-policy"
            )
        _check_skew(cluster, pool, goal, control_plane)

    def _check_rollback(self, pool: SimPool, image: NodeImageVersion) -> None:
        if all(used.node_image != image for used in pool.recently_used):
            offered = ", ".join(str(u.node_image) for u in pool.recently_used) or "none"
            raise arm_errors.bad_request(
                f"NodeImageVersion is not accepted: {image} is not one of the agent pool's "
                f"recentlyUsedVersions ({offered}); only those can be rolled back to.",
                code="InvalidParameter",
            )

    def _reconcile(self, state: str, now: dt.datetime, pool: str | None) -> list[Phase]:
        """A PUT that changes nothing puts a failed or canceled resource right, as AKS does.

        ("Cluster currently in failed state. Proceeding with upgrade to existing
        version ... to attempt resolution of failed cluster state", az aks upgrade.)
        """
        if state not in BROKEN_STATES:
            return []
        step = ("reconcile the agent pool" if pool else "reconcile the managed cluster",)
        return [Phase("reconcile", pool, now, self._pace.control_plane, step)]

    def _control_plane_phase(self, target: KubernetesVersion, now: dt.datetime) -> Phase:
        return Phase(
            kind="control_plane",
            pool=None,
            start=now,
            step_seconds=self._pace.control_plane,
            steps=(f"upgrade the control plane to {target}",),
            target_version=target,
        )

    def _pool_phase(
        self,
        cluster: SimCluster,
        pool: SimPool,
        kind: PhaseKind,
        start: dt.datetime,
        *,
        version: KubernetesVersion | None = None,
        image: NodeImageVersion | None = None,
    ) -> Phase:
        """Surge one node, then cordon, drain and delete each old node, one at a time."""
        nodes = [cluster.node_name(pool, i) for i in range(pool.count)]
        surge = f"surge node {cluster.node_name(pool, pool.count)}"
        steps = (surge, *(f"cordon, drain and delete node {node}" for node in nodes))
        phase = Phase(kind, pool.name, start, self._pace.seconds_per_node, steps, version, image)
        if nodes and self._drain_fails(cluster, pool):
            # The first drain after the surge times out on the budget.
            phase.failure = arm_errors.drain_blocked_by_pdb(
                nodes[0],
                f"{pool.name}-critical-7f9c6d5b8-x2x9k",
                "default",
                f"{pool.name}-critical-pdb",
            )
            phase.fail_after_steps = 2
        return phase


def _check_skew(
    cluster: SimCluster, pool: SimPool, version: KubernetesVersion, control_plane: KubernetesVersion
) -> None:
    """AKS's NodePoolMcVersionIncompatible: not newer than the control plane, nor far behind."""
    prefix = (
        f"Node pool version {version} and control plane version {control_plane} are incompatible."
    )
    suffix = (
        " For more information, please check https://aka.ms/version-skew-policy. "
        f"Resource ID: {cluster.id}"
    )
    if version > control_plane:
        raise arm_errors.bad_request(
            f"{prefix} Minor version of node pool version {version.minor} is bigger than control "
            f"plane version {control_plane.minor}.{suffix}",
            code="NodePoolMcVersionIncompatible",
        )
    if control_plane.minor - version.minor > MAX_POOL_SKEW_MINORS:
        raise arm_errors.bad_request(
            f"{prefix} Minor version of node pool cannot be more than {MAX_POOL_SKEW_MINORS} "
            f"versions less than control plane's version. Minor version of node pool is "
            f"{version.minor} and control plane is {control_plane.minor}.{suffix}",
            code="NodePoolMcVersionIncompatible",
        )


def _not_supported(version: str, *, pool: bool) -> ArmError:
    """AKS's answer to a version the region does not offer."""
    return arm_errors.bad_request(
        f"Version {version} is not supported in this region. Please use [az aks get-versions] "
        "command to get the supported version list in this region. For more information, please "
        "check https://aka.ms/supported-version-list",
        code="AgentPoolK8sVersionNotSupported" if pool else "K8sVersionNotSupported",
    )


def _properties(body: Mapping[str, Any]) -> Mapping[str, Any]:
    properties = body.get("properties")
    if properties is None:
        return {}
    if not isinstance(properties, Mapping):
        raise arm_errors.invalid_content("properties must be an object")
    return properties


def _requested_image(value: object) -> NodeImageVersion | None:
    if value is None or value == "":
        return None
    try:
        return parse_node_image(str(value))
    except InvalidInputError as exc:
        raise arm_errors.bad_request(
            f"NodeImageVersion is not accepted: {exc}", code="InvalidParameter"
        ) from exc
