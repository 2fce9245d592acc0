"""`expand[]` support: replace id strings by the objects they name, dotted paths included."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from . import objects
from .errors import invalid
from .store import COLLECTIONS

if TYPE_CHECKING:
    from .store import Store

_MAX_DEPTH = 4  # Stripe's limit on expansion depth


def session_line_items(store: Store, session_id: str) -> dict[str, Any]:
    return objects.list_object(
        copy.deepcopy(store.line_items.get(session_id, [])), f"/v1/checkout/sessions/{session_id}/line_items"
    )


def expand(store: Store, obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    for path in paths:
        parts = path.split(".")
        if len(parts) > _MAX_DEPTH:
            raise invalid("expand", f"You cannot expand more than {_MAX_DEPTH} levels of a property. Property: {path}")
        _expand(store, obj, parts, path)
    return obj


def _expand(store: Store, obj: dict[str, Any], parts: list[str], path: str) -> None:
    if obj.get("object") in ("list", "search_result") and parts[0] == "data":
        for item in obj["data"]:
            if len(parts) > 1:
                _expand(store, item, parts[1:], path)
        return
    head = parts[0]
    if head == "line_items" and obj.get("object") == "checkout.session":
        if not isinstance(obj.get("line_items"), dict):
            obj["line_items"] = session_line_items(store, obj["id"])
    elif head in COLLECTIONS and head in obj:
        value = obj[head]
        if isinstance(value, str):
            found = store.collection(COLLECTIONS[head]).get(value)
            if found is not None:
                obj[head] = copy.deepcopy(found)
    elif not (head in obj and isinstance(obj[head], dict)):
        raise invalid("expand", f"This property cannot be expanded ({path}).")
    if len(parts) > 1 and isinstance(obj.get(head), dict):
        _expand(store, obj[head], parts[1:], path)
