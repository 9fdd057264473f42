"""Ring gate sums in the store: kept where progress is recorded, read in one query.

Layout (table ``ppgates``), per generation (a fingerprint of ring membership,
:func:`patchpilot.domain.gates.generation`):

- ``gate~<generation>~<ring>~<subject>`` / ``sum~<n>``: one of :data:`SHARDS`
  partial sums of the gate (:class:`~patchpilot.domain.gates.Tally`); a gate
  is their total. Members spread over the shards by a hash of their key, so
  concurrent members rarely contend for one row.
- ``gate~<generation>~<ring>~<subject>`` / ``m~<cluster>``: the member's own
  tally, as last added to its shard.
- ``member~<cluster>`` / ``gates``: which gates the cluster is in, with a
  digest of each tally, so an unchanged cluster costs one point read.
  Entries of another generation are dropped, not subtracted: that
  generation's sums are no longer read, and retention removes them.

A member's row and its shard's sum share a partition, so one entity group
transaction moves both (conditional on the ETags read): a sum never counts
a member twice or loses one, whoever crashes or races. The index is written
as a superset before the transactions and exactly after, so a crash in
between leaves gates to re-check, never a contribution nobody removes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Final

from patchpilot.adapters.store import keys
from patchpilot.adapters.store.errors import RowChangedError, RowExistsError, StoreContentionError
from patchpilot.adapters.store.rows import Row, Rows, Value, Write
from patchpilot.domain.gates import GateKey, Tally

# Four shard rows a gate: writers of one gate rarely meet on one row (a release day at
# 100,000 clusters is about 25 member changes a second on a busy gate, 6 a row), and a
# reader reads at most four rows.
SHARDS: Final = 4
_SUM = "sum~"
_INDEX_KEY = "gates"
_ATTEMPTS: Final = 20


def gate_partition(generation: str, gate: GateKey) -> str:
    """The partition of one gate's sums and member rows."""
    return keys.join("gate", generation, *gate)


def _index_partition(cluster: str) -> str:
    return keys.join("member", cluster)


def _member_key(cluster: str) -> str:
    return "m~" + keys.escape(cluster)


def _shard_key(cluster: str) -> str:
    digest = hashlib.sha256(cluster.encode()).digest()
    return f"{_SUM}{digest[0] % SHARDS}"


