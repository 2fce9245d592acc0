"""The ledger rules. Each function is pure: given the stored profile (and, for ledger changes, the entry
already stored under the idempotency key), it returns what to write and what to answer. Stores run them
inside one transaction, so a retried transaction simply calls them again."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from profile_service.domain.errors import IdempotencyKeyReused, InsufficientTokens, ProfileNotFound
from profile_service.domain.model import EntryType, LedgerEntry, Profile


@dataclass(frozen=True)
class LedgerChange:
    """A requested balance change. `kind` decides the arithmetic; the rest is recorded."""

    kind: str  # "grant" | "spend" | "revoke"
    uid: str
    amount: int
    type: EntryType
    idempotency_key: str
    source: dict[str, str]
    reason: str = ""

    @property
    def entry_id(self) -> str:
        return entry_id_for(self.uid, self.idempotency_key)

    @property
    def fingerprint(self) -> str:
        """What a replay must match: the same key with other parameters is a different request."""
        body = json.dumps(
            [self.kind, self.amount, self.type.value, sorted(self.source.items()), self.reason],
            separators=(",", ":"),
        )
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class LedgerResult:
    entry: LedgerEntry
    balance: int
    already_applied: bool

    @property
    def shortfall(self) -> int:
        return self.entry.shortfall


@dataclass(frozen=True)
class Writes:
    """What one transaction writes (None = nothing) and what it answers."""

    profile: Profile | None
    entry: LedgerEntry | None
    result: object


def entry_id_for(uid: str, key: str) -> str:
    # Derived from the key, so the store's uniqueness on the id is the exactly-once guarantee.
    return hashlib.sha256(f"{uid}\x00{key}".encode()).hexdigest()[:32]


def apply_change(profile: Profile | None, prior: LedgerEntry | None, change: LedgerChange, now: datetime) -> Writes:
    if profile is None:
        raise ProfileNotFound(change.uid)
    if prior is not None:
        if prior.fingerprint != change.fingerprint:
            raise IdempotencyKeyReused(change.idempotency_key)
        return Writes(None, None, LedgerResult(prior, prior.balance_after, already_applied=True))

    shortfall = 0
    if change.kind == "grant":
        delta = change.amount
    elif change.kind == "spend":
        if profile.tokens < change.amount:
            raise InsufficientTokens(profile.tokens, change.amount)
        delta = -change.amount
    elif change.kind == "revoke":
        taken = min(change.amount, profile.tokens)
        shortfall = change.amount - taken
        delta = -taken
    else:  # pragma: no cover - programming error
        raise ValueError(f"unknown ledger change kind {change.kind!r}")

    balance = profile.tokens + delta
    assert balance >= 0, "the ledger never goes negative"
    reason = change.reason
    if shortfall:
        # The note says what was short; the fingerprint still covers only what was asked.
        reason = f"{reason} (short by {shortfall}: took {-delta} of {change.amount})".strip()
    seq = profile.ledger_seq + 1
    entry = LedgerEntry(
        entry_id=change.entry_id,
        uid=change.uid,
        seq=seq,
        amount=delta,
        type=change.type,
        timestamp=now,
        balance_after=balance,
        idempotency_key=change.idempotency_key,
        fingerprint=change.fingerprint,
        source=dict(change.source),
        reason=reason,
        shortfall=shortfall,
    )
    updated = profile.with_(tokens=balance, ledger_seq=seq)
    if change.kind == "grant" and change.type is EntryType.PURCHASE:
        # As the original fulfilment did: remember the one-time purchase on the profile.
        updated = updated.with_(
            one_time_purchase=True,
            purchase_date=now,
            product_id=change.source.get("product_id", updated.product_id),
            price_id=change.source.get("price_id", updated.price_id),
        )
    return Writes(updated, entry, LedgerResult(entry, balance, already_applied=False))


OPENING_BALANCE_KEY = "migration:opening-balance"


def open_legacy_balance(profile: Profile | None, prior: LedgerEntry | None, uid: str, now: datetime) -> Writes:
    """Adopts a balance written before this ledger existed (the original app kept `tokens` plus a
    `token_history` array): one ADJUSTMENT entry for the whole balance, so the balance equals the sum of the
    entries from then on. Idempotent through its key; the legacy array itself is left as it was."""
    if profile is None:
        raise ProfileNotFound(uid)
    if prior is not None:
        return Writes(None, None, LedgerResult(prior, prior.balance_after, already_applied=True))
    if profile.ledger_seq != 0 or profile.tokens <= 0:
        return Writes(None, None, None)  # nothing to adopt: already on the ledger, or empty
    change = LedgerChange(
        kind="grant",
        uid=uid,
        amount=profile.tokens,
        type=EntryType.ADJUSTMENT,
        idempotency_key=OPENING_BALANCE_KEY,
        source={"migrated_from": "legacy tokens field"},
        reason="opening balance adopted from the original profile document",
    )
    entry = LedgerEntry(
        entry_id=change.entry_id,
        uid=uid,
        seq=1,
        amount=profile.tokens,
        type=EntryType.ADJUSTMENT,
        timestamp=now,
        balance_after=profile.tokens,
        idempotency_key=OPENING_BALANCE_KEY,
        fingerprint=change.fingerprint,
        source=dict(change.source),
        reason=change.reason,
    )
    return Writes(profile.with_(ledger_seq=1), entry, LedgerResult(entry, profile.tokens, already_applied=False))
