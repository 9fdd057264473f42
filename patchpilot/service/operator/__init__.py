"""What a person asks through the HTTP API and the CLI, and how it is answered.

- :mod:`.manual`: manual upgrades (`POST /api/upgrades`), through the same ledger.
- :mod:`.pauses`: pause and resume by hand (`/api/pauses`).
- :mod:`.status`: the status page and the dry-run plan.
- :mod:`.requester`: who asked, and the trace span that records what they did.
- :mod:`.upgrade_requests`, :mod:`.errors`, :mod:`.idempotency`, :mod:`.clusters`:
  the request values, why one is refused, answers kept by `Idempotency-Key`, and
  the cluster a request names.
"""
