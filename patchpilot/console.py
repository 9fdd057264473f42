"""Command-line helpers shared by the long-running local commands (`sim`, `serve`).

Argument types that explain a bad value, and a wait that ends on Ctrl-C or
SIGTERM and puts the previous signal handlers back.
"""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM, then put the previous handlers back."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def port_number(text: str) -> int:
    """A TCP port, 0 meaning any free one."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--port must be a whole number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"--port must be between 0 and 65535, got {value}")
    return value


def positive_number(text: str) -> float:
    """A number above zero (a speed, seconds per step)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value
