"""Holds: reserve tokens, then capture what was used or release them. Pure, like ledger.py.

- ReserveTokens writes a HOLD entry of amount 0 under the caller's key (hold_id = that entry's id) and adds
  the hold to the profile when the available tokens (tokens - held) cover it. A replay answers the same hold.
- Every settlement of a hold (capture, release, expiry) is written under ONE key, `hold-settle:{hold_id}`, so
  the ledger's exactly-once rule settles a hold at most once: the same request again answers the first result,
  anything else is HOLD_ALREADY_SETTLED (a capture after the expiry released it: HOLD_EXPIRED).
- A capture is one SPEND entry taken in the spending order; the rest of the hold is released with it. Above
  the held amount, OVERAGE_REJECT refuses (nothing changes) and OVERAGE_CAP takes the hold plus whatever else
  is available. Never negative.
- An expired hold is never capturable and never counted in held_tokens, even before the sweeper released it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from profile_service.domain import grants
from profile_service.domain.errors import (
    HoldAlreadySettled,
    HoldAmountExceeded,
    HoldExpired,
    HoldNotFound,
    IdempotencyKeyReused,
    InsufficientTokens,
    ProfileNotFound,
    TooManyHolds,
)
from profile_service.domain.keys import entry_id_for, fingerprint_of, hold_settle_key
from profile_service.domain.ledger import Writes, needs_opening_balance, opening_balance_entry
from profile_service.domain.model import EntryType, Hold, LedgerEntry, Profile


class Overage(enum.StrEnum):
    REJECT = "reject"
    CAP = "cap"


@dataclass(frozen=True)
class HoldResult:
    hold_id: str
    amount: int
    expires_at: datetime
    entry: LedgerEntry
    available: int  # tokens - held right after the reserve (the first result's, on a replay)
    already_applied: bool


@dataclass(frozen=True)
class SettleResult:
    entry: LedgerEntry
    balance: int
    captured: int
    released: int
    already_applied: bool


def settle_entry_id(uid: str, hold_id: str) -> str:
    return entry_id_for(uid, hold_settle_key(hold_id))


def _replayed(prior: LedgerEntry) -> SettleResult:
    captured = -prior.amount
    return SettleResult(prior, prior.balance_after, captured, max(prior.hold_amount - captured, 0), True)


def _prepare(profile: Profile, now: datetime) -> tuple[Profile, tuple[LedgerEntry, ...]]:
    """Opening balance (legacy profiles) and what time did, written before the hold's own entry."""
    head: tuple[LedgerEntry, ...] = ()
    if needs_opening_balance(profile):
        opening = opening_balance_entry(profile, now)
        profile, head = profile.with_(ledger_seq=opening.seq), (opening,)
    profile, due = grants.settle_due(profile, now)
    return profile, (*head, *due)


def reserve(
    profile: Profile | None,
    prior: LedgerEntry | None,
    uid: str,
    key: str,
    amount: int,
    ttl: timedelta,
    reason: str,
    now: datetime,
) -> Writes[HoldResult]:
    if profile is None:
        raise ProfileNotFound(uid)
    fingerprint = fingerprint_of(["reserve", amount, int(ttl.total_seconds() * 1000), reason])
    if prior is not None:
        if prior.fingerprint != fingerprint or prior.expires_at is None:
            raise IdempotencyKeyReused(key)
        first = HoldResult(prior.hold_id, prior.hold_amount, prior.expires_at, prior, 0, True)
        return Writes(None, None, first)
    profile, before = _prepare(profile, now)
    if len(profile.holds) >= grants.MAX_ACTIVE_HOLDS:
        raise TooManyHolds(grants.MAX_ACTIVE_HOLDS)
    if grants.available(profile) < amount:
        raise InsufficientTokens(grants.available(profile), amount, grants.held(profile))
    hold_id = entry_id_for(uid, key)
    expires_at = now + ttl
    profile, entry = grants.new_entry(
        profile,
        key,
        0,
        EntryType.HOLD,
        now,
        fingerprint,
        reason=reason,
        hold_id=hold_id,
        hold_amount=amount,
        expires_at=expires_at,
    )
    profile = profile.with_(holds=(*profile.holds, Hold(hold_id, amount, expires_at, entry.seq)))
    result = HoldResult(hold_id, amount, expires_at, entry, grants.available(profile), False)
    return Writes(profile, entry, result, before=before)


