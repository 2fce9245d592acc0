"""A small subset of Stripe's Search query language for /v1/customers/search.

Supported: `email:'x'`, `name:'x'`, `phone:'x'`, `metadata['key']:'value'`, `~` for substring,
clauses joined by AND or by OR (not mixed), as Stripe allows. Like Stripe, search is eventually
consistent: with `search_lag_s` set, objects younger than that are not found yet.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from .errors import invalid
from .form import to_int

_CLAUSE = re.compile(
    r"""^(?P<field>\w+)(?:\[(?P<q1>['"])(?P<key>[^'"]+)(?P=q1)\])?\s*(?P<op>:|~)\s*(?P<q2>['"])(?P<value>.*)(?P=q2)$"""
)
_FIELDS = ("email", "name", "phone", "metadata")


def _parse(query: str) -> tuple[str, list[tuple[str, str | None, str, str]]]:
    text = query.strip()
    has_and, has_or = " AND " in text, " OR " in text
    if has_and and has_or:
        raise invalid("query", "Search queries cannot mix AND and OR.")
    joiner = "OR" if has_or else "AND"
    clauses = []
    for part in text.split(f" {joiner} "):
        m = _CLAUSE.match(part.strip())
        if not m or m["field"] not in _FIELDS or (m["field"] == "metadata") != (m["key"] is not None):
            raise invalid(
                "query", f"Invalid search query: {part.strip()!r} (the stand-in supports {', '.join(_FIELDS)})."
            )
        clauses.append((m["field"], m["key"], m["op"], m["value"]))
    return joiner, clauses


def _matches(obj: dict[str, Any], clause: tuple[str, str | None, str, str]) -> bool:
    field, key, op, value = clause
    actual = (obj.get("metadata") or {}).get(key or "") if field == "metadata" else obj.get(field)
    if actual is None:
        return False
    if op == "~":
        return value.lower() in str(actual).lower()
    # Metadata values match exactly; other fields ignore case.
    return str(actual) == value if field == "metadata" else str(actual).lower() == value.lower()


def search(items: list[dict[str, Any]], params: dict[str, Any], url: str, now: int, lag_s: int) -> dict[str, Any]:
    if not params.get("query"):
        raise invalid("query", "Missing required param: query.", code="parameter_missing")
    joiner, clauses = _parse(str(params["query"]))
    combine = any if joiner == "OR" else all
    visible = [o for o in items if o["created"] <= now - lag_s]
    found = [o for o in reversed(visible) if combine(_matches(o, c) for c in clauses)]
    limit = to_int(params.get("limit", 10), "limit")
    if not 1 <= limit <= 100:
        raise invalid("limit", "Invalid limit: must be between 1 and 100.")
    offset = to_int(params.get("page") or 0, "page")
    page = found[offset : offset + limit]
    has_more = len(found) > offset + limit
    result: dict[str, Any] = {
        "object": "search_result",
        "data": [copy.deepcopy(o) for o in page],
        "has_more": has_more,
        "next_page": str(offset + limit) if has_more else None,
        "url": url,
    }
    if "total_count" in params.get("expand", []):
        result["total_count"] = len(found)
        params["expand"] = [e for e in params["expand"] if e != "total_count"]
    return result
