"""Domain records <-> protobuf messages, and the opaque history page token."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

from google.protobuf import timestamp_pb2

from profile_service.domain import grants, validation
from profile_service.domain.errors import InvalidArgument
from profile_service.domain.holds import Overage
from profile_service.domain.ledger import GrantTerms
from profile_service.domain.model import EntryType, GrantCategory, LedgerEntry, Profile
from service_kit import timestamps
from tokens import contract_rules as limits
from tokens.profile.v1 import profile_service_pb2 as pb

ENTRY_TYPE_TO_PB = {
    EntryType.PURCHASE: pb.TOKEN_ENTRY_TYPE_PURCHASE,
    EntryType.PROMOTIONAL: pb.TOKEN_ENTRY_TYPE_PROMOTIONAL,
    EntryType.REFUND_REVERSAL: pb.TOKEN_ENTRY_TYPE_REFUND_REVERSAL,
    EntryType.ADJUSTMENT: pb.TOKEN_ENTRY_TYPE_ADJUSTMENT,
    EntryType.SPEND: pb.TOKEN_ENTRY_TYPE_SPEND,
    EntryType.REFUND: pb.TOKEN_ENTRY_TYPE_REFUND,
    EntryType.EXPIRY: pb.TOKEN_ENTRY_TYPE_EXPIRY,
    EntryType.ALLOWANCE: pb.TOKEN_ENTRY_TYPE_ALLOWANCE,
    EntryType.HOLD: pb.TOKEN_ENTRY_TYPE_HOLD,
    EntryType.HOLD_RELEASE: pb.TOKEN_ENTRY_TYPE_HOLD_RELEASE,
}
PB_TO_ENTRY_TYPE = {v: k for k, v in ENTRY_TYPE_TO_PB.items()}


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    return None if value is None else timestamps.to_timestamp(value)


def to_datetime(ts: timestamp_pb2.Timestamp, field: str) -> datetime:
    """The request's timestamp, or INVALID_ARGUMENT naming the field when it is out of range."""
    try:
        return timestamps.to_datetime(ts)
    except (ValueError, OverflowError) as exc:
        raise InvalidArgument(field, "is not a valid timestamp") from exc


CATEGORY_FROM_PB = {
    pb.GRANT_CATEGORY_PAID: GrantCategory.PAID,
    pb.GRANT_CATEGORY_PROMOTIONAL: GrantCategory.PROMOTIONAL,
    pb.GRANT_CATEGORY_ALLOWANCE: GrantCategory.ALLOWANCE,
}
# effective_at may be this far ahead of the service's clock (clock skew); later is refused.
EFFECTIVE_AT_SKEW = timedelta(minutes=5)


def grant_terms(request: pb.GrantTokensRequest, now: datetime) -> GrantTerms | None:
    """GrantTokens' expiry, priority, category, effective time and rollover; None when none is set."""
    expires_at = to_datetime(request.expires_at, "expires_at") if request.HasField("expires_at") else None
    effective_at = to_datetime(request.effective_at, "effective_at") if request.HasField("effective_at") else None
    priority = (
        validation.between(request.priority, 0, limits.GRANT_PRIORITY_MAX, "priority")
        if request.HasField("priority")
        else None
    )
    category = None
    if request.category != pb.GRANT_CATEGORY_UNSPECIFIED:
        category = CATEGORY_FROM_PB.get(request.category)
        if category is None:
            raise InvalidArgument("category", "is not a GrantCategory")
    if effective_at is not None and effective_at > now + EFFECTIVE_AT_SKEW:
        raise InvalidArgument("effective_at", "must not be in the future")
    if expires_at is not None and effective_at is not None and expires_at <= effective_at:
        raise InvalidArgument("expires_at", "must be after effective_at")
    rollover_max = validation.between(request.rollover_max, 0, limits.MAX_TOKEN_AMOUNT, "rollover_max")
    if rollover_max and (expires_at is None or effective_at is None):
        raise InvalidArgument("rollover_max", "needs expires_at and effective_at (the period that rolls over)")
    if (expires_at, effective_at, priority, category, rollover_max) == (None, None, None, None, 0):
        return None
    return GrantTerms(expires_at, priority, category, effective_at, rollover_max)


