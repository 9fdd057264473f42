"""Azure Resource Graph's query endpoint, for the one kind of query fleet discovery sends.

The simulator is not a KQL engine. It answers queries over the ``resources``
table that keep to managed clusters, in this shape::

    Resources
    | where type =~ 'microsoft.containerservice/managedclusters'
    | where subscriptionId in~ ('...') and resourceGroup =~ '...'     (optional, any number)
    | project id, name, location, tags, resourceGroup, subscriptionId,
              kubernetesVersion = tostring(properties.kubernetesVersion)   (optional)
    | order by id asc                                                   (optional; also sort by)
    | limit 100                                                         (optional; also take)

Conditions: ``==``, ``=~``, ``!=``, ``!~``, ``in``, ``in~``, ``!in``, ``!in~``,
``startswith``, ``contains`` and ``has`` on a column or a dotted path, joined
by ``and``. A projected path without a name is named as ARG names it
(``properties_kubernetesVersion``). Rows carry ARG's columns for a resource
(``id``, ``name``, ``type`` in lower case, ``location``, ``resourceGroup``,
``subscriptionId``, ``tags``, ``properties`` with the same content as the
managed cluster GET, ...). Scope: ``subscriptions`` limits the rows; a
request by ``managementGroups`` or without scope sees the whole fleet. Paging
follows ARG: ``options.$top`` (page size, 1 to 1000), ``$skip`` and the
opaque ``$skipToken`` of the previous answer. Anything else is answered with
ARG's 400 ``BadRequest`` / ``InvalidQuery`` saying what is supported.

The same shape also runs over ``containerserviceeventresources`` when it keeps
to ``type =~ 'microsoft.containerservice/managedclusters/scheduledevents'``:
AKS Communication Manager's announcements, whose rows the caller passes in
(``scheduled_events``, from :mod:`patchpilot.sim.aks_maintenance`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from patchpilot.domain.resource_ids import region_key
from patchpilot.sim import arm_errors
from patchpilot.sim.arm_errors import ArmError
from patchpilot.sim.payloads import TENANT_ID, managed_cluster
from patchpilot.sim.state import SimCluster

CLUSTER_TYPE: Final = "microsoft.containerservice/managedclusters"
EVENTS_TABLE: Final = "containerserviceeventresources"
EVENT_TYPE: Final = "microsoft.containerservice/managedclusters/scheduledevents"
# Each table, and the one type a query of it must keep to.
_TABLES: Final = {"resources": CLUSTER_TYPE, EVENTS_TABLE: EVENT_TYPE}
MAX_TOP: Final = 1000
_SHAPE: Final = (
    "the AKS simulator answers only 'Resources | where type =~ "
    "'microsoft.containerservice/managedclusters' [| where ...] [| project ...] "
    "[| order by ...] [| limit N]', and the same over containerserviceeventresources "
    "with type =~ 'microsoft.containerservice/managedclusters/scheduledevents'"
)
_CONDITION = re.compile(
    r"^(?P<left>[A-Za-z_][\w.]*(?:\[['\"][^'\"]+['\"]\])*)\s*"
    r"(?P<op>=~|==|!=|!~|!in~|!in|in~|in|!startswith|startswith|!contains|contains|!has|has)"
    r"\s*(?P<right>.+)$",
    re.IGNORECASE | re.DOTALL,
)
_PROJECTION = re.compile(
    r"^(?:(?P<alias>[A-Za-z_]\w*)\s*=\s*)?(?:(?P<cast>tostring|toint|tolong|tobool|todynamic)\s*\(\s*(?P<inner>[^()]+?)\s*\)|(?P<path>[A-Za-z_][\w.\[\]'\"]*))$",
    re.IGNORECASE,
)
_ORDER = re.compile(
    r"^(?:order|sort)\s+by\s+(?P<column>[A-Za-z_][\w.]*)(?:\s+(?P<way>asc|desc))?$", re.IGNORECASE
)
_LIMIT = re.compile(r"^(?:limit|take)\s+(?P<count>\d+)$", re.IGNORECASE)

Row = dict[str, Any]
Condition = Callable[[Row], bool]


@dataclass
class Query:
    """A parsed query: filters, an optional projection, order and limit."""

    conditions: list[Condition] = field(default_factory=list)
    projection: list[tuple[str, str]] | None = None
    order: tuple[str, bool] | None = None
    limit: int | None = None
    typed: bool = False
    table: str = "resources"


def answer(
    body: Mapping[str, Any],
    clusters: Sequence[SimCluster],
    default_page_size: int,
    *,
    scheduled_events: Sequence[Row] = (),
) -> dict[str, Any]:
    """The body of ``POST /providers/Microsoft.ResourceGraph/resources`` for a query request."""
    text = body.get("query")
    if not isinstance(text, str) or not text.strip():
        raise _invalid("the request has no query")
    query = parse(text)
    if query.table == EVENTS_TABLE:
        wanted = _subscriptions(body)
        rows = [dict(r) for r in scheduled_events if wanted is None or _sub(r) in wanted]
    else:
        rows = [_row(c) for c in _in_scope(body, clusters)]
    rows = [r for r in rows if all(cond(r) for cond in query.conditions)]
    column, descending = query.order or ("id", False)
    rows.sort(key=lambda r: _sort_key(_lookup(r, column)), reverse=descending)
    if query.limit is not None:
        rows = rows[: query.limit]
    if query.projection is not None:
        rows = [{name: _lookup(r, path) for name, path in query.projection} for r in rows]
    options = body.get("options") or {}
    if not isinstance(options, Mapping):
        raise _invalid("options must be an object")
    return _page(rows, options, text, default_page_size)


def parse(text: str) -> Query:
    """Parse the supported query shape, or raise ARG's 400 naming what is not supported."""
    stages = [s.strip() for s in _split(re.sub(r"\s+", " ", text), "|")]
    if not stages or stages[0].lower() not in _TABLES:
        raise _invalid(
            f"the query must start with the resources or {EVENTS_TABLE} table, not {stages[0]!r}"
        )
    query = Query(table=stages[0].lower())
    for stage in stages[1:]:
        _stage(query, stage)
    if not query.typed:
        raise _invalid(f"the query must keep to one type (where type =~ '{_TABLES[query.table]}')")
    return query


