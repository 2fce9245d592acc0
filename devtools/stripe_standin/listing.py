"""Stripe list semantics: newest first, `limit` (1..100, default 10), cursors, `created` filter."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from . import objects
from .errors import invalid, no_such
from .form import to_int


def where_equal(items: Iterable[dict[str, Any]], params: dict[str, Any], keys: Iterable[str]) -> list[dict[str, Any]]:
    """Stripe's exact-match list parameters: each of `keys` that `params` gives keeps the objects whose field
    equals it."""
    kept = list(items)
    for key in keys:
        if key in params:
            kept = [o for o in kept if o.get(key) == params[key]]
    return kept


def _created_filter(value: Any) -> dict[str, int]:
    if isinstance(value, dict):
        out = {}
        for op, v in value.items():
            if op not in ("gt", "gte", "lt", "lte"):
                raise invalid(f"created[{op}]", f"Received unknown parameter: created[{op}]", "parameter_unknown")
            out[op] = to_int(v, f"created[{op}]")
        return out
    return {"eq": to_int(value, "created")}


def _created_ok(created: int, f: dict[str, int]) -> bool:
    return (
        f.get("eq", created) == created
        and created > f.get("gt", created - 1)
        and created >= f.get("gte", created)
        and created < f.get("lt", created + 1)
        and created <= f.get("lte", created)
    )


def paginate(
    items: Iterable[dict[str, Any]], params: dict[str, Any], url: str, kind: str, newest_first_order: bool = True
) -> dict[str, Any]:
    """`items` oldest first (insertion order); returns a list object, newest first unless told (deep copies)."""
    newest_first = list(items)
    if newest_first_order:
        newest_first.reverse()
    if "created" in params:
        f = _created_filter(params["created"])
        newest_first = [o for o in newest_first if _created_ok(o["created"], f)]
    limit = to_int(params.get("limit", 10), "limit")
    if not 1 <= limit <= 100:
        raise invalid("limit", "Invalid limit: must be between 1 and 100.")
    ids = [o["id"] for o in newest_first]
    if params.get("starting_after"):
        cursor = str(params["starting_after"])
        if cursor not in ids:
            raise no_such(kind, cursor, param="starting_after", status=400)
        window = newest_first[ids.index(cursor) + 1 :]
        page, has_more = window[:limit], len(window) > limit
    elif params.get("ending_before"):
        cursor = str(params["ending_before"])
        if cursor not in ids:
            raise no_such(kind, cursor, param="ending_before", status=400)
        window = newest_first[: ids.index(cursor)]
        page, has_more = window[-limit:], len(window) > limit
    else:
        page, has_more = newest_first[:limit], len(newest_first) > limit
    return objects.list_object([copy.deepcopy(o) for o in page], url, has_more)
