"""The operator's HTTP API: request reading, error statuses and the OpenAPI document.

The HTTP triggers (`functions/http_api.py`) stay thin: each hands its
`azure.functions.HttpRequest` to :func:`patchpilot.api.exchange.answer` with
one use case from `patchpilot.service`; this package reads the caller
(:mod:`.principal`), the body (:mod:`.bodies`), maps errors to statuses
(:mod:`.exchange`) and describes every route (:mod:`.openapi`). Nothing here
is imported when the Function App loads: the triggers import it on first use.
"""
