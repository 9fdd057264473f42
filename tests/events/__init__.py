"""Real sample payloads, loaded by name (see README.md for their sources)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def load(name: str) -> Any:
    """The parsed JSON of `tests/events/<name>.json`."""
    return json.loads((HERE / f"{name}.json").read_text(encoding="utf-8"))


def names(prefix: str) -> list[str]:
    """Every sample whose name starts with `prefix`, sorted."""
    return sorted(path.stem for path in HERE.glob(f"{prefix}*.json"))