def digest(tally: Tally) -> str:
    """A short fingerprint of a tally: equal tallies, equal digests."""
    text = json.dumps(tally.to_json(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class GateRows:
    """Reads gate sums and moves one cluster's contributions, over any row backend."""

    def __init__(self, rows: Rows, table: str) -> None:
        self._rows = rows
        self._table = table

    def read(self, gates: Iterable[GateKey], generation: str) -> dict[GateKey, Tally]:
        """Each gate's total: one query of its shard rows; an unknown gate is absent."""
        found: dict[GateKey, Tally] = {}
        for gate in sorted(set(gates)):
            partition = gate_partition(generation, gate)
            rows = self._rows.scan(self._table, partition, key_prefix=_SUM)
            total = Tally()
            for row in rows:
                total = total.plus(_tally(row), gate[1])
            if rows:
                found[gate] = total
        return found

    def set(
        self,
        cluster: str,
        wanted: Mapping[GateKey, Tally] | Callable[[], Mapping[GateKey, Tally]],
        generation: str,
        *,
        inputs: str | None = None,
    ) -> int:
        """Make the cluster's contributions exactly `wanted`; how many gates changed.

        Gates the cluster was in and `wanted` leaves out lose it (a ring or
        family it left, or a cluster being forgotten with an empty `wanted`).
        With `inputs` equal to the index's, nothing is computed or written.
        """
        index = self._rows.get(self._table, _index_partition(cluster), _INDEX_KEY)
        entries = _index_of(index)
        same_generation = entries.keys() <= {generation}
        stored_inputs = None if index is None else index.props.get("inputs")
        if inputs is not None and index is not None and same_generation and stored_inputs == inputs:
            return 0
        tallies = wanted() if callable(wanted) else wanted
        known = entries.get(generation, {})
        fresh = {gate: digest(tally) for gate, tally in tallies.items()}
        if known == fresh and same_generation and stored_inputs == inputs:
            return 0
        index = self._write_index(cluster, index, generation, known | fresh, None)
        changed = 0
        for gate in sorted(known.keys() | fresh.keys()):
            if known.get(gate) != fresh.get(gate):
                changed += self._move(generation, gate, cluster, tallies.get(gate))
        self._write_index(cluster, index, generation, fresh, inputs)
        return changed

    def _move(self, generation: str, gate: GateKey, cluster: str, tally: Tally | None) -> int:
        """Replace the member's tally in its shard's sum, atomically; 1 if anything changed."""
        partition = gate_partition(generation, gate)
        member_key, shard_key = _member_key(cluster), _shard_key(cluster)
        for _ in range(_ATTEMPTS):
            member = self._rows.get(self._table, partition, member_key)
            old = None if member is None else _tally(member)
            if old == tally:
                return 0
            shard = self._rows.get(self._table, partition, shard_key)
            total = Tally() if shard is None else _tally(shard)
            if old is not None:
                total = total.minus(old, gate[1])
            if tally is not None:
                total = total.plus(tally, gate[1])
            writes = [
                write
                for write in (_write(member_key, member, tally), _write(shard_key, shard, total))
                if write is not None
            ]
            try:
                self._rows.commit(self._table, partition, writes)
                return 1
            except (RowChangedError, RowExistsError):
                continue
        raise StoreContentionError(f"the gate {gate} kept changing; try again")

    def _write_index(
        self,
        cluster: str,
        row: Row | None,
        generation: str,
        gates: Mapping[GateKey, str],
        inputs: str | None,
    ) -> Row | None:
        """Write the cluster's gate list (the last writer wins: one cluster, one writer).

        `inputs` is written only with the exact list, after the moves: a crash
        in between leaves no fingerprint, so the next call computes again.
        """
        partition = _index_partition(cluster)
        body = json.dumps([[generation, *gate, mark] for gate, mark in sorted(gates.items())])
        props: dict[str, Value] = {"cluster": cluster, "gates": body, "inputs": inputs}
        for _ in range(_ATTEMPTS):
            try:
                if not gates and inputs is None:
                    if row is not None:
                        self._rows.delete(self._table, partition, _INDEX_KEY, row.etag)
                    return None
                if row is None:
                    etag = self._rows.insert(self._table, partition, _INDEX_KEY, props)
                else:
                    etag = self._rows.replace(self._table, partition, _INDEX_KEY, props, row.etag)
                return Row(partition, _INDEX_KEY, props, etag)
            except (RowChangedError, RowExistsError):
                row = self._rows.get(self._table, partition, _INDEX_KEY)
        raise StoreContentionError(f"the gate index of {cluster} kept changing; try again")


def _index_of(row: Row | None) -> dict[str, dict[GateKey, str]]:
    """The index's entries by generation: gate -> digest of the tally in it."""
    found: dict[str, dict[GateKey, str]] = {}
    if row is None:
        return found
    for generation, ring, subject, mark in json.loads(str(row.props["gates"])):
        found.setdefault(str(generation), {})[(str(ring), str(subject))] = str(mark)
    return found


def _tally(row: Row) -> Tally:
    return Tally.from_json(json.loads(str(row.props["tally"])))


def _write(key: str, row: Row | None, tally: Tally | None) -> Write | None:
    """The member or sum row's change: insert, replace at its etag, delete, or none."""
    if tally is None or (key.startswith(_SUM) and tally.members == 0 and tally.failed == 0):
        return None if row is None else Write(key, None, row.etag)
    props = {"tally": json.dumps(tally.to_json(), separators=(",", ":"))}
    return Write(key, props, None if row is None else row.etag)
