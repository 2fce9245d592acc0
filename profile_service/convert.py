"""Domain records <-> protobuf messages, and the opaque history page token."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime

from google.protobuf import timestamp_pb2

from profile_service.domain import validation
from profile_service.domain.errors import InvalidArgument
from profile_service.domain.model import EntryType, LedgerEntry, Profile
from service_kit import timestamps
from tokens.profile.v1 import profile_service_pb2 as pb

ENTRY_TYPE_TO_PB = {
    EntryType.PURCHASE: pb.TOKEN_ENTRY_TYPE_PURCHASE,
    EntryType.PROMOTIONAL: pb.TOKEN_ENTRY_TYPE_PROMOTIONAL,
    EntryType.REFUND_REVERSAL: pb.TOKEN_ENTRY_TYPE_REFUND_REVERSAL,
    EntryType.ADJUSTMENT: pb.TOKEN_ENTRY_TYPE_ADJUSTMENT,
    EntryType.SPEND: pb.TOKEN_ENTRY_TYPE_SPEND,
    EntryType.REFUND: pb.TOKEN_ENTRY_TYPE_REFUND,
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


def profile_to_pb(p: Profile) -> pb.UserProfile:
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
