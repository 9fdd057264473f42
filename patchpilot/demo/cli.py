"""``patchpilot demo``: the whole app on a fleet, a simulator and a virtual clock, in a minute.

``patchpilot.cli`` adds the subcommand with :func:`add_parser` (imported
lazily: the simulator and the SDKs load only for this command). The run
shows a progress bar on stderr, then prints the timeline and the summary,
writes the calendar report (and the records, when asked) and exits 1 when an
upgrade started outside its window or twice. ``python -m patchpilot.demo``
runs the same command on its own (:func:`main`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from patchpilot.errors import InvalidInputError

EXIT_INVARIANT_BROKEN: Final = 1
EXIT_BAD_INPUT: Final = 2
DEFAULT_REPORT: Final = Path("patchpilot-report.html")


@dataclass(frozen=True)
class DemoOutcome:
    """What the command printed and wrote."""

    text: str
    ok: bool
    report: Path
    records: Path | None


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` subcommand to the ``patchpilot`` parser."""
    demo = subparsers.add_parser(
        "demo",
        help="run the whole app on a simulated fleet and print what it did",
        description="Run Patch Pilot's functions on a fleet (the bundled one by default) against "
        "the AKS simulator, on a virtual clock, with injected faults; print the timeline and a "
        "summary and write a calendar report. Exits 1 if an upgrade started outside its "
        "window or twice.",
    )
    _add_arguments(demo)
    demo.set_defaults(run=run, render=render, json=False)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=_days, default=45, help="simulated days (default 45)")
    parser.add_argument("--fleet", type=Path, help="fleet YAML file (default: the bundled fleet)")
    parser.add_argument("--policy", type=Path, help="policy YAML file (default: the bundled one)")
    parser.add_argument(
        "--start",
        default="2025-12-01T00:00Z",
        help="when the virtual clock starts, ISO 8601 (default 2025-12-01T00:00Z)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulator's fault dice")
    parser.add_argument(
        "--report",
        type=Path,
        default=DEFAULT_REPORT,
        help=f"where to write the HTML calendar (default {DEFAULT_REPORT})",
    )
    parser.add_argument(
        "--records", type=Path, help="also write one JSON object per upgrade to this file"
    )
    parser.add_argument(
        "--no-faults",
        dest="faults",
        action="store_false",
        help="no 429 storm, no drain failure",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--verbose", action="store_true", help="show the app's own log lines on stderr"
    )


def run(args: argparse.Namespace) -> DemoOutcome:
    """Run the demo; exits 1 (after printing) when an invariant was broken."""
    outcome = execute(args)
    if not outcome.ok:
        sys.stdout.write(f"{outcome.text}\n")
        raise SystemExit(EXIT_INVARIANT_BROKEN)
    return outcome


def render(outcome: DemoOutcome) -> str:
    """The timeline and summary, with where the files went."""
    return outcome.text


def execute(args: argparse.Namespace) -> DemoOutcome:
    """Run, then write the report and records; nothing is printed here."""
    from patchpilot.demo.fleet_calendar import fleet_calendar
    from patchpilot.demo.progress import ProgressBar
    from patchpilot.demo.records import records_text, upgrade_records
    from patchpilot.demo.runner import DemoConfig, run_demo
    from patchpilot.demo.summary import summarize
    from patchpilot.demo.timeline import render as render_text
    from patchpilot.domain.instants import parse_instant
    from patchpilot.report import render_html

    if args.verbose:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    else:
        # The app logs every throttled call and pause; the timeline tells that story.
        logging.getLogger().addHandler(logging.NullHandler())
    config = DemoConfig(
        fleet_path=args.fleet,
        policy_path=args.policy,
        start=parse_instant(args.start, path="--start"),
        days=args.days,
        seed=args.seed,
        faults=args.faults,
    )
    bar = None if args.quiet else ProgressBar(config.start, config.end, sys.stderr)
    result = run_demo(config, progress=bar)
    if bar is not None:
        bar.close()
    records = upgrade_records(result)
    summary = summarize(result, records)
    _write(args.report, render_html(fleet_calendar(result, records, summary)), option="--report")
    if args.records is not None:
        _write(args.records, records_text(records), option="--records")
    written = [f"report: {args.report}"]
    if args.records is not None:
        written.append(f"records: {args.records}")
    text = f"{render_text(result, records, summary)}\n{chr(10).join(written)}"
    return DemoOutcome(text, summary.ok, args.report, args.records)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m patchpilot.demo``: the demo command on its own; returns the exit code."""
    parser = argparse.ArgumentParser(prog="patchpilot demo", description=__doc__.splitlines()[0])
    _add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        outcome = execute(args)
    except InvalidInputError as exc:
        sys.stderr.write(f"patchpilot demo: error: {exc}\n")
        return EXIT_BAD_INPUT
    sys.stdout.write(f"{outcome.text}\n")
    return 0 if outcome.ok else EXIT_INVARIANT_BROKEN


def _write(path: Path, text: str, *, option: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot write {path}: {exc.strerror}", path=option) from exc


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--days must be a whole number, got {text!r}") from None
    if not 1 <= value <= 366:
        raise argparse.ArgumentTypeError(f"--days must be between 1 and 366, got {value}")
    return value
