"""The OpenAPI 3.1 document of the operator's API, served at `GET /api/openapi.json`.

Written as data, next to the code it describes, so one change touches both;
the tests validate every answer of every route against it (and fuzz the
routes from it). OpenAPI 3.1 schemas are JSON Schema 2020-12, so any JSON
Schema validator reads them. Response objects refuse unknown fields: a field
added to an answer must be added here too.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from patchpilot import __version__
from patchpilot.api.roles import APP_ROLES, KEY_FUNCTIONS, ROUTE_ROLES

JSON: Final = "application/json"
_NULLABLE_TEXT: Final = {"type": ["string", "null"]}
_TIME: Final = {"type": "string", "format": "date-time"}
_NULLABLE_TIME: Final = {"type": ["string", "null"], "format": "date-time"}
_KIND: Final = {"type": "string", "enum": ["kubernetes", "node_image"]}


def document() -> dict[str, Any]:
    """A fresh copy of the whole document (callers may change their copy)."""
    return copy.deepcopy(_DOCUMENT)


def _object(properties: dict[str, Any], *, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """A closed object whose every property is required unless listed as optional."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [name for name in properties if name not in optional],
        "properties": properties,
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(name: str) -> dict[str, Any]:
    return {"oneOf": [_ref(name), {"type": "null"}]}


def _list(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


def _response(description: str, schema: str | None = None) -> dict[str, Any]:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {JSON: {"schema": _ref(schema)}}}


def _errors(*statuses: int) -> dict[str, Any]:
    meaning = {
        400: "Malformed request: not JSON, wrong shape, unknown or missing field.",
        401: "No valid credential: an Entra token for Patch Pilot's app (App Service "
        "authentication on), or the function's key (x-functions-key or ?code=) where it "
        "takes one. Easy Auth and the Functions host may answer it with an empty body.",
        403: "A valid caller without the role this needs; the message names the role.",
        404: "Unknown cluster, pool or pause (or a cluster outside the policy's scopes).",
        409: "Blocked by a rule (window, freeze, pause, alert, version rule) or busy.",
        413: "Body larger than 256 KiB.",
        422: "A field has a value that can never be valid.",
        503: "The store or ARM is unavailable for now; retry after Retry-After seconds.",
    }
    answers = {str(status): _response(meaning[status], "Error") for status in statuses}
    # Every route checks who calls it: 401 without a credential, 403 without the role.
    answers["401"] = _response(meaning[401], "Error")
    answers["403"] = _response(meaning[403], "Error")
    return answers


