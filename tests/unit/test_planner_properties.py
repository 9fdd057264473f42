"""Properties of the planner over generated fleets, policies and instants (hypothesis).

- no `due` action outside an allowed window, inside a freeze or under a pause;
- no Kubernetes step skips a minor or goes down, no pool passes its control
  plane, no node image goes back;
- the plan is deterministic and independent of the order of clusters and pools;
- a later ring never takes a node image or Kubernetes version before every
  first-ring member runs it (or newer) for the canary's days and the first
  ring's soak (so never before every dev pool, and never what no earlier-ring
  pool ran for its ring's soak), whatever the selection and straggler rule.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from patchpilot.domain.critical_path import with_paths
from patchpilot.domain.fleet import KUBERNETES_SCHEDULE, NODE_OS_SCHEDULE, FleetState
from patchpilot.domain.history import History, Pause
from patchpilot.domain.node_images import parse_node_image
from patchpilot.domain.plan import Plan
from patchpilot.domain.planner import plan
from patchpilot.domain.policy import Policy
from patchpilot.domain.versions import KubernetesVersion, minor_distance
from tests.factories import UBUNTU, WINDOWS, catalog, cluster, fleet, policy, pool

RINGS = ["dev", "staging", "prod"]
DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
VERSIONS = ["1.30.4", "1.31.1", "1.31.8", "1.32.6", "1.32.9", "1.33.2", "1.34.0"]
UBUNTU_IMAGES = ["202510.20.0", "202511.03.0", "202511.17.0", "202512.01.0"]
WINDOWS_IMAGES = [
    "20348.4171.250910",
    "20348.4294.251015",
    "20348.4405.251112",
    "20348.4529.251210",
]

offsets = st.sampled_from(["+00:00", "+01:00", "-08:00", "+05:30", "+14:00", "-12:00"])
times = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 30]))
recurrences = st.one_of(
    st.builds(lambda n: {"daily": {"intervalDays": n}}, st.integers(1, 3)),
    st.builds(
        lambda n, d: {"weekly": {"intervalWeeks": n, "dayOfWeek": d}},
        st.integers(1, 2),
        st.sampled_from(DAYS),
    ),
    st.builds(
        lambda d: {"absoluteMonthly": {"intervalMonths": 1, "dayOfMonth": d}}, st.integers(1, 31)
    ),
    st.builds(
        lambda w, d: {"relativeMonthly": {"intervalMonths": 1, "weekIndex": w, "dayOfWeek": d}},
        st.sampled_from(["First", "Second", "Last"]),
        st.sampled_from(DAYS),
    ),
)
windows = st.builds(
    lambda schedule, hours, offset, start: {
        "schedule": schedule,
        "durationHours": hours,
        "utcOffset": offset,
        "startTime": start,
        "startDate": "2025-01-01",
        "notAllowedDates": [{"start": "2025-11-20", "end": "2025-11-23"}],
    },
    recurrences,
    st.integers(4, 24),
    offsets,
    times,
)
instants = st.datetimes(
    min_value=dt.datetime(2025, 10, 1), max_value=dt.datetime(2026, 2, 1), timezones=st.just(dt.UTC)
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[FleetState, Policy, History, dt.datetime]:
    """A fleet of up to six clusters, a policy and an instant."""
    region = catalog(
        kubernetes=[
            {"version": v, "preview": v == "1.34.0"}
            for v in draw(st.lists(st.sampled_from(VERSIONS), min_size=1, unique=True))
        ],
        ubuntu=[
            {
                "version": v,
                "released": draw(st.sampled_from(["2025-10-01", "2025-11-19", "2025-12-03"])),
            }
            for v in draw(st.lists(st.sampled_from(UBUNTU_IMAGES), min_size=1, unique=True))
        ],
        windows=draw(st.lists(st.sampled_from(WINDOWS_IMAGES), min_size=1, unique=True)),
    )
    clusters = [draw(_clusters(index)) for index in range(draw(st.integers(1, 6)))]
    freezes = [{"start": "2025-12-20", "end": "2026-01-04", "reason": "year-end"}]
    rules = policy(
        default_window=draw(st.one_of(st.none(), windows)),
        freezes=draw(st.sampled_from([[], freezes])),
        kubernetes={
            "channel": draw(st.sampled_from(["none", "patch", "stable", "rapid"])),
            "allow_preview": draw(st.booleans()),
        },
        node_images={"selection": draw(st.sampled_from(["bounded", "soaked", "latest"]))},
        promotion={
            "stragglers": draw(st.sampled_from(["release", "hold"])),
            "canary_days": draw(st.sampled_from([0, 1, 3])),
        },
    )
    history = History(
        pauses=draw(st.sampled_from([(), (Pause("ring", "hold", target="staging"),)]))
    )
    return fleet(clusters, region), rules, history, draw(instants)


@st.composite
def _clusters(draw: st.DrawFn, index: int) -> dict[str, Any]:
    version = draw(st.sampled_from(VERSIONS[:-1]))
    lag_choices = [v for v in VERSIONS if v <= version and minor_distance(_v(v), _v(version)) <= 2]
    pools = [
        pool(
            f"p{n}",
            os=os,
            version=draw(st.sampled_from(lag_choices)),
            image=(f"{UBUNTU}-" if os == "Linux" else f"{WINDOWS}-")
            + draw(st.sampled_from(UBUNTU_IMAGES if os == "Linux" else WINDOWS_IMAGES)),
            mode="System" if n == 0 else "User",
        )
        for n, os in enumerate(
            draw(st.lists(st.sampled_from(["Linux", "Windows"]), min_size=1, max_size=3))
        )
    ]
    configs = {
        name: {"maintenanceWindow": draw(windows)}
        for name in (KUBERNETES_SCHEDULE, NODE_OS_SCHEDULE)
        if draw(st.booleans())
    }
    return cluster(
        f"c{index}",
        # The first three clusters one per ring, so later rings often have a gate to pass.
        RINGS[index] if index < len(RINGS) else draw(st.sampled_from([*RINGS, "qa"])),
        version=version,
        pools=pools,
        maintenance_configurations=configs,
        auto_upgrade_channel=draw(st.sampled_from(["none", "none", "patch"])),
        node_os_upgrade_channel=draw(st.sampled_from(["None", "None", "NodeImage", "Unmanaged"])),
    )


def _v(text: str) -> KubernetesVersion:
    return KubernetesVersion.parse(text)


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(scenarios())
def test_no_due_action_outside_an_allowed_window_or_inside_a_freeze(
    scenario: tuple[FleetState, Policy, History, dt.datetime],
) -> None:
    state, rules, history, now = scenario
    by_id = {c.id: c for c in state.clusters}
    for action in plan(state, rules, history, now).due():
        name = KUBERNETES_SCHEDULE if action.kind == "kubernetes" else NODE_OS_SCHEDULE
        schedule = by_id[action.cluster].maintenance.get(name, rules.default_window)
        assert schedule is not None
        assert schedule.contains(now), action
        assert not any(span.contains(now) for span in rules.freeze_spans), action
        assert action.ring != "staging" or not history.pauses, action
        assert action.not_before == now


@SETTINGS
@given(scenarios())
def test_no_plan_skips_a_minor_downgrades_or_passes_the_control_plane(
    scenario: tuple[FleetState, Policy, History, dt.datetime],
) -> None:
    state, rules, history, now = scenario
    by_id = {c.id: c for c in state.clusters}
    for action in plan(state, rules, history, now).actions:
        if action.target is None:
            continue
        if action.kind == "node_image":
            assert parse_node_image(action.target).newer_than(parse_node_image(action.current))
            continue
        current, target = _v(action.current), _v(action.target)
        assert target > current, action
        assert minor_distance(current, target) <= 1, action
        if action.pool is not None:
            assert target <= by_id[action.cluster].kubernetes_version, action


@SETTINGS
@given(scenarios(), st.randoms(use_true_random=False))
def test_plan_is_deterministic_and_independent_of_order(
    scenario: tuple[FleetState, Policy, History, dt.datetime], rng: random.Random
) -> None:
    state, rules, history, now = scenario
    expected = plan(state, rules, history, now)
    shuffled_clusters = [
        dataclasses.replace(c, pools=tuple(rng.sample(c.pools, len(c.pools))))
        for c in state.clusters
    ]
    rng.shuffle(shuffled_clusters)
    shuffled = dataclasses.replace(state, clusters=tuple(shuffled_clusters))
    assert plan(shuffled, rules, history, now) == expected
    assert plan(state, rules, history, now) == expected


@SETTINGS
@given(scenarios())
def test_planning_one_cluster_against_the_rings_before_it_equals_the_full_plan(
    scenario: tuple[FleetState, Policy, History, dt.datetime],
) -> None:
    """What a reconcile plans (its cluster, gated by the earlier rings only) is the fleet's plan."""
    state, rules, history, now = scenario
    full = plan(state, rules, history, now)
    for target in state.clusters:
        ahead = {ring.name for ring in rules.rings_before(rules.ring_of(target.tags))}
        gates = [c for c in state.clusters if (r := rules.ring_of(c.tags)) and r.name in ahead]
        fleet = dataclasses.replace(state, clusters=(target, *gates))
        alone = plan(fleet, rules, history, now, only=target.key)
        assert alone.actions == tuple(a for a in full.actions if a.cluster.key == target.key)


