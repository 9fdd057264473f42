"""The Azure SDK's loggers, held back: a module with no import but `logging`.

`function_app.py` calls :func:`quiet_sdk_loggers` at import, on the cold
start path, so it lives here rather than in `patchpilot.telemetry`, whose
package brings OpenTelemetry's API with it.
"""

from __future__ import annotations

import logging
from typing import Final

# Every Azure SDK library logs under "azure." (azure.core's pipeline, azure.identity, ...).
SDK_LOGGERS: Final = ("azure",)


def quiet_sdk_loggers(*, debug: bool = False) -> None:
    """Hold the Azure SDK's loggers at WARNING (DEBUG when asked): its INFO is per request.

    Called by :func:`patchpilot.telemetry.logs.configure_logging` and by
    `function_app.py` at start-up. In Azure the Python worker sets the root
    logger to INFO and hands every record to the host
    (Azure/azure-functions-python-worker 4.34, azure_functions_worker/dispatcher.py
    lines 189-196, "Switched to gRPC logging"), and with OpenTelemetry on,
    the Azure Monitor distro exports the root logger's records too: without
    this, each ARM, Table and queue request becomes a trace record in
    Application Insights. Warnings and errors from the SDK still pass.
    """
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.WARNING)