_SCHEMAS: Final[dict[str, Any]] = {
    "Error": _object(
        {
            "error": _object(
                {"code": {"type": "string"}, "message": {"type": "string"}},
            )
        }
    ),
    "Action": _object(
        {
            "cluster": {"type": "string"},
            "pool": _NULLABLE_TEXT,
            "kind": _KIND,
            "current": {"type": "string"},
            "target": _NULLABLE_TEXT,
            "status": {"type": "string", "enum": ["due", "scheduled", "blocked"]},
            "not_before": _NULLABLE_TIME,
            "window_end": _NULLABLE_TIME,
            "ring": _NULLABLE_TEXT,
            "reason": {"type": "string"},
        }
    ),
    "Finding": _object(
        {
            "cluster": {"type": "string"},
            "pool": _NULLABLE_TEXT,
            "code": {"type": "string"},
            "message": {"type": "string"},
        }
    ),
    "PostureFinding": _object(
        {
            "cluster": {"type": "string"},
            "pool": _NULLABLE_TEXT,
            "code": {"type": "string"},
            "severity": {"type": "string", "enum": ["high", "medium", "low"]},
            "message": {"type": "string"},
            "fix": {"type": "string"},
        }
    ),
    "OnPath": _object(
        {
            "cluster": {"type": "string"},
            "ring": {"type": "string"},
            "window": {"type": "string"},
            "target": _NULLABLE_TEXT,
            "reaches": _TIME,
        }
    ),
    "RingPath": _object(
        {
            "ring": {"type": "string"},
            "subject": {"type": "string", "description": "kubernetes or a node image family"},
            "pending": {"type": "integer", "minimum": 0},
            "waits_for": {"type": "string"},
            "earliest": _NULLABLE_TIME,
            "on_path": _list("OnPath"),
            "weekly_saves_days": {"type": ["number", "null"]},
        }
    ),
    "ShadowReport": {
        "type": "object",
        "description": "Per pool and release: when Patch Pilot would have started, when the "
        "pool was really patched and by whom (docs/shadow.md).",
    },
    "Counts": _object(
        {
            "due": {"type": "integer", "minimum": 0},
            "scheduled": {"type": "integer", "minimum": 0},
            "blocked": {"type": "integer", "minimum": 0},
        }
    ),
    "Plan": _object(
        {
            "at": _TIME,
            "actions": _list("Action"),
            "findings": _list("Finding"),
            "critical_path": _list("RingPath"),
            "counts": _ref("Counts"),
        }
    ),
    "Pause": _object(
        {
            "id": {"type": "string"},
            "scope": {"type": "string", "enum": ["fleet", "ring", "cluster"]},
            "target": _NULLABLE_TEXT,
            "reason": {"type": "string"},
            "by": {"type": "string"},
            "created_at": _TIME,
            "until": _NULLABLE_TIME,
        }
    ),
    "PauseList": _object({"pauses": _list("Pause")}),
    "Deleted": _object({"deleted": _ref("Pause")}),
    "PauseRequest": {
        **_object(
            {
                "scope": {"type": "string", "enum": ["fleet", "ring", "cluster"]},
                "target": {
                    "type": ["string", "null"],
                    "description": "The ring's name, or the cluster's resource ID; none for fleet.",
                },
                "reason": {"type": "string", "minLength": 1, "maxLength": 500},
                "until": {**_NULLABLE_TIME, "description": "When the pause ends by itself."},
            },
            optional=("target", "until"),
        ),
    },
    "Operation": _object(
        {
            "state": {
                "type": "string",
                "enum": ["in_progress", "started", "succeeded", "failed", "expired"],
            },
            "actor": _NULLABLE_TEXT,
            "reason": _NULLABLE_TEXT,
            "claimed_at": _TIME,
            "started_at": _NULLABLE_TIME,
            "finished_at": _NULLABLE_TIME,
            "error": _NULLABLE_TEXT,
        }
    ),
    "LastOperation": _object(
        {
            "kind": _KIND,
            "target": {"type": "string"},
            "state": {
                "type": "string",
                "enum": ["in_progress", "started", "succeeded", "failed", "expired"],
            },
            "actor": _NULLABLE_TEXT,
            "reason": _NULLABLE_TEXT,
            "claimed_at": _TIME,
            "started_at": _NULLABLE_TIME,
            "finished_at": _NULLABLE_TIME,
            "error": _NULLABLE_TEXT,
        }
    ),
    "UpgradeRequest": _object(
        {
            "cluster": {"type": "string", "description": "The managed cluster's resource ID."},
            "pool": {
                "type": ["string", "null"],
                "description": "The agent pool; absent or null for the control plane.",
            },
            "kind": {**_KIND, "default": "kubernetes"},
            "version": {
                "type": ["string", "null"],
                "description": "Kubernetes version (1.33.2); absent: what the plan chooses.",
            },
            "force": {
                "type": "boolean",
                "default": False,
                "description": "Lift maintenance windows and freezes only; needs a reason.",
            },
            "reason": {"type": ["string", "null"], "maxLength": 500},
        },
        optional=("pool", "kind", "version", "force", "reason"),
    ),
    "UpgradeAnswer": _object(
        {
            "outcome": {
                "type": "string",
                "enum": ["started", "scheduled", "already_started", "already_done", "shadowed"],
            },
            "cluster": {"type": "string"},
            "pool": _NULLABLE_TEXT,
            "kind": _KIND,
            "current": {"type": "string"},
            "target": {"type": "string"},
            "planned_at": _NULLABLE_TIME,
            "window_end": _NULLABLE_TIME,
            "forced": {"type": "boolean"},
            "requested_by": {"type": "string"},
            "reason": {"type": "string"},
            "operation": _nullable("Operation"),
        }
    ),
    "Requested": _object(
        {
            "cluster": {"type": "string"},
            "pool": _NULLABLE_TEXT,
            "kind": _KIND,
            "target": {"type": "string"},
            "by": {"type": "string"},
            "reason": {"type": "string"},
            "at": _TIME,
            "until": _NULLABLE_TIME,
        }
    ),
    "PoolStatus": _object(
        {
            "name": {"type": "string"},
            "os": {"type": "string"},
            "mode": {"type": "string"},
            "count": {"type": "integer"},
            "kubernetes_version": {"type": "string"},
            "node_image": {"type": "string"},
            "node_image_built": {"type": "string", "format": "date"},
            "patch_age_days": {"type": "integer", "minimum": 0},
            "last_operation": _nullable("LastOperation"),
        }
    ),
    "ClusterStatus": _object(
        {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "location": {"type": "string"},
            "ring": _NULLABLE_TEXT,
            "kubernetes_version": {"type": "string"},
            "provisioning_state": {"type": "string"},
            "auto_upgrade_channel": {"type": "string"},
            "node_os_upgrade_channel": {"type": "string"},
            "last_operation": _nullable("LastOperation"),
            "pools": _list("PoolStatus"),
            "pauses": _list("Pause"),
            "next_action": _nullable("Action"),
            "actions": _list("Action"),
            "requests": _list("Requested"),
            "findings": _list("Finding"),
            "posture": _list("PostureFinding"),
        }
    ),
    "Status": _object(
        {
            "at": _TIME,
            "clusters": _list("ClusterStatus"),
            "pauses": _list("Pause"),
            "poison_messages": {"type": "integer", "minimum": 0},
            "forgotten_clusters": _list("ForgottenCluster"),
            "critical_path": _list("RingPath"),
            "counts": _ref("Counts"),
            "fleet_gates": _list("FleetGate"),
            "aks_maintenance": _list("AksMaintenance"),
        }
    ),
    "AksMaintenance": _object(
        {
            "cluster": {"type": "string", "description": "The cluster's resource ID."},
            "event_id": {"type": "string", "description": "AKS Communication Manager's event."},
            "upgrade_type": {
                "type": ["string", "null"],
                "description": "K8sVersionUpgrade, NodeOSUpgrade, or null (not said).",
            },
            "status": {
                "type": "string",
                "description": "AKS's latest word: Scheduled, Started, Completed, Cancelled, "
                "Failed, or a status Patch Pilot does not know (kept as said; it holds).",
            },
            "source": {"type": "string", "description": "AKS's eventSource (AutoUpgrader, ...)."},
            "details": {"type": "string"},
            "start": _TIME,
            "end": _TIME,
            "last_word": _TIME,
            "holds": {
                "type": "boolean",
                "description": "True while it keeps Patch Pilot's starts on the cluster out.",
            },
            "no_start_from": _NULLABLE_TIME,
            "no_start_until": _NULLABLE_TIME,
        }
    ),
    "FleetGate": _object(
        {
            "gate": {"type": "string", "description": "The gate's resource ID, lower case."},
            "fleet": {"type": "string", "description": "The fleet's resource ID."},
            "name": {"type": "string"},
            "display_name": _NULLABLE_TEXT,
            "update_run": _NULLABLE_TEXT,
            "stage": _NULLABLE_TEXT,
            "group": _NULLABLE_TEXT,
            "timing": {"type": ["string", "null"], "enum": ["Before", "After", None]},
            "state": {
                "type": "string",
                "enum": [
                    "pending",
                    "blocked",
                    "approved",
                    "completed",
                    "skipped",
                    "deleted",
                    "shadow",
                ],
                "description": "approved: by Patch Pilot; blocked: waiting, the reason says why; "
                "completed or skipped: by someone else; shadow: would have approved "
                "(PATCHPILOT_MODE=shadow).",
            },
            "reason": {"type": "string"},
            "since": _TIME,
            "first_seen": _TIME,
            "checked_at": _TIME,
            "approved_at": _NULLABLE_TIME,
        }
    ),
    "ForgottenCluster": _object(
        {
            "cluster": {"type": "string", "description": "The resource ID, lower case."},
            "code": {"type": "string", "const": "cluster_forgotten"},
            "at": _TIME,
            "message": {"type": "string"},
        }
    ),
    "CommonAlert": {
        "type": "object",
        "description": "Azure Monitor common alert schema (metric, log search, activity log).",
        "required": ["schemaId", "data"],
        "properties": {
            "schemaId": {"type": "string", "const": "azureMonitorCommonAlertSchema"},
            "data": {
                "type": "object",
                "required": ["essentials"],
                "properties": {
                    "essentials": {
                        "type": "object",
                        "required": [
                            "alertId",
                            "alertRule",
                            "severity",
                            "signalType",
                            "monitorCondition",
                            "firedDateTime",
                        ],
                        "properties": {
                            "alertId": {"type": "string"},
                            "alertRule": {"type": "string"},
                            "severity": {"type": "string"},
                            "signalType": {"type": "string"},
                            "monitorCondition": {"type": "string", "enum": ["Fired", "Resolved"]},
                            "monitoringService": {"type": "string"},
                            "alertTargetIDs": {"type": "array", "items": {"type": "string"}},
                            "firedDateTime": _TIME,
                            "resolvedDateTime": _TIME,
                            "description": {"type": "string"},
                        },
                    }
                },
            },
        },
    },
    "AlertOutcome": _object(
        {
            "verdict": {
                "type": "string",
                "enum": ["paused", "already_paused", "resumed", "nothing_to_lift", "stale"],
            },
            "alert_id": {"type": "string"},
            "rule": {"type": "string"},
            "condition": {"type": "string", "enum": ["Fired", "Resolved"]},
            "pauses": _list("Pause"),
            "scopes": {
                "type": "array",
                "items": _object(
                    {
                        "scope": {"type": "string", "enum": ["fleet", "ring", "cluster"]},
                        "target": _NULLABLE_TEXT,
                    }
                ),
            },
        }
    ),
}