def test_generated_scenarios_reach_every_status() -> None:
    """Guards the generators: the properties above must see due, scheduled and blocked plans."""
    seen: set[str] = set()

    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(scenarios())
    def collect(scenario: tuple[FleetState, Policy, History, dt.datetime]) -> None:
        result: Plan = plan(*scenario)
        seen.update(action.status for action in result.actions)

    collect()
    assert seen == {"due", "scheduled", "blocked"}


@SETTINGS
@given(scenarios())
def test_a_later_ring_never_takes_what_every_first_ring_member_has_not_run_long_enough(
    scenario: tuple[FleetState, Policy, History, dt.datetime],
) -> None:
    fleet_state, rules, history, now = scenario
    first = rules.first_ring
    days = dt.timedelta(days=max(rules.promotion.canary_days or 0, first.soak_days))

    for action in plan(fleet_state, rules, history, now).actions:
        if action.ring in (None, first.name) or action.status not in ("due", "scheduled"):
            continue
        if action.kind == "kubernetes" and action.pool is not None:
            continue  # a pool following its own control plane, which was gated
        assert action.target is not None
        assert action.not_before is not None
        runs = _first_ring_runs(fleet_state, rules, action.kind, action.target)
        assert all(runs_it for runs_it, _ in runs), action
        arrivals = [at for _, at in runs if at is not None]
        if arrivals:
            assert action.not_before >= max(arrivals) + days, action
        event(f"{action.kind} taken by a later ring")