def hold_ttl(request: pb.ReserveTokensRequest) -> timedelta:
    if not request.HasField("ttl"):
        raise InvalidArgument("ttl", "is required")
    # Checked as integers first: a Duration's seconds can exceed what timedelta accepts.
    seconds, nanos = request.ttl.seconds, request.ttl.nanos
    if not -999_999_999 <= nanos <= 999_999_999 or (seconds and nanos and (seconds < 0) != (nanos < 0)):
        raise InvalidArgument("ttl", "is not a valid Duration")
    total_nanos = seconds * 1_000_000_000 + nanos
    if not 0 < total_nanos <= limits.HOLD_TTL_MAX_S * 1_000_000_000:
        raise InvalidArgument("ttl", f"must be more than 0 and at most {limits.HOLD_TTL_MAX_S // 3600}h")
    return timedelta(microseconds=total_nanos // 1000) or timedelta(microseconds=1)


def hold_id(value: str) -> str:
    if not value:
        raise InvalidArgument("hold_id", "is required")
    if len(value) > 64 or not all(ch in "0123456789abcdef" for ch in value):
        raise InvalidArgument("hold_id", "is not a hold_id returned by ReserveTokens")
    return value


def overage(value: int) -> Overage:
    if value in (pb.OVERAGE_UNSPECIFIED, pb.OVERAGE_REJECT):
        return Overage.REJECT
    if value == pb.OVERAGE_CAP:
        return Overage.CAP
    raise InvalidArgument("overage", "must be OVERAGE_REJECT or OVERAGE_CAP")


def profile_to_pb(stored: Profile, now: datetime | None = None) -> pb.UserProfile:
    """The profile as it stands at `now` (default: the wall clock): expired grants and holds are gone from
    tokens and held_tokens even before their entries are written (domain/grants.py)."""
    p = grants.view(stored, now or datetime.now(UTC))
    expiry = grants.next_expiry(p)
    held = grants.held(p)
    return pb.UserProfile(
        uid=p.uid,
        email=p.email,
        created_at=timestamp(p.created_at),
        last_login=timestamp(p.last_login),
        stripe_customer_id=p.stripe_customer_id,
        has_access=p.has_access,
        one_time_purchase=p.one_time_purchase,
        tokens=p.tokens,
        purchase_date=timestamp(p.purchase_date),
        product_id=p.product_id,
        price_id=p.price_id,
        subscription_status=p.subscription_status,
        current_period_end=timestamp(p.current_period_end),
        display_name=p.display_name,
        debt=p.debt,
        available_tokens=p.tokens - held,
        held_tokens=held,
        next_expiry_amount=expiry.amount,
        next_expiry_time=timestamp(expiry.at),
    )


def entry_to_pb(e: LedgerEntry) -> pb.TokenTransaction:
    return pb.TokenTransaction(
        entry_id=e.entry_id,
        amount=e.amount,
        type=ENTRY_TYPE_TO_PB[e.type],
        timestamp=timestamp(e.timestamp),
        balance_after=e.balance_after,
        idempotency_key=e.idempotency_key,
        source=e.source,
        reason=e.reason,
        shortfall=e.shortfall,
        debt_settled=e.debt_settled,
        debt_added=e.debt_added,
        allocations=[pb.GrantAllocation(grant_id=a.grant_id, amount=a.amount) for a in e.allocations],
        expires_at=timestamp(e.expires_at),
        hold_id=e.hold_id,
        hold_amount=e.hold_amount,
    )


def _uid_tag(uid: str) -> str:
    return hashlib.sha256(uid.encode()).hexdigest()[:12]


def encode_page_token(uid: str, before_seq: int) -> str:
    raw = json.dumps({"v": 1, "u": _uid_tag(uid), "s": before_seq}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(uid: str, token: str) -> int | None:
    """The seq to continue before, or None for the first page. A token from elsewhere is refused."""
    if not token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data.get("v") != 1 or data.get("u") != _uid_tag(uid):
            raise ValueError
        seq = data["s"]
        # Bounded like every stored seq: a crafted 2**64 would otherwise overflow the store's integer.
        if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= validation.MAX_SEQ:
            raise ValueError
        return seq
    except (ValueError, TypeError, KeyError, UnicodeDecodeError, AttributeError) as exc:
        raise InvalidArgument("page_token", "is not a token returned by ListTokenHistory for this uid") from exc
