"""The Azure Functions entry point: creates the app and registers the blueprints.

Nothing else lives here (STYLE.md): each trigger is a blueprint under
`functions/`, and each blueprint only decodes its input, calls one service
function and encodes the output. Heavy imports happen inside the functions.
The one start-up step: the Azure SDK's per-request INFO logs are held back,
since the worker sends every root-logger record at INFO to Application
Insights (as `patchpilot serve` does; see `patchpilot.telemetry.logs`).
"""

import azure.functions as func

from functions import BLUEPRINTS
from patchpilot.sdk_logs import quiet_sdk_loggers

quiet_sdk_loggers()

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in BLUEPRINTS:
    app.register_functions(blueprint)