def _stage(query: Query, stage: str) -> None:
    keyword = stage.split(None, 1)[0].lower() if stage else ""
    if keyword == "where":
        for part in _split(stage[len("where") :], " and "):
            query.conditions.append(_condition(query, part.strip()))
    elif keyword in ("project", "order", "sort", "limit", "take"):
        _shaping(query, keyword, stage)
    else:
        raise _invalid(f"unsupported operator {keyword or stage!r}")


def _shaping(query: Query, keyword: str, stage: str) -> None:
    if keyword == "project":
        query.projection = [
            _projection(part.strip()) for part in _split(stage[len("project") :], ",")
        ]
        return
    if keyword in ("order", "sort"):
        match = _ORDER.match(stage)
        if match is None:
            raise _invalid(f"cannot read {stage!r}; use 'order by <column> [asc|desc]'")
        query.order = (match["column"], (match["way"] or "desc").lower() == "desc")
        return
    match = _LIMIT.match(stage)
    if match is None:
        raise _invalid(f"cannot read {stage!r}; use 'limit <N>'")
    query.limit = int(match["count"])


def _condition(query: Query, text: str) -> Condition:
    if re.search(r"\s+or\s+", text, re.IGNORECASE):
        raise _invalid(f"'or' is not supported in {text!r}; {_SHAPE}")
    match = _CONDITION.match(text)
    if match is None:
        raise _invalid(f"cannot read the condition {text!r}")
    left, op, right = _path(match["left"]), match["op"].lower(), _literal(match["right"].strip())
    if left.lower() == "type":
        query.typed = query.typed or _keeps_to(_TABLES[query.table], op, right)
    return _comparison(left, op, right)


def _keeps_to(kind: str, op: str, right: Any) -> bool:
    values = right if isinstance(right, list) else [right]
    return op in ("==", "=~", "in", "in~") and all(str(v).lower() == kind for v in values)


def _comparison(left: str, op: str, right: Any) -> Condition:
    negate = op.startswith("!")
    base = {"~": "=~", "=": "=="}.get(op[1:], op[1:]) if negate else op
    insensitive = base in ("=~", "in~", "startswith", "contains", "has")
    candidates = right if isinstance(right, list) else [right]

    def norm(value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        return text.lower() if insensitive else text

    def test(row: Row) -> bool:
        value = norm(_lookup(row, left))
        if base in ("in", "in~"):
            hit = value in {norm(v) for v in candidates}
        elif base == "startswith":
            hit = value.startswith(norm(right))
        elif base in ("contains", "has"):
            hit = norm(right) in value
        else:
            hit = value == norm(right)
        return hit != negate

    return test


def _projection(text: str) -> tuple[str, str]:
    match = _PROJECTION.match(text)
    if match is None:
        raise _invalid(f"cannot read the projected column {text!r}")
    path = _path(match["inner"] or match["path"])
    return (match["alias"] or path.replace(".", "_")), path


def _path(text: str) -> str:
    """``tags['env']`` and ``tags.env`` name the same thing."""
    return re.sub(r"\[['\"]([^'\"]+)['\"]\]", r".\1", text.strip())


def _literal(text: str) -> Any:
    text = text.strip()
    if text.startswith("(") and text.endswith(")"):
        return [_literal(part) for part in _split(text[1:-1], ",") if part.strip()]
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    raise _invalid(f"cannot read the value {text!r}; quote strings")


def _split(text: str, separator: str) -> list[str]:
    """Split outside quotes and parentheses (case-insensitive separator)."""
    parts: list[str] = []
    current: list[str] = []
    quote, depth, i = "", 0, 0
    lowered, size = text.lower(), len(separator)
    while i < len(text):
        char = text[i]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and lowered.startswith(separator, i):
            parts.append("".join(current))
            current, i = [], i + size
            continue
        current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def _lookup(row: Row, path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part, _case_insensitive(value, part))
    return value


def _case_insensitive(mapping: Mapping[str, Any], key: str) -> Any:
    """ARG column names compare without case (``subscriptionid``)."""
    return next((v for k, v in mapping.items() if k.lower() == key.lower()), None)


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value).lower())


