"""The Azure Functions entry point: creates the app and registers the blueprints.

Nothing else lives here (STYLE.md): each trigger is a blueprint under
`functions/`, and each blueprint only decodes its input, calls one service
function and encodes the output. Heavy imports happen inside the functions.
"""

import azure.functions as func

from functions import BLUEPRINTS

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in BLUEPRINTS:
    app.register_functions(blueprint)
