"""Entry ids and fingerprints: how the ledger's exactly-once rule is keyed."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any


def entry_id_for(uid: str, key: str) -> str:
    # Derived from the key, so the store's uniqueness on the id is the exactly-once guarantee.
    return hashlib.sha256(f"{uid}\x00{key}".encode()).hexdigest()[:32]


def fingerprint_of(parts: list[Any]) -> str:
    """What a replay must match, as a hash of the request's parameters."""
    return hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="microseconds")


# Keys of the entries the ledger writes by itself. One per grant or hold, so each happens at most once.
def expiry_key(grant_id: str) -> str:
    return f"expiry:{grant_id}"


def rollover_key(grant_id: str) -> str:
    return f"rollover:{grant_id}"


def hold_settle_key(hold_id: str) -> str:
    # Capture, release and expiry of one hold share this key: the hold is settled at most once.
    return f"hold-settle:{hold_id}"


SIGNUP_BONUS_KEY = "signup-bonus"