def _first_ring_runs(
    fleet_state: FleetState, rules: Policy, kind: str, target: str
) -> list[tuple[bool, dt.datetime | None]]:
    """For each first-ring member of the target's subject: runs it or newer, and since when.

    "Since when" as the planner knows it without history: the day the region
    offered what the member runs.
    """
    members = [c for c in fleet_state.clusters if rules.ring_of(c.tags) == rules.first_ring]
    if kind == "kubernetes":
        version = KubernetesVersion.parse(target)
        return [
            (
                c.kubernetes_version >= version,
                fleet_state.region(c.location).kubernetes_released(c.kubernetes_version),
            )
            for c in members
        ]
    image = parse_node_image(target)
    return [
        (
            p.node_image.sort_key >= image.sort_key,
            fleet_state.region(c.location).image_released(p.node_image),
        )
        for c in members
        for p in c.pools
        if p.node_image.family == image.family
    ]


@SETTINGS
@given(scenarios())
def test_the_critical_path_never_promises_a_start_before_now_or_after_the_plan(
    scenario: tuple[FleetState, Policy, History, dt.datetime],
) -> None:
    fleet_state, rules, history, now = scenario
    result = with_paths(plan(fleet_state, rules, history, now), fleet_state, rules)

    planned = {(a.ring, a.kind) for a in result.actions}
    for path in result.paths:
        kind = "kubernetes" if path.subject == "kubernetes" else "node_image"
        assert (path.ring, kind) in planned, path
        assert path.earliest is None or path.earliest >= now, path
        assert all(step.reaches >= now for step in path.on_path), path
        starts = [
            a.not_before
            for a in result.actions
            if a.ring == path.ring and a.kind == kind and a.pool is None and a.not_before
        ]
        if kind == "kubernetes" and starts and path.earliest is not None:
            # The ring's control planes it already scheduled set the latest the path may say.
            assert path.earliest <= min(starts), path
        if path.weekly_saves_days is not None:
            assert path.weekly_saves_days >= 0, path
        event(f"critical path with {len(path.on_path)} on it")