_IDEMPOTENCY_KEY: Final = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Send the same key when retrying: the first answer comes back, "
    "nothing is done twice (kept 24 hours).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}


def _query(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": _ref(schema)}}}


_PATHS: Final[dict[str, Any]] = {
    "/status": {
        "get": {
            "operationId": "getStatus",
            "summary": "Every cluster in scope: ring, versions, pools, pauses, next action.",
            "parameters": [
                _query("ring", "Only the clusters of this ring."),
                _query("cluster", "Only this cluster (resource ID or name)."),
            ],
            "responses": {
                "200": _response("The status of the fleet.", "Status"),
                **_errors(400, 404, 422, 503),
            },
        }
    },
    "/plan": {
        "get": {
            "operationId": "getPlan",
            "summary": "The dry-run plan at an instant (same content as `patchpilot plan --json`).",
            "parameters": [_query("at", "Instant, ISO 8601 (UTC unless an offset is given).")],
            "responses": {
                "200": _response("The plan.", "Plan"),
                **_errors(400, 422, 503),
            },
        }
    },
    "/shadow-report": {
        "get": {
            "operationId": "getShadowReport",
            "summary": "Shadow mode's decisions against what happened on the clusters "
            "(docs/shadow.md).",
            "parameters": [_query("at", "Instant, ISO 8601 (UTC unless an offset is given).")],
            "responses": {
                "200": _response("The shadow report.", "ShadowReport"),
                **_errors(400, 422, 503),
            },
        }
    },
    "/upgrades": {
        "post": {
            "operationId": "requestUpgrade",
            "summary": "A manual upgrade of a control plane, a pool's version or its node image.",
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": _body("UpgradeRequest"),
            "responses": {
                "200": _response("The ledger already shows this upgrade done.", "UpgradeAnswer"),
                "202": _response("Started now, or scheduled at planned_at.", "UpgradeAnswer"),
                **_errors(400, 404, 409, 413, 422, 503),
            },
        }
    },
    "/pauses": {
        "get": {
            "operationId": "listPauses",
            "summary": "The pauses in force.",
            "responses": {"200": _response("Pauses.", "PauseList"), **_errors(503)},
        },
        "post": {
            "operationId": "addPause",
            "summary": "Pause the fleet, a ring or a cluster.",
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": _body("PauseRequest"),
            "responses": {
                "201": _response("The pause.", "Pause"),
                **_errors(400, 404, 413, 422, 503),
            },
        },
    },
    "/pauses/{id}": {
        "delete": {
            "operationId": "deletePause",
            "summary": "Resume: delete one pause.",
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                _query("reason", "Why the pause may go (one line, at most 500 characters)."),
            ],
            "responses": {
                "200": _response("The pause that was deleted.", "Deleted"),
                **_errors(404, 422, 503),
            },
        }
    },
    "/alerts": {
        "post": {
            "operationId": "receiveAlert",
            "summary": "Azure Monitor action group webhook (common alert schema).",
            "description": "Fired pauses the scope the alert maps to; Resolved lifts it. "
            "Action groups call webhooks with the function key in the URL (?code=).",
            "requestBody": _body("CommonAlert"),
            "responses": {
                "200": _response("What the notification did.", "AlertOutcome"),
                **_errors(400, 413, 503),
            },
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This document.",
            "responses": {
                "200": {
                    "description": "OpenAPI 3.1",
                    "content": {JSON: {"schema": {"type": "object"}}},
                },
                **_errors(),
            },
        }
    },
}

