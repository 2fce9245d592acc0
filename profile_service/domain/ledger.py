"""The ledger rules. Each function is pure: given the stored profile (and, for ledger changes, the entry
already stored under the idempotency key), it returns what to write and what to answer. Stores run them
inside one transaction, so a retried transaction simply calls them again.

Invariants (checked by `python -m profile_service audit`):
- tokens == sum(entry.amount) >= 0, and the newest entry's balance_after == tokens;
- debt == sum(entry.debt_added) - sum(entry.debt_settled) >= 0, and debt > 0 only while tokens == 0.

How debt is kept (SHORTFALL_POLICY): a revocation takes what the balance holds; the rest is its `shortfall`.
Under `forgive` that is all (the shortfall is only recorded). Under `carry` the shortfall is also the entry's
`debt_added` and goes onto the profile's `debt`. A grant first settles the debt: its entry's `amount` is what
reached the balance and its `debt_settled` is what paid debt, so the grant granted amount + debt_settled.
Entry amounts therefore still sum to the balance; the debt is the sum of its own two columns. What a
revocation claimed is -amount + shortfall; what it actually cost the user is -amount + debt_added.

Grants and holds (domain/grants.py, domain/holds.py): every change first writes what time did (expired grants'
EXPIRY entries, rollovers, releases of expired holds), then its own entry. A grant's remaining part (after
debt) becomes an active grant; spends and revocations take from the active grants in the spending order and
record where from (entry.allocations); a spend takes only available tokens (tokens - held). Further
invariants: sum(grant.remaining) == tokens (a balance from before grants counts as one legacy grant), and
0 <= held <= tokens. The stored balance always equals the sum of the stored entries: an expiry not yet
written is in neither (reads show the profile as of now)."""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Generic, TypeVar

from profile_service.domain import grants
from profile_service.domain.errors import IdempotencyKeyReused, InsufficientTokens, ProfileNotFound
from profile_service.domain.keys import entry_id_for as entry_id_for  # re-exported: callers import it from here
from profile_service.domain.model import (
    DEFAULT_CATEGORY,
    DEFAULT_PRIORITY,
    Allocation,
    EntryType,
    Grant,
    GrantCategory,
    LedgerEntry,
    Profile,
)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class ShortfallPolicy(enum.StrEnum):
    """What a revocation does with tokens it cannot take (SHORTFALL_POLICY)."""

    CARRY = "carry"  # the shortfall becomes debt that the next grants settle first
    FORGIVE = "forgive"  # the shortfall is recorded and forgotten


class ChangeKind(enum.StrEnum):
    """What a ledger change does to the balance. The value is part of the stored fingerprint: never rename."""

    GRANT = "grant"  # adds the amount
    SPEND = "spend"  # takes the amount, or fails when the balance is short
    REVOKE = "revoke"  # takes what it can; the rest is recorded as the shortfall


@dataclass(frozen=True)
class GrantTerms:
    """GrantTokens' grant fields. Defaults: effective now, never expires, priority 50, category from the type."""

    expires_at: datetime | None = None
    priority: int | None = None
    category: GrantCategory | None = None
    effective_at: datetime | None = None
    rollover_max: int = 0

    def fingerprint_parts(self) -> list[object]:
        """Only what was set, so a grant without terms keeps the fingerprint it had before terms existed."""
        parts: dict[str, object] = {
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "priority": self.priority,
            "category": self.category.value if self.category else None,
            "effective_at": self.effective_at.isoformat() if self.effective_at else None,
            "rollover_max": self.rollover_max or None,
        }
        return [[k, v] for k, v in sorted(parts.items()) if v is not None]


