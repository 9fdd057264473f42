"""One cluster's reconcile: take its lease, follow, settle, plan, start at most one action.

- :mod:`.run`: the use case itself (:func:`.run.reconcile`), called by the queue handler.
- :mod:`.settle`: what the ledger says runs, settled from AKS's own state.
- :mod:`.starts`: the one owner of claim -> guard -> start -> record (invariant 3).
- :mod:`.gates`: ring gate sums kept where progress is recorded, read in one query.
- :mod:`.failures`: the one pause a failed upgrade makes.
"""
