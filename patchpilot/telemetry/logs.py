"""Structured logs: one JSON object per line, carrying the current trace and span ids.

Called once at start-up by `patchpilot serve` and `patchpilot demo`
(:func:`configure_logging`); not inside the Functions worker, which owns the
root logger there (its gRPC handler sends records to the host, and the Azure
Monitor distro attaches the trace ids itself). The Function App only holds
the Azure SDK's chatty loggers back there (:func:`patchpilot.sdk_logs.quiet_sdk_loggers`).

JSON lines rather than key=value: every field, including the `extra=` ones
the code passes, keeps its type and needs no quoting rules, and any log
pipeline (the OpenTelemetry Collector's filelog receiver, `jq`) reads them.
The `trace_id` and `span_id` join a log line to its span in any backend.
Messages are formatted from their arguments only when a record is written:
STYLE.md asks for `log.info("started %s", name)`, never an f-string.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any, Final, TextIO

from opentelemetry import trace

from patchpilot.sdk_logs import quiet_sdk_loggers

TRACE_ID: Final = "trace_id"
SPAN_ID: Final = "span_id"
# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD: Final = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName", TRACE_ID, SPAN_ID}
)
# Marks the handler this module installed, so a second call replaces it.
_MARK: Final = "_patchpilot_json_lines"
# The Azure SDK's loggers (azure.core's http_logging_policy logs every request and
# answer at INFO; azure.identity every token it gets): all children of this one.


class TraceIdsFilter(logging.Filter):
    """Adds `trace_id` and `span_id` (hex, empty outside a span) to each record it sees.

    It runs in the thread that logged, while the caller's span is current,
    which is why it is a handler filter rather than work done later.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record; only annotate it."""
        trace_id, span_id = current_ids()
        setattr(record, TRACE_ID, trace_id)
        setattr(record, SPAN_ID, span_id)
        return True


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, `Z`), level, logger, message, ids, extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record; values JSON cannot hold are written with str()."""
        trace_id = getattr(record, TRACE_ID, None)
        span_id = getattr(record, SPAN_ID, None)
        if trace_id is None or span_id is None:
            trace_id, span_id = current_ids()
        body: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            TRACE_ID: trace_id,
            SPAN_ID: span_id,
        }
        body.update({key: value for key, value in vars(record).items() if key not in _STANDARD})
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str, ensure_ascii=False, separators=(",", ":"))


def configure_logging(level: int | str = logging.INFO, *, stream: TextIO | None = None) -> None:
    """Send every record at `level` or above to `stream` (stderr) as JSON lines.

    Idempotent: a second call replaces the handler the first one installed.
    The Azure SDK logs each HTTP request at INFO; it is held at WARNING unless
    DEBUG is asked for.
    """
    resolved = logging.getLevelName(level) if isinstance(level, str) else level
    if not isinstance(resolved, int):
        raise ValueError(f"unknown log level: {level!r}")
    root = logging.getLogger()
    for old in [handler for handler in root.handlers if getattr(handler, _MARK, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonLinesFormatter())
    handler.addFilter(TraceIdsFilter())
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    root.setLevel(resolved)
    quiet_sdk_loggers(debug=resolved <= logging.DEBUG)


def current_ids() -> tuple[str, str]:
    """The current span's trace and span ids in W3C hex, or empty strings outside a span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return "", ""
    return trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)


def _utc(created: float) -> str:
    """A record's creation time as UTC ISO 8601 with a `Z` and milliseconds."""
    moment = dt.datetime.fromtimestamp(created, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