@dataclass(frozen=True)
class LedgerChange:
    """A requested balance change. `kind` decides the arithmetic; the rest is recorded."""

    kind: ChangeKind
    uid: str
    amount: int
    type: EntryType
    idempotency_key: str
    source: dict[str, str]
    reason: str = ""
    # A setting of the service, not part of the request: not in the fingerprint (a replay after the setting
    # changed still answers the first result).
    shortfall_policy: ShortfallPolicy = ShortfallPolicy.CARRY
    # Grants only: expiry, priority, category, effective time, rollover.
    terms: GrantTerms | None = None
    # Revocations only: the idempotency key of the grant to take from first (the purchase's grant), and the id
    # of the grant that holds its tokens now (grants.holder_of its entry; it may have joined another grant).
    # The id is looked up, not asked for: not in the fingerprint.
    from_grant_key: str = ""
    from_grant_id: str = ""

    def __post_init__(self) -> None:
        # Accepts the plain strings too ("grant"), so a bad kind fails here rather than inside a transaction.
        object.__setattr__(self, "kind", ChangeKind(self.kind))
        object.__setattr__(self, "shortfall_policy", ShortfallPolicy(self.shortfall_policy))

    @property
    def entry_id(self) -> str:
        return entry_id_for(self.uid, self.idempotency_key)

    @property
    def fingerprint(self) -> str:
        """What a replay must match: the same key with other parameters is a different request."""
        parts: list[object] = [self.kind.value, self.amount, self.type.value, sorted(self.source.items()), self.reason]
        # Appended only when present: requests without them keep the fingerprints stored before they existed.
        extra = self.terms.fingerprint_parts() if self.terms else []
        if self.from_grant_key:
            extra.append(["from_grant", self.from_grant_key])
        if extra:
            parts.append(extra)
        body = json.dumps(parts, separators=(",", ":"))
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
class Writes(Generic[T_co]):
    """What one decision writes (None = nothing) and what it answers. `opening` is the opening-balance entry
    adopted from a legacy profile in the same transaction, written before `entry`."""

    profile: Profile | None
    entry: LedgerEntry | None
    result: T_co
    opening: LedgerEntry | None = None
    # Entries time wrote before `entry` (expiries, rollovers, released holds) and after it (a grant that was
    # already expired when granted).
    before: tuple[LedgerEntry, ...] = ()
    after: tuple[LedgerEntry, ...] = ()

    @property
    def entries(self) -> tuple[LedgerEntry, ...]:
        head = (self.opening,) if self.opening is not None else ()
        entry = (self.entry,) if self.entry is not None else ()
        return (*head, *self.before, *entry, *self.after)


# decide(profile, entry_or_None, now) -> Writes. Pure and free of side effects: stores call it again when a
# transaction is retried. `now` is the clock reading the store takes inside the transaction.
Decide = Callable[[Profile | None, LedgerEntry | None, datetime], Writes[T]]


OPENING_BALANCE_KEY = "migration:opening-balance"


def needs_opening_balance(profile: Profile) -> bool:
    """A profile written by the original app: a balance, but no ledger entry behind it yet."""
    return profile.ledger_seq == 0 and profile.tokens > 0


