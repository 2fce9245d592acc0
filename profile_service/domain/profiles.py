"""Profile rules other than the ledger: creation, user edits, the Stripe customer link, entitlements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from profile_service.domain import ledger
from profile_service.domain.errors import InvalidArgument, ProfileNotFound, ReadOnlyField
from profile_service.domain.keys import SIGNUP_BONUS_KEY
from profile_service.domain.ledger import Writes
from profile_service.domain.model import EntryType, LedgerEntry, Profile
from tokens import contract_rules as limits

# Fields UpdateProfile may change (the proto's `editable` option); every other field is owned by billing or
# the ledger.
USER_EDITABLE = limits.PROFILE_EDITABLE_BY_SERVICE
READ_ONLY = limits.PROFILE_FIELDS - USER_EDITABLE


@dataclass(frozen=True)
class SignupBonus:
    """SIGNUP_BONUS_TOKENS / SIGNUP_BONUS_TTL_DAYS: a promotional grant made once, when the profile is created."""

    tokens: int
    ttl: timedelta | None  # None = never expires

    def change(self, uid: str, now: datetime) -> ledger.LedgerChange:
        return ledger.LedgerChange(
            kind=ledger.ChangeKind.GRANT,
            uid=uid,
            amount=self.tokens,
            type=EntryType.PROMOTIONAL,
            idempotency_key=SIGNUP_BONUS_KEY,
            source={"granted_by": "signup bonus"},
            reason="signup bonus",
            terms=ledger.GrantTerms(expires_at=now + self.ttl if self.ttl else None),
        )


def create_profile(
    existing: Profile | None,
    uid: str,
    email: str,
    now: datetime,
    bonus: SignupBonus | None = None,
    prior_bonus: LedgerEntry | None = None,
) -> Writes[tuple[Profile, bool]]:
    """A new profile; with a signup bonus, its grant in the same transaction (once per uid: not again when a
    ledger under this uid already holds one)."""
    if existing is not None:
        return Writes(None, None, (existing, False))
    profile = Profile(uid=uid, email=email, created_at=now, last_login=now)
    if bonus is None or prior_bonus is not None:
        return Writes(profile, None, (profile, True))
    granted = ledger.apply_change(profile, None, bonus.change(uid, now), now)
    assert granted.profile is not None
    return Writes(granted.profile, granted.entry, (granted.profile, True))


def check_update_paths(paths: list[str]) -> list[str]:
    if not paths:
        raise InvalidArgument("update_mask", "must name at least one field")
    for path in paths:
        if path in READ_ONLY:
            raise ReadOnlyField(path)
        if path not in USER_EDITABLE:
            raise InvalidArgument("update_mask", f"unknown field {path[:64]!r}", reason="UNKNOWN_FIELD")
    return sorted(set(paths))


def update_profile(existing: Profile | None, uid: str, changes: dict[str, object]) -> Writes[Profile]:
    if existing is None:
        raise ProfileNotFound(uid)
    updated = existing.with_(**changes)
    return Writes(updated, None, updated)


@dataclass(frozen=True)
class LinkResult:
    customer_id: str
    linked: bool


def link_customer(existing: Profile | None, uid: str, customer_id: str, replaces: str = "") -> Writes[LinkResult]:
    """Sets the link when unset. With `replaces`, swaps it only while the stored id is still `replaces`
    (compare-and-set): of racing replacements of one missing customer, the first wins and the others get
    its id back. Otherwise the stored id is answered unchanged."""
    if existing is None:
        raise ProfileNotFound(uid)
    if replaces and existing.stripe_customer_id == replaces and customer_id != replaces:
        return Writes(existing.with_(stripe_customer_id=customer_id), None, LinkResult(customer_id, True))
    if existing.stripe_customer_id:
        return Writes(None, None, LinkResult(existing.stripe_customer_id, existing.stripe_customer_id == customer_id))
    return Writes(existing.with_(stripe_customer_id=customer_id), None, LinkResult(customer_id, True))


def set_entitlements(
    existing: Profile | None,
    uid: str,
    has_access: bool,
    status: str,
    period_end: datetime | None,
    event_time: datetime,
) -> Writes[tuple[Profile, bool]]:
    if existing is None:
        raise ProfileNotFound(uid)
    if existing.entitlements_as_of is not None and event_time < existing.entitlements_as_of:
        return Writes(None, None, (existing, False))
    updated = existing.with_(
        has_access=has_access, subscription_status=status, current_period_end=period_end, entitlements_as_of=event_time
    )
    return Writes(updated, None, (updated, True))