def _find(profile: Profile, settled: Profile, hold_id: str) -> Hold:
    hold = next((h for h in settled.holds if h.hold_id == hold_id), None)
    if hold is not None:
        return hold
    if any(h.hold_id == hold_id for h in profile.holds):
        raise HoldExpired(hold_id)  # expired, its release not yet written (the sweeper or this write does)
    raise HoldNotFound(hold_id)


def capture(
    profile: Profile | None,
    prior: LedgerEntry | None,
    uid: str,
    hold_id: str,
    amount: int,
    overage: Overage,
    reason: str,
    now: datetime,
) -> Writes[SettleResult]:
    if profile is None:
        raise ProfileNotFound(uid)
    fingerprint = fingerprint_of(["capture", amount])
    if prior is not None:
        if prior.fingerprint == fingerprint:
            return Writes(None, None, _replayed(prior))
        if prior.fingerprint == grants.HOLD_EXPIRY_FINGERPRINT:
            raise HoldExpired(hold_id)
        raise HoldAlreadySettled(hold_id, "captured" if prior.type is EntryType.SPEND else "released")
    settled, before = _prepare(profile, now)
    hold = _find(profile, settled, hold_id)
    others = grants.available(settled)  # what no hold reserves
    if amount > hold.amount and overage is Overage.REJECT:
        raise HoldAmountExceeded(hold.amount, amount)
    taken = min(amount, hold.amount + others)
    kept, allocations = grants.take(settled.grants, taken)
    settled = settled.with_(grants=kept, holds=tuple(h for h in settled.holds if h.hold_id != hold_id))
    note = reason or "hold captured"
    if taken < amount:
        note = f"{note} (capped: took {taken} of {amount})"
    settled, entry = grants.new_entry(
        settled,
        hold_settle_key(hold_id),
        -taken,
        EntryType.SPEND,
        now,
        fingerprint,
        reason=note,
        allocations=allocations,
        hold_id=hold_id,
        hold_amount=hold.amount,
    )
    result = SettleResult(entry, entry.balance_after, taken, max(hold.amount - taken, 0), False)
    return Writes(settled, entry, result, before=before)


RELEASE_FINGERPRINT = fingerprint_of(["release"])


def release(
    profile: Profile | None, prior: LedgerEntry | None, uid: str, hold_id: str, now: datetime
) -> Writes[SettleResult]:
    if profile is None:
        raise ProfileNotFound(uid)
    if prior is not None:
        if prior.fingerprint in (RELEASE_FINGERPRINT, grants.HOLD_EXPIRY_FINGERPRINT):
            return Writes(None, None, _replayed(prior))  # released (by a release or its expiry): done
        raise HoldAlreadySettled(hold_id, "captured")
    settled, before = _prepare(profile, now)
    mine = settle_entry_id(uid, hold_id)
    expired = next((e for e in before if e.entry_id == mine), None)
    if expired is not None:  # it expired just now: its release is written here, and that answers
        result = SettleResult(expired, expired.balance_after, 0, expired.hold_amount, False)
        return Writes(settled, None, result, before=before)
    hold = _find(profile, settled, hold_id)
    settled = settled.with_(holds=tuple(h for h in settled.holds if h.hold_id != hold_id))
    settled, entry = grants.new_entry(
        settled,
        hold_settle_key(hold_id),
        0,
        EntryType.HOLD_RELEASE,
        now,
        RELEASE_FINGERPRINT,
        reason="hold released",
        hold_id=hold_id,
        hold_amount=hold.amount,
    )
    return Writes(settled, entry, SettleResult(entry, entry.balance_after, 0, hold.amount, False), before=before)


def sweep(profile: Profile | None, now: datetime) -> Writes[int]:
    """Writes what time did to one profile (the sweeper); answers how many entries that was."""
    if profile is None:
        return Writes(None, None, 0)
    settled, before = _prepare(profile, now)
    if not before and settled == profile:
        return Writes(None, None, 0)
    return Writes(settled, None, len(before), before=before)
