"""Grants, holds and allocations as plain maps (ISO 8601 UTC strings for times), the same in both stores:
SQLite keeps them as JSON text, Firestore as arrays of maps on the user document and the entry documents."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from profile_service.domain.grants import spending_order
from profile_service.domain.model import Allocation, Grant, GrantCategory, Hold


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value)).astimezone(UTC)


def grant_map(g: Grant) -> dict[str, Any]:
    return {
        "id": g.grant_id,
        "amount": g.amount,
        "remaining": g.remaining,
        "effective_at": _ts(g.effective_at),
        "expires_at": _ts(g.expires_at),
        "priority": g.priority,
        "category": g.category.value,
        "seq": g.seq,
        "rollover_max": g.rollover_max,
    }


def grant_from(m: dict[str, Any]) -> Grant:
    effective = _dt(m.get("effective_at"))
    assert effective is not None
    return Grant(
        grant_id=str(m["id"]),
        amount=int(m["amount"]),
        remaining=int(m["remaining"]),
        effective_at=effective,
        expires_at=_dt(m.get("expires_at")),
        priority=int(m["priority"]),
        category=GrantCategory(m["category"]),
        seq=int(m["seq"]),
        rollover_max=int(m.get("rollover_max") or 0),
    )


def hold_map(h: Hold) -> dict[str, Any]:
    return {"id": h.hold_id, "amount": h.amount, "expires_at": _ts(h.expires_at), "seq": h.seq}


def hold_from(m: dict[str, Any]) -> Hold:
    expires = _dt(m.get("expires_at"))
    assert expires is not None
    return Hold(str(m["id"]), int(m["amount"]), expires, int(m["seq"]))


def allocation_map(a: Allocation) -> dict[str, Any]:
    return {"grant_id": a.grant_id, "amount": a.amount}


def allocation_from(m: dict[str, Any]) -> Allocation:
    return Allocation(str(m["grant_id"]), int(m["amount"]))


def _items(value: Iterable[dict[str, Any]] | dict[str, Any] | None) -> list[dict[str, Any]]:
    # Firestore keeps these as maps (no arrays on its documents), keyed by id or by position.
    if isinstance(value, dict):
        return [value[k] for k in sorted(value, key=lambda k: (len(k), k))]
    return list(value or ())


def grants_from(items: Iterable[dict[str, Any]] | dict[str, Any] | None) -> tuple[Grant, ...]:
    return tuple(sorted((grant_from(m) for m in _items(items)), key=spending_order))


def holds_from(items: Iterable[dict[str, Any]] | dict[str, Any] | None) -> tuple[Hold, ...]:
    return tuple(sorted((hold_from(m) for m in _items(items)), key=lambda h: h.seq))


def allocations_from(items: Iterable[dict[str, Any]] | dict[str, Any] | None) -> tuple[Allocation, ...]:
    return tuple(allocation_from(m) for m in _items(items))


def keyed(items: Iterable[dict[str, Any]], key: str = "id") -> dict[str, dict[str, Any]]:
    """Firestore form: a map keyed by each item's id."""
    return {str(m[key]): m for m in items}


def positional(items: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Firestore form of an ordered list: a map keyed "0", "1", ..."""
    return {str(i): m for i, m in enumerate(items)}


def dumps(items: Iterable[dict[str, Any]]) -> str:
    return json.dumps(list(items), separators=(",", ":"), sort_keys=True)
