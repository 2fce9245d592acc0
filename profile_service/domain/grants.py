"""Grants and holds, kept inline on the profile, and what time does to them. Pure, like ledger.py.

Where they live: the profile's `grants` (active grants, remaining > 0) and `holds` (active holds), stored in
the user document itself (Firestore: two arrays of maps on users/{uid}; SQLite: two JSON columns of `users`),
so every transaction reads one document however many grants a user ever had: the number of documents read
per transaction stays what it was (the user plus one entry per change). Bounds: at most MAX_ACTIVE_GRANTS
grants (a new grant joins an active grant it is fungible with, see add_grant; at the cap it joins one with the
same priority, expiry, category and rollover, or is refused with TOO_MANY_GRANTS and nothing written) and MAX_ACTIVE_HOLDS holds (TOO_MANY_HOLDS). Exhausted
grants leave the list; their history stays in the ledger (grant_id == the entry id of the grant's entry).

Balances from before grants existed (opening balances, grants written by earlier versions): whatever part of
`tokens` the listed grants do not cover is treated as ONE never-expiring paid grant (LEGACY_GRANT_ID,
priority 50, oldest of all) and adopted lazily: the first transaction that writes the profile stores it.

Spending order (spending_order): priority (lower first), then soonest expiry (never-expiring last), then
category (promotional, then allowance, then paid: use-it-or-lose-it credit before bought credit), then oldest
(effective time, then the seq of the entry that created it).

Time (settle_due): a hold whose expires_at has passed is released; a grant whose expires_at has passed expires:
one EXPIRY entry of -remaining under `expiry:{grant_id}` and, for a grant with rollover_max > 0, one ALLOWANCE
entry of min(remaining, rollover_max) under `rollover:{grant_id}` for a new grant that expires one period
(expires_at - effective_at) later, in the same transaction. A rolled-over grant does not roll over again, so
at most rollover_max tokens cross any one period end. Every ledger transaction settles first, and every read
shows the profile as settled now (view), so an expired grant is never spendable nor counted, even before
anything was written. When an expiry or a revocation leaves fewer tokens than are held, the newest holds are
cut to fit (held <= tokens always)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from profile_service.domain.keys import entry_id_for, expiry_key, fingerprint_of, hold_settle_key, rollover_key
from profile_service.domain.model import (
    DEFAULT_PRIORITY,
    Allocation,
    EntryType,
    Grant,
    GrantCategory,
    Hold,
    LedgerEntry,
    Profile,
)
from tokens import contract_rules as limits

MAX_ACTIVE_GRANTS = limits.ACTIVE_GRANTS_MAX
MAX_ACTIVE_HOLDS = limits.ACTIVE_HOLDS_MAX
LEGACY_GRANT_ID = "legacy-balance"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CATEGORY_RANK = {GrantCategory.PROMOTIONAL: 0, GrantCategory.ALLOWANCE: 1, GrantCategory.PAID: 2}
_FOREVER = datetime.max.replace(tzinfo=UTC)


def spending_order(grant: Grant) -> tuple[int, bool, datetime, int, datetime, int]:
    return (
        grant.priority,
        grant.expires_at is None,
        grant.expires_at or _FOREVER,
        _CATEGORY_RANK[grant.category],
        grant.effective_at,
        grant.seq,
    )


def with_legacy(profile: Profile) -> Profile:
    """The profile with its uncovered balance as one never-expiring paid grant (see the module docstring)."""
    uncovered = profile.tokens - sum(g.remaining for g in profile.grants)
    if uncovered <= 0:
        return profile
    legacy = next((g for g in profile.grants if g.grant_id == LEGACY_GRANT_ID), None)
    if legacy is not None:
        others = tuple(g for g in profile.grants if g is not legacy)
        grown = replace(legacy, amount=legacy.amount + uncovered, remaining=legacy.remaining + uncovered)
        return profile.with_(grants=tuple(sorted((grown, *others), key=spending_order)))
    grant = Grant(LEGACY_GRANT_ID, uncovered, uncovered, EPOCH, None, DEFAULT_PRIORITY, GrantCategory.PAID, 0)
    return profile.with_(grants=tuple(sorted((grant, *profile.grants), key=spending_order)))


def held(profile: Profile) -> int:
    return sum(h.amount for h in profile.holds)


def available(profile: Profile) -> int:
    return profile.tokens - held(profile)


def next_due(profile: Profile) -> datetime | None:
    """When time next changes this profile (a grant or a hold expires): what the sweeper looks for."""
    times = [g.expires_at for g in profile.grants if g.expires_at is not None]
    times += [h.expires_at for h in profile.holds]
    return min(times) if times else None


@dataclass(frozen=True)
class NextExpiry:
    amount: int
    at: datetime | None


def next_expiry(profile: Profile) -> NextExpiry:
    """The soonest expiry among active grants and how many tokens it takes (grants expiring at that instant)."""
    times = [g.expires_at for g in profile.grants if g.expires_at is not None and g.remaining > 0]
    if not times:
        return NextExpiry(0, None)
    soonest = min(times)
    return NextExpiry(sum(g.remaining for g in profile.grants if g.expires_at == soonest), soonest)


def new_entry(
    profile: Profile,
    key: str,
    amount: int,
    type: EntryType,
    now: datetime,
    fingerprint: str,
    **fields: object,
) -> tuple[Profile, LedgerEntry]:
    """The next ledger entry of the profile (seq + 1, balance moved by amount) and the profile after it."""
    seq = profile.ledger_seq + 1
    balance = profile.tokens + amount
    assert balance >= 0, "the ledger never goes negative"
    entry = LedgerEntry(
        entry_id=entry_id_for(profile.uid, key),
        uid=profile.uid,
        seq=seq,
        amount=amount,
        type=type,
        timestamp=now,
        balance_after=balance,
        idempotency_key=key,
        fingerprint=fingerprint,
        **fields,  # type: ignore[arg-type]
    )
    return profile.with_(tokens=balance, ledger_seq=seq), entry


def take(grants: Iterable[Grant], amount: int, first: str = "") -> tuple[tuple[Grant, ...], tuple[Allocation, ...]]:
    """Takes `amount` from the grants in the spending order (the grant `first`, if active, before all others).
    Exhausted grants leave the list. The caller has checked that the grants hold enough."""
    ordered = sorted(grants, key=lambda g: (g.grant_id != first, spending_order(g)))
    kept: list[Grant] = []
    allocations: list[Allocation] = []
    left = amount
    for grant in ordered:
        part = min(left, grant.remaining)
        if part:
            allocations.append(Allocation(grant.grant_id, part))
            left -= part
        if grant.remaining - part > 0:
            kept.append(replace(grant, remaining=grant.remaining - part))
    assert left == 0, "grants cover the balance"
    return tuple(sorted(kept, key=spending_order)), tuple(allocations)


def cut_holds(profile: Profile) -> Profile:
    """Newest holds first, shrinks holds until held <= tokens (after an expiry or a revocation)."""
    excess = held(profile) - profile.tokens
    if excess <= 0:
        return profile
    holds = list(profile.holds)
    for i in range(len(holds) - 1, -1, -1):
        cut = min(excess, holds[i].amount)
        holds[i] = replace(holds[i], amount=holds[i].amount - cut)
        excess -= cut
        if not excess:
            break
    return profile.with_(holds=tuple(holds))


HOLD_EXPIRY_SOURCE = {"settled_by": "expiry"}
HOLD_EXPIRY_FINGERPRINT = fingerprint_of(["hold-expire"])


def settle_due(profile: Profile, now: datetime) -> tuple[Profile, tuple[LedgerEntry, ...]]:
    """What time did to the profile up to `now`: expired holds released, expired grants expired (and rolled
    over), the legacy balance adopted as a grant, holds cut to fit. Returns the profile and the entries to
    write, in seq order."""
    profile = with_legacy(profile)
    entries: list[LedgerEntry] = []
    holds: list[Hold] = []
    for hold in profile.holds:
        if hold.expires_at > now:
            holds.append(hold)
            continue
        profile, entry = new_entry(
            profile,
            hold_settle_key(hold.hold_id),
            0,
            EntryType.HOLD_RELEASE,
            now,
            HOLD_EXPIRY_FINGERPRINT,
            source=dict(HOLD_EXPIRY_SOURCE),
            reason="hold expired",
            hold_id=hold.hold_id,
            hold_amount=hold.amount,
            expires_at=hold.expires_at,
        )
        entries.append(entry)
    profile = profile.with_(holds=tuple(holds))
    while True:
        # Again after rollovers: a rolled-over grant whose own period has passed too (nothing written for
        # two period ends) expires in the same transaction; it does not roll over again, so this ends.
        due = sorted(
            (g for g in profile.grants if g.expires_at is not None and g.expires_at <= now),
            key=lambda g: (g.expires_at, g.seq),
        )
        if not due:
            break
        gone = {g.grant_id for g in due}
        grants = [g for g in profile.grants if g.grant_id not in gone]
        for grant in due:
            profile, entry = new_entry(
                profile,
                expiry_key(grant.grant_id),
                -grant.remaining,
                EntryType.EXPIRY,
                now,
                fingerprint_of(["expiry", grant.grant_id]),
                reason="grant expired",
                allocations=(Allocation(grant.grant_id, grant.remaining),),
                expires_at=grant.expires_at,
            )
            entries.append(entry)
            carry = min(grant.remaining, grant.rollover_max)
            if carry > 0 and grant.expires_at is not None and grant.expires_at > grant.effective_at:
                effective = grant.expires_at
                expires = effective + (grant.expires_at - grant.effective_at)
                key = rollover_key(grant.grant_id)
                profile, entry = new_entry(
                    profile,
                    key,
                    carry,
                    EntryType.ALLOWANCE,
                    now,
                    fingerprint_of(["rollover", grant.grant_id, carry]),
                    source={"rolled_over_from": grant.grant_id},
                    reason=f"rollover of {carry} unused allowance tokens (at most {grant.rollover_max})",
                    expires_at=expires,
                )
                entries.append(entry)
                grants.append(
                    Grant(entry.entry_id, carry, carry, effective, expires, grant.priority, grant.category, entry.seq)
                )
        profile = profile.with_(grants=tuple(sorted(grants, key=spending_order)))
    return cut_holds(profile), tuple(entries)


def view(profile: Profile, now: datetime) -> Profile:
    """The profile as it stands at `now`, whatever is not yet written (what every read answers)."""
    return settle_due(profile, now)[0]


def fungible(a: Grant, b: Grant) -> bool:
    """Tokens of `a` and `b` are spent, expire and are refunded alike: same priority, expiry and category, and
    neither rolls over (a rollover is per grant) nor is the legacy balance (kept apart so it stays visible)."""
    return (
        a.rollover_max == 0
        and b.rollover_max == 0
        and LEGACY_GRANT_ID not in (a.grant_id, b.grant_id)
        and (a.priority, a.expires_at, a.category) == (b.priority, b.expires_at, b.category)
    )


def add_grant(profile: Profile, grant: Grant) -> tuple[Profile, str]:
    """Adds a new grant (remaining > 0); returns the id of the grant that holds its tokens. A grant fungible
    with an active one joins it (the grant entry's allocation names the grant joined), so a user who buys the
    same pack again and again keeps one grant, not hundreds: the user document stays small. At the cap a grant
    joins one with the same terms, or TooManyGrants is raised."""
    from profile_service.domain.errors import TooManyGrants

    for i, other in enumerate(profile.grants):
        if fungible(other, grant):
            return _join(profile, i, grant), other.grant_id
    if len(profile.grants) < MAX_ACTIVE_GRANTS:
        return profile.with_(grants=tuple(sorted((*profile.grants, grant), key=spending_order))), grant.grant_id
    terms = (grant.priority, grant.expires_at, grant.category, grant.rollover_max)
    for i, other in enumerate(profile.grants):
        if (other.priority, other.expires_at, other.category, other.rollover_max) == terms:
            return _join(profile, i, grant), other.grant_id
    raise TooManyGrants(MAX_ACTIVE_GRANTS)


def _join(profile: Profile, i: int, grant: Grant) -> Profile:
    other = profile.grants[i]
    joined = replace(other, amount=other.amount + grant.amount, remaining=other.remaining + grant.remaining)
    return profile.with_(grants=(*profile.grants[:i], joined, *profile.grants[i + 1 :]))


def holder_of(entry: LedgerEntry) -> str:
    """The grant that holds a grant entry's tokens: the grant it created (its own entry id) or, when it joined
    an active grant, the one its allocation names. What a refund of that purchase takes from first."""
    if entry.amount > 0 and len(entry.allocations) == 1:
        return entry.allocations[0].grant_id
    return entry.entry_id
