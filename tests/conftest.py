"""Options of the whole suite: `--soak N` runs the reliability tests N times longer.

The chaos test runs N seeds and the fuzz tests N times the examples. The
option sets ``PATCHPILOT_SOAK`` before any test module is imported, since
the reliability modules size their hypothesis settings and seed lists at
import time; setting that variable directly does the same.
"""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak",
        type=int,
        default=None,
        metavar="N",
        help="run the reliability tests N times longer: N chaos seeds, N x the fuzz examples",
    )


def pytest_configure(config: pytest.Config) -> None:
    soak = config.getoption("--soak")
    if soak is not None:
        if soak < 1:
            raise pytest.UsageError(f"--soak takes a number of at least 1, got {soak}")
        os.environ["PATCHPILOT_SOAK"] = str(soak)