def _row(cluster: SimCluster) -> Row:
    """One ``resources`` row for a managed cluster, with ARG's columns."""
    resource = managed_cluster(cluster)
    return {
        "id": resource["id"],
        "name": resource["name"],
        "type": CLUSTER_TYPE,
        "tenantId": TENANT_ID,
        "kind": "",
        "location": region_key(cluster.location),
        "resourceGroup": cluster.id.resource_group.lower(),
        "subscriptionId": cluster.id.subscription,
        "managedBy": "",
        "sku": resource["sku"],
        "plan": None,
        "properties": resource["properties"],
        "tags": resource["tags"],
        "identity": resource["identity"],
        "zones": None,
        "extendedLocation": None,
    }


def _in_scope(body: Mapping[str, Any], clusters: Sequence[SimCluster]) -> list[SimCluster]:
    wanted = _subscriptions(body)
    if wanted is None:
        return list(clusters)
    return [c for c in clusters if c.id.subscription in wanted]


def _subscriptions(body: Mapping[str, Any]) -> set[str] | None:
    """The request's subscriptions (lower case); None when it names none (the whole fleet)."""
    subscriptions = body.get("subscriptions")
    if not subscriptions:
        return None
    if not isinstance(subscriptions, list):
        raise _invalid("subscriptions must be a list of subscription IDs")
    return {str(s).lower() for s in subscriptions}


def _sub(row: Row) -> str:
    return str(row.get("subscriptionId", "")).lower()


def _page(
    rows: list[Row], options: Mapping[str, Any], text: str, default_page_size: int
) -> dict[str, Any]:
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    offset = _int_option(options, "$skip", 0, 0, len(rows) + 1_000_000)
    token = options.get("$skipToken")
    if token:
        offset = _read_token(str(token), digest)
    size = _int_option(options, "$top", default_page_size, 1, MAX_TOP)
    page = rows[offset : offset + size]
    result: dict[str, Any] = {
        "totalRecords": len(rows),
        "count": len(page),
        "resultTruncated": "false",
        "facets": [],
        "data": _formatted(page, str(options.get("resultFormat", "objectArray"))),
    }
    if offset + size < len(rows):
        result["$skipToken"] = _token(offset + size, digest)
    return result


def _formatted(rows: list[Row], result_format: str) -> Any:
    if result_format.lower() == "objectarray":
        return rows
    if result_format.lower() != "table":
        raise _invalid(f"resultFormat must be objectArray or table, got {result_format!r}")
    names = list(rows[0]) if rows else []
    return {
        "columns": [{"name": n, "type": _column_type(rows[0][n])} for n in names],
        "rows": [[r.get(n) for n in names] for r in rows],
    }


def _column_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, str):
        return "string"
    return "object"


def _int_option(options: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = options.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(f"options.{key} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _token(offset: int, digest: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "q": digest}).encode()).decode()


def _read_token(token: str, digest: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset, query = int(data["o"]), str(data["q"])
    except (ValueError, KeyError, TypeError) as exc:
        raise _invalid(f"$skipToken {token[:40]!r} was not issued by this service") from exc
    if query != digest:
        raise _invalid("$skipToken belongs to another query; send the same query with it")
    return offset


def _invalid(reason: str) -> ArmError:
    """ARG's 400 for a query it cannot run."""
    return arm_errors.bad_request(
        f"Query is invalid: {reason}. Please refer to the documentation for the Azure Resource "
        f"Graph service and fix the error before retrying ({_SHAPE}).",
        details=[{"code": "InvalidQuery", "message": reason}],
    )
