"""The names of the store's tables, in Azure Table Storage and in SQLite alike.

Defaults suit one Patch Pilot per storage account; :meth:`TableNames.prefixed`
lets several deployments (or test runs) share one account without meeting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from patchpilot.errors import InvalidInputError

# Azure Table Storage's rule; it also makes every name a safe SQL identifier.
_TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,62}")


@dataclass(frozen=True)
class TableNames:
    """One table per kind of record, each partitioned for its own access pattern."""

    ledger: str = "ppledger"
    leases: str = "ppleases"
    pauses: str = "pppauses"
    events: str = "ppevents"
    progress: str = "ppprogress"
    watches: str = "ppwatch"
    poison: str = "pppoison"
    snapshots: str = "ppsnapshots"
    gates: str = "ppgates"

    def __post_init__(self) -> None:
        names = [getattr(self, field.name) for field in fields(self)]
        for field, name in zip(fields(self), names, strict=True):
            if not isinstance(name, str) or not _TABLE_NAME.fullmatch(name):
                raise InvalidInputError(
                    f"table name {name!r} must be 3 to 63 letters and digits, "
                    "starting with a letter",
                    path=f"tables.{field.name}",
                )
        if len({name.lower() for name in names}) != len(names):
            raise InvalidInputError("table names must differ (Table Storage ignores case)")

    @classmethod
    def prefixed(cls, prefix: str) -> TableNames:
        """The default names behind a prefix (letters and digits, starting with a letter)."""
        defaults = cls()
        return cls(**{f.name: prefix + getattr(defaults, f.name) for f in fields(cls)})
