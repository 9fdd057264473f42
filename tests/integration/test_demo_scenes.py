"""The README's demo (`patchpilot demo`: the bundled fleet, 45 days) shows issue 18's two scenes.

One full run, as `make demo` runs it (about 90 s here), feeds every test:

- the Fleet gate scene: an update run waits at its gate before prod while an
  alert fires on prod-weu-1, and Patch Pilot approves it once it resolves;
- AKS's own maintenance: prod-neu-2's NodeImage channel does its node OS
  work every Saturday 01:00 to 03:00, announced 7 days and 24 hours ahead;
  on 2026-01-10 that is where Patch Pilot's plan had prod-neu-2's Kubernetes
  upgrade, which starts at 03:00, once AKS said Completed, instead.

The 12-day run of ``test_demo.py`` covers the rest of the command; this one
checks the scenes and that the headline figures hold with both in.
"""

from __future__ import annotations

import io
import re

import pytest

from patchpilot.demo.cli import main
from tests.integration.test_demo import Ran


@pytest.fixture(scope="module")
def readme_demo(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    """`patchpilot demo` with its defaults (the report and records under a temporary dir)."""
    tmp = tmp_path_factory.mktemp("readme-demo")
    report, records = tmp / "report.html", tmp / "records.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        out = io.StringIO()
        patch.setattr("sys.stdout", out)
        code = main(["--quiet", "--report", str(report), "--records", str(records)])
    return Ran(code, out.getvalue(), "", report, [])


def _summary(ran: Ran) -> str:
    return ran.out[ran.out.index("Summary:") :]


def _timeline(ran: Ran) -> str:
    return ran.out[: ran.out.index("Summary:")]


def test_the_headline_figures_hold_with_both_scenes_in(readme_demo: Ran) -> None:
    summary = _summary(readme_demo)
    assert readme_demo.code == 0
    assert "upgrades started        33: 32 succeeded, 1 failed, 0 still running" in summary
    assert re.search(r"Linux\s+median\s+8\.9,", summary)
    assert re.search(r"Windows\s+median\s+5\.4,", summary)
    assert "upgrades started outside an allowed window: 0" in summary
    assert "duplicate starts (same cluster, pool, kind, target): 0" in summary


def test_the_fleet_gate_is_approved_by_patch_pilot_once_the_alert_resolves(
    readme_demo: Ran,
) -> None:
    summary = _summary(readme_demo)
    assert "Fleet Manager gates     1: 1 approved by Patch Pilot" in summary
    assert "approved by Patch Pilot at 2025-12-10 11:15" in summary
    assert re.search(
        r"^2025-12-10 11:15  fleet\s+fleet-contoso\s+gate 'before prod' of prod-rollout: approved",
        _timeline(readme_demo),
        re.MULTILINE,
    )


def test_aks_own_node_os_work_moves_prod_neu_2s_start_to_after_aks_completed(
    readme_demo: Ran,
) -> None:
    summary = _summary(readme_demo)
    assert (
        "AKS's own maintenance   6 announced on prod-neu-2; "
        "1 start of Patch Pilot's moved out of it" in summary
    )
    assert (
        "AKS's own NodeOSUpgrade on prod-neu-2 avoided (2026-01-10 01:00 to 03:00): Patch Pilot "
        "started prod-neu-2/control plane Kubernetes 1.32.9 -> 1.32.10 at 03:00 instead of 01:00"
        in summary
    )
    assert "upgrades of Patch Pilot's running inside AKS's work: 0" in summary
    timeline = _timeline(readme_demo)
    # The planner said why it waited, naming AKS's announcement, before AKS's work began.
    waits = re.findall(
        r"^(\S+ \S+)  wait\s+prod-neu-2/control plane\s+Kubernetes 1\.32\.9 -> 1\.32\.10\n\s+(.*)$",
        timeline,
        re.MULTILINE,
    )
    announced = [at for at, reason in waits if "AKS announced its own NodeOSUpgrade" in reason]
    assert announced
    assert announced[0] < "2026-01-10 01:00"
    assert re.search(
        r"^2026-01-10 01:00  AKS\s+prod-neu-2\s+runs its own NodeOSUpgrade, 01:00 to 03:00.*\n"
        r"\s+Patch Pilot kept clear: prod-neu-2/control plane started 03:00",
        timeline,
        re.MULTILINE,
    )
    assert re.search(
        r"^2026-01-10 03:00  upgrade\s+prod-neu-2/control plane\s+Kubernetes 1\.32\.9 -> 1\.32\.10"
        r"\n\s+window 01-10 01:00 to 07:00",
        timeline,
        re.MULTILINE,
    )


def test_the_report_draws_aks_work_on_its_cluster_and_the_avoided_start(readme_demo: Ran) -> None:
    html = readme_demo.report.read_text(encoding="utf-8")
    assert "AKS&#x27;s own announced maintenance (Patch Pilot starts nothing there)" in html
    bands = re.findall(r"<title>AKS&#x27;s own NodeOSUpgrade on prod-neu-2: [^<]*; Completed", html)
    # Six works, each over prod-neu-2's three rows (control plane, system, apps).
    assert len(bands) == 6 * 3
    assert "AKS work avoided" in html
    assert "Patch Pilot started prod-neu-2/control plane at 03:00 instead of 01:00" in html
    assert "<caption>AKS&#x27;s own announced maintenance</caption>" in html
    assert "starts moved out of AKS&#x27;s own work" in html
    # The Fleet gate scene is drawn too.
    assert "gate &#x27;before prod&#x27; of update run prod-rollout waiting: approved" in html
