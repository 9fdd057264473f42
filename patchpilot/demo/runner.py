"""Run the whole app on a fleet for some simulated days, and keep what happened.

`patchpilot demo` calls :func:`run_demo`: the ARM simulator with the fleet,
the SQLite store and queues, and the Function App's own functions in the
local host, all on one virtual clock that starts at `start`. The scenario's
faults come and go on time (:mod:`patchpilot.demo.script`). What comes back
(:class:`DemoRun`) is the raw material of the timeline, the summary, the
records and the calendar: Patch Pilot's notices, the planner's decisions, the
script's notes and the simulator's request counts.

Speed: the host jumps from one thing that can happen to the next, and the
demo sweeps every :data:`SWEEP_HOURS` hours instead of Azure's default 15
minutes (each sweep observes every cluster over HTTPS, which is what costs
real time); the sweep's lookahead is as long, so a message waits for every
window opening between two sweeps and none is missed. A run may also find
the clusters through the simulator's Resource Graph, as the app does in
Azure (`DemoConfig.discovery`): a sweep then costs requests per region and
image family instead of two per cluster, which long replays need.

Order: the demo runs queue messages one after another (`threads=1`), so a
seed always prints the same figures. In Azure a batch runs at once on the
worker's thread pool; the tests and the chaos suites run the app that way
(the host's default), and what the promises need under it is tested there.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, Final, Literal

from patchpilot.adapters.publisher import Notice
from patchpilot.demo.decisions import DecisionLog, TappedTelemetry
from patchpilot.demo.fleet_gate_play import FleetGatePlay
from patchpilot.demo.scenario import Scenario, calm, scenario_for
from patchpilot.demo.script import Note, Script
from patchpilot.domain.fleet import FleetState, parse_fleet
from patchpilot.domain.policy import Policy, parse_policy
from patchpilot.errors import InvalidInputError
from patchpilot.files import read_document
from patchpilot.localhost.harness import Harness, running_app
from patchpilot.service.deps import Tuning
from patchpilot.sim.pace import Pace
from patchpilot.telemetry import Telemetry

DEFAULT_START: Final = dt.datetime(2025, 12, 1, tzinfo=dt.UTC)
DEFAULT_DAYS: Final = 45
SWEEP_HOURS: Final = 6
# Five simulated minutes per node: a six-node pool rolls in 35 minutes, as on AKS.
SECONDS_PER_NODE: Final = 300.0
_DAY: Final = dt.timedelta(days=1)

ProgressCallback = Callable[[dt.datetime], None]


@dataclass(frozen=True)
class DemoConfig:
    """What to run: the fleet and policy files (None: the bundled ones), from when, how long."""

    fleet_path: Path | None = None
    policy_path: Path | None = None
    start: dt.datetime = DEFAULT_START
    days: int = DEFAULT_DAYS
    seed: int = 0
    faults: bool = True
    # "static": the fleet file's cluster list, every cluster observed in full by each sweep.
    discovery: Literal["static", "resource_graph"] = "static"

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise InvalidInputError("--start must be timezone-aware", path="--start")
        if not 1 <= self.days <= 366:
            raise InvalidInputError(f"--days must be 1 to 366, got {self.days}", path="--days")

    @property
    def end(self) -> dt.datetime:
        """When the run stops."""
        return self.start.astimezone(dt.UTC) + self.days * _DAY


@dataclass(frozen=True)
class DemoInputs:
    """The fleet document (as the simulator reads it), its parsed state, and the policy."""

    document: Mapping[str, Any]
    fleet: FleetState
    policy: Policy
    fleet_source: str
    policy_source: str


@dataclass(frozen=True)
class DemoRun:
    """Everything a run produced, for the timeline, summary, records and calendar."""

    config: DemoConfig
    inputs: DemoInputs
    scenario: Scenario
    notices: tuple[Notice, ...]
    decisions: DecisionLog
    notes: tuple[Note, ...]
    arm_requests: Counter[tuple[str, int]]
    invocations: Counter[str]
    host_failures: tuple[tuple[str, str], ...]
    elapsed_seconds: float
    final_plan: tuple[Mapping[str, Any], ...] = ()
    # The Fleet Manager gates of the Fleet gate scene, as the status page showed them last.
    fleet_gates: tuple[Mapping[str, Any], ...] = ()

    @property
    def start(self) -> dt.datetime:
        """When the run started (UTC)."""
        return self.config.start.astimezone(dt.UTC)

    @property
    def end(self) -> dt.datetime:
        """When the run stopped (UTC)."""
        return self.config.end


def load_inputs(config: DemoConfig) -> DemoInputs:
    """Read and validate the fleet and policy (bundled ones unless paths are given)."""
    fleet_doc, fleet_source = _document(config.fleet_path, "fleet.yaml")
    policy_doc, policy_source = _document(config.policy_path, "policy.yaml")
    if not isinstance(fleet_doc, Mapping):
        raise InvalidInputError("a fleet file holds a mapping", source=fleet_source)
    fleet = parse_fleet(_without_arm_extras(fleet_doc), source=fleet_source)
    policy = parse_policy(policy_doc, source=policy_source)
    return DemoInputs(fleet_doc, fleet, policy, fleet_source, policy_source)


def run_demo(
    config: DemoConfig,
    *,
    progress: ProgressCallback | None = None,
    telemetry: Telemetry | None = None,
) -> DemoRun:
    """Run the app on the fleet from `start` for `days`; `progress` hears of each stop."""
    began = time.perf_counter()
    inputs = load_inputs(config)
    start, end = config.start.astimezone(dt.UTC), config.end
    scenario = (
        scenario_for(inputs.fleet, inputs.policy, start, end, seed=config.seed)
        if config.faults
        else calm()
    )
    log = DecisionLog()
    tapped = TappedTelemetry.wrapping(telemetry or Telemetry.default(), log)
    with (
        tempfile.TemporaryDirectory(prefix="patchpilot-demo-", dir=_scratch()) as workdir,
        running_app(
            inputs.document,
            inputs.policy,
            start,
            Path(workdir),
            pace=Pace(seconds_per_node=SECONDS_PER_NODE),
            tuning=Tuning(lookahead=dt.timedelta(hours=SWEEP_HOURS)),
            telemetry=tapped,
            app_settings={"PATCHPILOT_SWEEP_SCHEDULE": f"0 0 */{SWEEP_HOURS} * * *"},
            discovery=config.discovery,
            threads=1,  # the same figures every run; see the module docstring
        ) as app,
    ):
        script = Script(app, scenario)
        script.attach()
        play = FleetGatePlay(app, scenario.fleet_gate) if scenario.fleet_gate else None
        if play is not None:
            play.attach()
        _drive(app, end, progress)
        notes = [*script.notes, *(play.notes if play is not None else ())]
        return DemoRun(
            config=config,
            inputs=inputs,
            scenario=scenario,
            notices=tuple(app.publisher.notices),
            decisions=log,
            notes=tuple(sorted(notes, key=lambda note: note.at)),
            arm_requests=app.sim.requests(),
            invocations=Counter(name for _, name, _ in app.host.invocations),
            host_failures=tuple(app.host.failures),
            elapsed_seconds=time.perf_counter() - began,
            final_plan=_final_plan(app),
            fleet_gates=tuple(play.gates.values()) if play is not None else (),
        )


def _drive(app: Harness, end: dt.datetime, progress: ProgressCallback | None) -> None:
    """Run to `end` a day at a time, so progress can be shown between days."""
    while app.clock.now() < end:
        stop = min(_next_midnight(app.clock.now()), end)
        app.host.run_until(stop)
        if progress is not None:
            progress(stop)


def _final_plan(app: Harness) -> tuple[Mapping[str, Any], ...]:
    """What is still to do when the run ends, asked as an operator asks: `GET /api/plan`.

    Empty when the app serves no such route.
    """
    if app.host.route("GET", "/api/plan") is None:
        return ()
    response = app.host.http("GET", "/api/plan")
    if response.status_code != HTTPStatus.OK:
        return ()
    actions = json.loads(response.get_body()).get("actions", [])
    return tuple(action for action in actions if isinstance(action, Mapping))


def _scratch() -> Path | None:
    """Where the run's SQLite files go: memory-backed /dev/shm when there is one.

    The store and queue commit (and fsync) on every write, as they must for
    real use; the demo's state is thrown away at the end, so it need not wait
    for a disk. None: the system's temporary directory.
    """
    shm = Path("/dev/shm")  # noqa: S108  # a private temporary directory is made inside
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


def _next_midnight(now: dt.datetime) -> dt.datetime:
    return dt.datetime.combine(now.date(), dt.time(), dt.UTC) + _DAY


def _document(path: Path | None, bundled: str) -> tuple[Any, str]:
    """A user's file, or the demo's own copy shipped inside the package."""
    if path is not None:
        return read_document(path), str(path)
    resource = importlib.resources.files("patchpilot.demo").joinpath(bundled)
    with importlib.resources.as_file(resource) as bundled_path:
        return read_document(bundled_path), f"the bundled demo {bundled}"


def _without_arm_extras(document: Mapping[str, Any]) -> dict[str, Any]:
    """The fleet file as the planner reads it: the simulator's `arm_properties` left out."""
    clusters = document.get("clusters")
    if not isinstance(clusters, list):
        return dict(document)
    return {
        **document,
        "clusters": [
            {k: v for k, v in c.items() if k != "arm_properties"} if isinstance(c, Mapping) else c
            for c in clusters
        ],
    }
