"""Grants, holds and allocations as plain maps (ISO 8601 UTC strings for times), the same in both stores:
SQLite keeps them as JSON text, Firestore as arrays of maps on the user document and the entry documents."""

from __future__ import annotations

import functools
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from profile_service.domain.grants import spending_order
from profile_service.domain.model import Allocation, Grant, GrantCategory, Hold


def time_text(value: datetime | None) -> str | None:
    """The stored form of a time: ISO 8601 in UTC, to the microsecond (SQLite columns, JSON maps)."""
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def time_from(value: Any) -> datetime | None:
    """A stored time (ISO text, or a datetime from Firestore) as an aware UTC datetime; None for none."""
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
        "effective_at": time_text(g.effective_at),
        "expires_at": time_text(g.expires_at),
        "priority": g.priority,
        "category": g.category.value,
        "seq": g.seq,
        "rollover_max": g.rollover_max,
    }


def grant_from(m: dict[str, Any]) -> Grant:
    effective = time_from(m.get("effective_at"))
    assert effective is not None
    return Grant(
        grant_id=str(m["id"]),
        amount=int(m["amount"]),
        remaining=int(m["remaining"]),
        effective_at=effective,
        expires_at=time_from(m.get("expires_at")),
        priority=int(m["priority"]),
        category=GrantCategory(m["category"]),
        seq=int(m["seq"]),
        rollover_max=int(m.get("rollover_max") or 0),
    )


def hold_map(h: Hold) -> dict[str, Any]:
    return {"id": h.hold_id, "amount": h.amount, "expires_at": time_text(h.expires_at), "seq": h.seq}


def hold_from(m: dict[str, Any]) -> Hold:
    expires = time_from(m.get("expires_at"))
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


# SQLite keeps the active grants as one JSON text per user, read and rewritten by every change of that user.
# Decoding and encoding a few hundred grants each time dominated a write (2-3 ms at 200 grants), so the JSON
# text of each grant and the decoded tuple of the texts this process wrote recently are remembered. Both are
# pure functions of immutable values: a hit returns exactly what decoding or encoding would.
_DECODED_MAX = 4096
_decoded: OrderedDict[str, tuple[Grant, ...]] = OrderedDict()
_decoded_lock = threading.Lock()


@functools.lru_cache(maxsize=65536)
def _grant_json(g: Grant) -> str:
    return json.dumps(grant_map(g), separators=(",", ":"), sort_keys=True)


def grants_json(grants: Iterable[Grant]) -> str:
    """The same text as dumps(grant_map(g) for g in grants), and remembered for grants_from_json."""
    ordered = tuple(grants)
    text = "[" + ",".join(_grant_json(g) for g in ordered) + "]"
    _remember(text, tuple(sorted(ordered, key=spending_order)))
    return text


def grants_from_json(text: str | None) -> tuple[Grant, ...]:
    """grants_from(json.loads(text)), without decoding a text this process wrote or read recently."""
    text = text or "[]"
    with _decoded_lock:
        hit = _decoded.get(text)
        if hit is not None:
            _decoded.move_to_end(text)
            return hit
    grants = grants_from(json.loads(text))
    _remember(text, grants)
    return grants


def _remember(text: str, grants: tuple[Grant, ...]) -> None:
    with _decoded_lock:
        _decoded[text] = grants
        _decoded.move_to_end(text)
        while len(_decoded) > _DECODED_MAX:
            _decoded.popitem(last=False)
