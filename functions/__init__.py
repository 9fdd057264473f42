"""Azure Functions blueprints, one module per concern (events, timers, queue, HTTP).

`function_app.py` registers every blueprint listed in :data:`BLUEPRINTS`. The
triggers arrive with later issues; the foundation registers none yet.
"""

import azure.functions as func

BLUEPRINTS: tuple[func.Blueprint, ...] = ()
