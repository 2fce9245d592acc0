"""Protobuf replies -> the gateway's JSON models."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.errors import ApiError
from gateway.schemas import (
    TOKEN_TYPES,
    CheckoutSessionStatus,
    FulfillmentStatus,
    Price,
    PriceMode,
    TokenTransaction,
    UserProfileData,
)
from service_kit.timestamps import field_datetime
from tokens.billing.v1 import billing_service_pb2 as billing_pb
from tokens.profile.v1 import profile_service_pb2 as profile_pb

_PRICE_MODES: dict[billing_pb.PriceMode.ValueType, PriceMode] = {
    billing_pb.PRICE_MODE_PAYMENT: "payment",
    billing_pb.PRICE_MODE_SUBSCRIPTION: "subscription",
}
PRICE_MODE_TO_PB = {v: k for k, v in _PRICE_MODES.items()}
_FULFILLMENT: dict[int, FulfillmentStatus] = {
    billing_pb.FULFILLMENT_STATUS_FULFILLED: "fulfilled",
    billing_pb.FULFILLMENT_STATUS_PENDING: "pending",
    billing_pb.FULFILLMENT_STATUS_FAILED: "failed",
    billing_pb.FULFILLMENT_STATUS_SUBSCRIPTION: "subscription",
}


def _text(value: str) -> str | None:
    return value or None


def profile(p: profile_pb.UserProfile) -> UserProfileData:
    return UserProfileData(
        uid=p.uid,
        email=p.email,
        created_at=field_datetime(p, "created_at"),
        last_login=field_datetime(p, "last_login"),
        stripe_customer_id=_text(p.stripe_customer_id),
        has_access=p.has_access,
        one_time_purchase=p.one_time_purchase,
        tokens=p.tokens,
        purchase_date=field_datetime(p, "purchase_date"),
        product_id=_text(p.product_id),
        price_id=_text(p.price_id),
        subscription_status=_text(p.subscription_status),
        current_period_end=field_datetime(p, "current_period_end"),
        display_name=_text(p.display_name),
        available_tokens=p.available_tokens,
        held_tokens=p.held_tokens,
        debt=p.debt,
        next_expiry_amount=p.next_expiry_amount,
        next_expiry_time=field_datetime(p, "next_expiry_time"),
    )


def token_type(value: int) -> str:
    entry_type = profile_pb.TokenEntryType.ValueType(value)
    name = profile_pb.TokenEntryType.Name(entry_type) if value in profile_pb.TokenEntryType.values() else ""
    kind = name.removeprefix("TOKEN_ENTRY_TYPE_").lower()
    return kind if kind in TOKEN_TYPES else "unspecified"


def transaction(e: profile_pb.TokenTransaction) -> TokenTransaction:
    return TokenTransaction(
        amount=e.amount,
        type=token_type(e.type),
        timestamp=field_datetime(e, "timestamp") or datetime.fromtimestamp(0, UTC),
        balance_after=e.balance_after,
        entry_id=e.entry_id,
        reason=_text(e.reason),
        source=dict(e.source),
    )


def price(p: billing_pb.Price) -> Price | None:
    mode = _PRICE_MODES.get(p.mode)
    if mode is None:
        return None  # a catalogue entry the browser cannot buy
    return Price(
        price_id=p.price_id,
        mode=mode,
        tokens_per_unit=p.tokens_per_unit,
        display_name=p.display_name,
        product_id=p.product_id,
        unit_amount=p.unit_amount,
        currency=p.currency,
    )


def fulfillment(session_id: str, r: billing_pb.FulfillCheckoutSessionResponse) -> CheckoutSessionStatus:
    status = _FULFILLMENT.get(r.status)
    if status is None:
        raise ApiError(502, "UNKNOWN", "billing answered an unknown fulfilment status", "BAD_DOWNSTREAM_REPLY")
    return CheckoutSessionStatus(
        id=session_id,
        status=status,
        payment_status=r.payment_status,
        tokens_granted=r.tokens_granted,
        balance=r.balance,
    )