def opening_balance_entry(profile: Profile, now: datetime) -> LedgerEntry:
    """The ADJUSTMENT entry that adopts a legacy balance as the ledger's first entry (seq 1)."""
    change = LedgerChange(
        kind=ChangeKind.GRANT,
        uid=profile.uid,
        amount=profile.tokens,
        type=EntryType.ADJUSTMENT,
        idempotency_key=OPENING_BALANCE_KEY,
        source={"migrated_from": "legacy tokens field"},
        reason="opening balance adopted from the original profile document",
    )
    return LedgerEntry(
        entry_id=change.entry_id,
        uid=profile.uid,
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


def with_grant_holder(change: LedgerChange, granted: LedgerEntry | None) -> LedgerChange:
    """A revocation naming its purchase's grant, told which grant holds those tokens now (`granted` is the
    entry under from_grant_key, read before the transaction: grant entries never change once written; None
    when it is not written yet, and the grant is then looked for under its own id)."""
    if granted is None or not change.from_grant_key:
        return change
    return replace(change, from_grant_id=grants.holder_of(granted))


def apply_change(
    profile: Profile | None, prior: LedgerEntry | None, change: LedgerChange, now: datetime
) -> Writes[LedgerResult]:
    if profile is None:
        raise ProfileNotFound(change.uid)
    if prior is not None:
        if prior.fingerprint != change.fingerprint:
            raise IdempotencyKeyReused(change.idempotency_key)
        return Writes(None, None, LedgerResult(prior, prior.balance_after, already_applied=True))

    opening = None
    if needs_opening_balance(profile):
        # Adopt the legacy balance first, in the same transaction, so balance == sum of entries afterwards.
        opening = opening_balance_entry(profile, now)
        profile = profile.with_(ledger_seq=opening.seq)
    # What time did since the last write (expiries, rollovers, expired holds) is written first.
    profile, before = grants.settle_due(profile, now)

    shortfall = debt_settled = debt_added = 0
    allocations: tuple[Allocation, ...] = ()
    expires_at = None
    grant: Grant | None = None
    if change.kind is ChangeKind.GRANT:
        # Debt first: only what is left reaches the balance.
        debt_settled = min(profile.debt, change.amount)
        delta = change.amount - debt_settled
        terms = change.terms or GrantTerms()
        expires_at = terms.expires_at
        if delta > 0:
            grant = Grant(
                grant_id=change.entry_id,
                amount=delta,
                remaining=delta,
                effective_at=min(terms.effective_at or now, now),
                expires_at=terms.expires_at,
                priority=DEFAULT_PRIORITY if terms.priority is None else terms.priority,
                category=terms.category or DEFAULT_CATEGORY[change.type],
                seq=profile.ledger_seq + 1,
                rollover_max=terms.rollover_max,
            )
            profile, into = grants.add_grant(profile, grant)
            if into != grant.grant_id:  # joined an active grant with the same terms
                allocations = (Allocation(into, delta),)
    elif change.kind is ChangeKind.SPEND:
        # Only what no hold reserves can be spent.
        if grants.available(profile) < change.amount:
            raise InsufficientTokens(grants.available(profile), change.amount, grants.held(profile))
        delta = -change.amount
        kept, allocations = grants.take(profile.grants, change.amount)
        profile = profile.with_(grants=kept)
    else:  # ChangeKind.REVOKE
        taken = min(change.amount, profile.tokens)
        shortfall = change.amount - taken
        delta = -taken
        if change.shortfall_policy is ShortfallPolicy.CARRY:
            debt_added = shortfall
        # The grant the purchase created first, then the spending order.
        first = change.from_grant_id or (
            entry_id_for(change.uid, change.from_grant_key) if change.from_grant_key else ""
        )
        kept, allocations = grants.take(profile.grants, taken, first)
        profile = profile.with_(grants=kept)

    balance = profile.tokens + delta
    assert balance >= 0, "the ledger never goes negative"
    reason = change.reason
    if shortfall:
        # The note says what was short; the fingerprint still covers only what was asked.
        carried = "carried as debt" if debt_added else "forgiven"
        reason = f"{reason} (short by {shortfall}: took {-delta} of {change.amount}; {carried})".strip()
    debt = profile.debt + debt_added - debt_settled
    assert debt >= 0, "debt never goes negative"
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
        debt_settled=debt_settled,
        debt_added=debt_added,
        allocations=allocations,
        expires_at=expires_at,
    )
    updated = grants.cut_holds(profile.with_(tokens=balance, ledger_seq=seq, debt=debt))
    if change.kind is ChangeKind.GRANT and change.type is EntryType.PURCHASE:
        # As the original fulfilment did: remember the one-time purchase on the profile.
        updated = updated.with_(
            one_time_purchase=True,
            purchase_date=now,
            product_id=change.source.get("product_id", updated.product_id),
            price_id=change.source.get("price_id", updated.price_id),
        )
    after: tuple[LedgerEntry, ...] = ()
    if grant is not None and grant.expires_at is not None and grant.expires_at <= now:
        updated, after = grants.settle_due(updated, now)  # granted already expired: it expires at once
    return Writes(
        updated,
        entry,
        LedgerResult(entry, balance, already_applied=False),
        opening=opening,
        before=before,
        after=after,
    )


def open_legacy_balance(
    profile: Profile | None, prior: LedgerEntry | None, uid: str, now: datetime
) -> Writes[LedgerResult | None]:
    """Adopts a balance written before this ledger existed (the original app kept `tokens` plus a
    `token_history` array): one ADJUSTMENT entry for the whole balance, so the balance equals the sum of the
    entries from then on. Idempotent through its key; the legacy array itself is left as it was. Answers
    None when there is nothing to adopt."""
    if profile is None:
        raise ProfileNotFound(uid)
    if prior is not None:
        return Writes(None, None, LedgerResult(prior, prior.balance_after, already_applied=True))
    if not needs_opening_balance(profile):
        return Writes(None, None, None)  # nothing to adopt: already on the ledger, or empty
    entry = opening_balance_entry(profile, now)
    return Writes(profile.with_(ledger_seq=1), entry, LedgerResult(entry, profile.tokens, already_applied=False))
