"""The Bicep parses and passes checkov, with every skip inline, explained and still needed.

There is no Bicep CLI here: pycep-parser (the parser checkov itself uses) reads
every file, and checkov scans `infra/` offline (``--skip-download``). checkov
pins ``packaging<24`` while pytest needs ``>=24``, so it lives in its own
environment: ``.venv/checkov`` (``make`` builds it), else ``$CHECKOV``, else a
``checkov`` on the PATH. Without one these tests fail: a scan that silently
does not run would pass anything.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
CHECKOV_TIMEOUT_SECONDS = 120
_SKIP = re.compile(r"//\s*checkov:skip=([A-Z0-9_]+):\s*(.*)$")
_RESOURCE = re.compile(r"resource (\w+) '")


def checkov_command() -> str:
    """The checkov executable to run, or a failure that says how to get one."""
    candidates = [
        os.environ.get("CHECKOV", ""),
        str(ROOT / ".venv" / "checkov" / "bin" / "checkov"),
        shutil.which("checkov") or "",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail(
        "checkov is not installed: `make` builds it in .venv/checkov "
        "(python -m venv .venv/checkov && .venv/checkov/bin/pip install 'checkov~=3.3.30'), "
        "or set CHECKOV to its path"
    )


def _scan(directory: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            checkov_command(),
            "--framework",
            "bicep",
            "--skip-download",
            "--directory",
            str(directory),
            "--output",
            "json",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _report(scan: subprocess.Popen[str]) -> dict[str, Any]:
    stdout, stderr = scan.communicate(timeout=CHECKOV_TIMEOUT_SECONDS)
    # checkov exits 1 when a check fails; anything else (or no JSON) is a broken run.
    assert scan.returncode in (0, 1), stderr[-2000:]
    report: dict[str, Any] = json.loads(stdout)
    return report


@functools.cache
def checkov_reports() -> tuple[dict[str, Any], dict[str, Any]]:
    """checkov's reports on infra/ as it is, and on a copy without the skip comments.

    The two scans run side by side, once per test session.
    """
    with tempfile.TemporaryDirectory() as scratch:
        unskipped = Path(scratch) / "infra"
        shutil.copytree(INFRA, unskipped)
        for path in unskipped.rglob("*.bicep"):
            lines = path.read_text().splitlines(keepends=True)
            path.write_text("".join(line for line in lines if not _SKIP.search(line)))
        scans = (_scan(INFRA), _scan(unskipped))
        return _report(scans[0]), _report(scans[1])


def inline_skips() -> dict[tuple[str, str, str], str]:
    """Every `// checkov:skip=ID: reason` in the Bicep, by (file, resource, check ID)."""
    skips = {}
    for path in BICEP_FILES:
        resource = ""
        for line in path.read_text().splitlines():
            if match := _RESOURCE.match(line):
                resource = match[1]
            if match := _SKIP.search(line):
                skips[(path.name, resource, match[1])] = match[2].strip()
    return skips


def _key(check: dict[str, Any]) -> tuple[str, str, str]:
    """(file, resource, check ID) of a checkov result; its resource is `<type>.<name>`."""
    resource = check["resource"].rsplit(".", 1)[-1]
    return (Path(check["file_path"]).name, resource, check["check_id"])


@functools.cache
def parser() -> BicepParser:
    """One pycep parser for every file (building its grammar takes a moment)."""
    return BicepParser()


def test_the_bicep_files_are_the_deployment_and_its_modules() -> None:
    names = {p.relative_to(INFRA).as_posix() for p in BICEP_FILES}

    assert "main.bicep" in names
    assert {n for n in names if n != "main.bicep"} <= {
        f"modules/{p.name}" for p in (INFRA / "modules").glob("*.bicep")
    }


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_every_bicep_file_parses(path: Path) -> None:
    document = parser().parse(file_path=path)

    assert document["resources"] or document["modules"], f"{path.name} declares nothing"


def test_checkov_parses_every_file_and_finds_no_failed_check() -> None:
    report, _ = checkov_reports()
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in report["results"]["failed_checks"]
    ]

    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 0
    assert failed == []


def test_every_skip_is_inline_with_a_reason_and_covers_a_real_failure() -> None:
    report, unskipped = checkov_reports()
    skipped = {_key(c) for c in report["results"]["skipped_checks"]}
    fails_without_skips = {_key(c) for c in unskipped["results"]["failed_checks"]}
    inline = inline_skips()

    assert skipped == set(inline), "checkov skipped what no inline comment names"
    assert fails_without_skips == set(inline), "a skip is stale: its check passes without it"
    assert [key for key, reason in inline.items() if len(reason) < 20] == []
