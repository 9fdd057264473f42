"""The demo's calendar report in a real browser: headless Chromium (Debian's `chromium`).

A copy of the report gets a probe: error listeners first in <head>, and on
`load` a <pre> with the errors, every resource the page fetched and the
chart's rendered size, which `--dump-dom` then prints. Name resolution is
mapped to nowhere, so a fetch from the network could only fail loudly. A
second run saves a screenshot under tmp_path.

Where no Chromium is installed the tests skip, saying so; with `CI` set they
must run (`.ci/run` installs Debian's chromium), so they fail instead.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from patchpilot.demo.cli import main

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
WINDOW = "1400,900"
TIMEOUT_SECONDS = 120
PROBE_HEAD = """<script>
window.__errors = [];
window.addEventListener("error", function (e) {
  var where = e.target && (e.target.src || e.target.href) || "";
  window.__errors.push("error: " + (e.message || e.type) + " " + where);
}, true);
window.addEventListener("unhandledrejection", function (e) {
  window.__errors.push("rejection: " + e.reason);
});
(function () {
  var original = console.error;
  console.error = function () {
    window.__errors.push("console.error: " + Array.prototype.join.call(arguments, " "));
    return original.apply(console, arguments);
  };
})();
</script>"""
PROBE_TAIL = """<script>
window.addEventListener("load", function () {
  var svg = document.querySelector("svg");
  var box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  var out = document.createElement("pre");
  out.id = "__probe";
  out.textContent = JSON.stringify({
    errors: window.__errors,
    resources: performance.getEntriesByType("resource").map(function (r) { return r.name; }),
    width: box.width,
    height: box.height,
    rows: document.querySelectorAll("svg text").length,
    bars: document.querySelectorAll('svg rect[fill="#2e7d32"], svg rect[fill="#c62828"]').length
  });
  document.body.appendChild(out);
});
</script>"""
PROBE = re.compile(r'<pre id="__probe">(.*?)</pre>', re.DOTALL)


def chromium() -> str:
    """The browser's path; skip (or, under CI, fail) when there is none."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    reason = "no Chromium installed (apt-get install -y chromium); the report was not rendered"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}")
    pytest.skip(reason)


def headless(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Chromium with nothing of its own on the network, and no way to reach anything else."""
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--window-size={WINDOW}",
        *args,
    ]
    # A fixed browser binary and our own file URL.
    return subprocess.run(
        command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
    )


def probe(browser: str, page: Path, tmp: Path) -> dict[str, Any]:
    """Load `page` with the probe and return what it found, plus console errors from stderr."""
    html = page.read_text(encoding="utf-8")
    probed = tmp / f"probed-{page.name}"
    probed.write_text(
        html.replace("<head>", f"<head>{PROBE_HEAD}", 1).replace(
            "</body>", f"{PROBE_TAIL}</body>", 1
        ),
        encoding="utf-8",
    )
    done = headless(browser, tmp / "profile-dom", "--dump-dom", probed.as_uri())
    found = PROBE.search(done.stdout)
    assert found, f"the page never finished loading:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    result["console"] = [
        line for line in done.stderr.splitlines() if "CONSOLE" in line and "Uncaught" in line
    ]
    return result


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real demo report: the bundled fleet over ten days, with its faults."""
    tmp = tmp_path_factory.mktemp("report")
    page = tmp / "patchpilot-report.html"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdout", io.StringIO())
        assert main(["--days", "10", "--quiet", "--report", str(page)]) == 0
    return page


def test_the_report_renders_in_chromium_without_errors_or_fetches(
    report: Path, tmp_path: Path
) -> None:
    browser = chromium()
    found = probe(browser, report, tmp_path)
    assert found["errors"] == []
    assert found["console"] == []
    assert found["resources"] == []
    assert found["width"] >= 1200
    assert found["height"] >= 500
    assert found["bars"] >= 10


def test_the_report_screenshot_is_saved(report: Path, tmp_path: Path) -> None:
    browser = chromium()
    shot = tmp_path / "report.png"
    done = headless(browser, tmp_path / "profile-shot", f"--screenshot={shot}", report.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 50_000  # a blank page is a few kilobytes


def test_the_probe_itself_catches_a_script_error_and_a_fetch(tmp_path: Path) -> None:
    browser = chromium()
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>x</title></head><body><svg></svg>"
        '<img src="https://example.invalid/pixel.png"><script>notDefined();</script>'
        "</body></html>",
        encoding="utf-8",
    )
    found = probe(browser, page, tmp_path)
    assert any("notDefined" in error for error in found["errors"])
    assert any("example.invalid" in error for error in found["errors"])
    assert found["console"]
