"""Listing events with Stripe's `type` / `types` filters (a trailing * matches a prefix)."""

from __future__ import annotations

from typing import Any

from .form import as_list
from .runtime import Standin


def list_events(sd: Standin, params: dict[str, Any]) -> list[dict[str, Any]]:
    items = list(sd.store.events.values())
    types: list[str] = []
    if "type" in params:
        types.append(str(params["type"]))
    types += [str(t) for t in as_list(params.get("types"))]
    if types:

        def matches(t: str) -> bool:
            return any(t == p or (p.endswith("*") and t.startswith(p[:-1])) for p in types)

        items = [e for e in items if matches(e["type"])]
    return items