# The HTTP function behind each operation (functions/http_api.py), for its role.
FUNCTIONS: Final[dict[tuple[str, str], str]] = {
    ("/status", "get"): "api_status",
    ("/plan", "get"): "api_plan",
    ("/upgrades", "post"): "api_upgrade",
    ("/pauses", "get"): "api_list_pauses",
    ("/pauses", "post"): "api_add_pause",
    ("/pauses/{id}", "delete"): "api_delete_pause",
    ("/alerts", "post"): "api_alert",
    ("/openapi.json", "get"): "api_openapi",
    ("/shadow-report", "get"): "api_shadow_report",
}


def _mark_roles(paths: dict[str, Any]) -> None:
    """Each operation names its function, its role and its app role (docs/api.md's table)."""
    for (path, method), function in FUNCTIONS.items():
        operation = paths[path][method]
        role = ROUTE_ROLES[function]
        operation["x-patchpilot-function"] = function
        operation["x-patchpilot-role"] = role
        operation["x-patchpilot-app-role"] = APP_ROLES[role]
        # People use the token (a function key only where App Service authentication
        # is off); the alert webhook keeps its own key.
        if function in KEY_FUNCTIONS:
            operation["security"] = [{"functionKey": []}, {"functionKeyQuery": []}]


_mark_roles(_PATHS)

_DOCUMENT: Final[dict[str, Any]] = {
    "openapi": "3.1.0",
    "info": {
        "title": "AKS Patch Pilot operator API",
        "version": __version__,
        "description": "Status, dry-run plans, manual upgrades, pauses and Azure Monitor "
        "alert gates. People call it with a Microsoft Entra token for Patch Pilot's app "
        "(App Service authentication); each operation names the app role it needs "
        "(x-patchpilot-role). The alert webhook also takes its own function key.",
    },
    "servers": [{"url": "/api"}],
    "security": [{"entra": []}, {"functionKey": []}, {"functionKeyQuery": []}],
    "paths": _PATHS,
    "components": {
        "schemas": _SCHEMAS,
        "securitySchemes": {
            "entra": {
                "type": "http",
                "scheme": "bearer",
                "description": "A Microsoft Entra access token for the app registration "
                "(scope api://<client id>/.default), validated by App Service authentication.",
            },
            "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
            "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
        },
    },
}
