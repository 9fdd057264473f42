"""Reading policy, fleet and maintenance files from disk for the CLI and the demo.

The domain validates mappings; this module owns the I/O around it: reading the
file, parsing YAML or JSON, and turning every failure into one
:class:`~patchpilot.errors.InvalidInputError` that names the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from patchpilot.domain.fleet import FleetState, parse_fleet
from patchpilot.domain.policy import Policy, parse_policy
from patchpilot.domain.schedule import Schedule, parse_maintenance_configuration
from patchpilot.errors import InvalidInputError

# Far larger than any real policy or fleet; refuses a runaway file early.
MAX_FILE_BYTES = 64 * 1024 * 1024


def read_document(path: Path) -> Any:
    """Parse a YAML (or JSON, a subset of YAML) file into plain data."""
    text = _read_text(path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInputError(f"not valid YAML: {where}{problem}", source=str(path)) from exc


def read_json(path: Path) -> Any:
    """Parse a JSON file (maintenance configurations as ARM or `az` print them)."""
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}", source=str(path)
        ) from exc


def load_policy(path: Path) -> Policy:
    """Load and validate a policy file as a whole."""
    return parse_policy(read_document(path), source=str(path))


def load_fleet(path: Path) -> FleetState:
    """Load and validate a fleet file as a whole."""
    return parse_fleet(read_document(path), source=str(path))


def load_maintenance_configuration(path: Path) -> Schedule:
    """Load one AKS maintenance configuration (ARM JSON or `az` JSON)."""
    return parse_maintenance_configuration(read_json(path), source=str(path))


def _read_text(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InvalidInputError(f"file is larger than {MAX_FILE_BYTES} bytes", source=str(path))
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidInputError("file not found", source=str(path)) from exc
    except IsADirectoryError as exc:
        raise InvalidInputError("is a directory, not a file", source=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise InvalidInputError("is not UTF-8 text", source=str(path)) from exc
    except OSError as exc:
        raise InvalidInputError(f"cannot be read: {exc.strerror}", source=str(path)) from exc
