"""What billing reads from Stripe, as small typed records, and how each is read from the API's JSON (the
functions at the end). The Stripe adapter (stripe_gateway.py) returns them, so nothing else handles
Stripe's dicts. Only the fields billing uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from billing_service.domain.allowance import InvoiceLine
from billing_service.domain.catalogue import PriceMode
from billing_service.domain.entitlements import SubscriptionState
from billing_service.domain.purchase import LineItem
from billing_service.domain.refunds import RefundLine


@dataclass(frozen=True)
class CustomerRecord:
    id: str
    email: str = ""
    uid: str = ""  # metadata.uid


@dataclass(frozen=True)
class PriceRecord:
    id: str
    unit_amount: int
    currency: str


@dataclass(frozen=True)
class CheckoutSessionRecord:
    id: str
    url: str
    mode: str
    status: str
    payment_status: str
    client_reference_id: str = ""
    metadata_uid: str = ""
    customer_id: str = ""
    payment_intent_id: str = ""
    subscription_id: str = ""
    created: int = 0
    # Every line item when retrieved for fulfilment; None when Stripe did not include them.
    line_items: tuple[LineItem, ...] | None = None


@dataclass(frozen=True)
class PaymentIntentRecord:
    id: str
    status: str


@dataclass(frozen=True)
class SubscriptionRecord:
    id: str
    status: str
    customer_id: str
    metadata_uid: str = ""
    current_period_end: int | None = None
    created: int = 0

    def state(self) -> SubscriptionState:
        return SubscriptionState(self.status, self.current_period_end, self.created)


@dataclass(frozen=True)
class InvoiceRecord:
    id: str
    status: str
    customer_id: str = ""
    # The subscription that generated it; "" for invoices outside subscriptions.
    subscription_id: str = ""
    billing_reason: str = ""
    created: int = 0
    # Every line when retrieved to grant; None when the listing did not include them all.
    lines: tuple[InvoiceLine, ...] | None = None


@dataclass(frozen=True)
class RefundRecord:
    id: str
    amount: int
    status: str
    created: int
    charge_id: str = ""

    def line(self) -> RefundLine:
        return RefundLine(self.id, self.amount, self.status, self.created)


@dataclass(frozen=True)
class ChargeRecord:
    id: str
    amount: int
    currency: str
    payment_intent_id: str = ""
    # The charge's refunds, newest first, when the charge listed all of them; None: list them separately.
    refunds: tuple[RefundRecord, ...] | None = None


@dataclass(frozen=True)
class DisputeRecord:
    id: str
    charge_id: str
    amount: int
    currency: str
    status: str
    reason: str
    created: int
    payment_intent_id: str = ""


@dataclass(frozen=True)
class EventRecord:
    """An event as listed by the Events API: what changed, not what to believe (state is re-read)."""

    id: str
    type: str
    created: int
    object_id: str
    customer_id: str = ""  # the object's customer, when it has one
    charge_id: str = ""  # the object's charge, when it is a refund or a dispute that names it


@dataclass(frozen=True)
class PortalSessionRecord:
    id: str
    url: str


@dataclass(frozen=True)
class CheckoutSessionRequest:
    """What billing asks Checkout for. The uid goes in client_reference_id and every metadata, so any
    object Stripe derives from the session names its user."""

    mode: PriceMode
    customer_id: str
    uid: str
    price_id: str
    quantity: int
    success_url: str
    cancel_url: str


# --- reading Stripe's objects ---------------------------------------------------------------------


def _id_of(value: Any) -> str:
    """A Stripe reference that may be an id string or an expanded object."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def _str(obj: dict[str, Any], key: str) -> str:
    return str(obj.get(key) or "")


def _int(obj: dict[str, Any], key: str) -> int:
    return int(obj.get(key) or 0)


def _metadata_uid(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


def customer_record(obj: dict[str, Any]) -> CustomerRecord:
    return CustomerRecord(_str(obj, "id"), _str(obj, "email"), _metadata_uid(obj))


def price_record(obj: dict[str, Any]) -> PriceRecord:
    return PriceRecord(_str(obj, "id"), _int(obj, "unit_amount"), _str(obj, "currency"))


def portal_session_record(obj: dict[str, Any]) -> PortalSessionRecord:
    return PortalSessionRecord(_str(obj, "id"), _str(obj, "url"))


def payment_intent_record(obj: dict[str, Any]) -> PaymentIntentRecord:
    return PaymentIntentRecord(_str(obj, "id"), _str(obj, "status"))


def line_item(obj: dict[str, Any]) -> LineItem:
    price = obj.get("price") or {}
    product = price.get("product") if isinstance(price, dict) else None
    return LineItem(_id_of(price), _int(obj, "quantity"), _id_of(product))


def checkout_session_record(obj: dict[str, Any], items: list[dict[str, Any]] | None = None) -> CheckoutSessionRecord:
    return CheckoutSessionRecord(
        id=_str(obj, "id"),
        url=_str(obj, "url"),
        mode=_str(obj, "mode"),
        status=_str(obj, "status"),
        payment_status=_str(obj, "payment_status"),
        client_reference_id=_str(obj, "client_reference_id"),
        metadata_uid=_metadata_uid(obj),
        customer_id=_id_of(obj.get("customer")),
        payment_intent_id=_id_of(obj.get("payment_intent")),
        subscription_id=_id_of(obj.get("subscription")),
        created=_int(obj, "created"),
        line_items=None if items is None else tuple(line_item(i) for i in items),
    )


def subscription_record(obj: dict[str, Any]) -> SubscriptionRecord:
    items = (obj.get("items") or {}).get("data") or []
    # Since API 2025-03-31 the period lives on the items; older versions had it on the subscription.
    period_end = (items[0].get("current_period_end") if items else None) or obj.get("current_period_end")
    return SubscriptionRecord(
        id=_str(obj, "id"),
        status=_str(obj, "status"),
        customer_id=_id_of(obj.get("customer")),
        metadata_uid=_metadata_uid(obj),
        current_period_end=int(period_end) if period_end else None,
        created=_int(obj, "created"),
    )


def _invoice_subscription(obj: dict[str, Any]) -> str:
    # Since API 2025-03-31 the subscription is the invoice's parent; older versions had it at the top.
    details = (obj.get("parent") or {}).get("subscription_details") or {}
    return _id_of(details.get("subscription")) or _id_of(obj.get("subscription"))


def invoice_line(obj: dict[str, Any]) -> InvoiceLine:
    # Since API 2025-03-31 the price is under pricing.price_details and the proration flag under parent;
    # older versions had `price` and `proration` on the line itself.
    price = ((obj.get("pricing") or {}).get("price_details") or {}).get("price") or obj.get("price")
    parent = obj.get("parent") or {}
    details = parent.get("subscription_item_details") or parent.get("invoice_item_details") or {}
    period = obj.get("period") or {}
    return InvoiceLine(
        price_id=_id_of(price),
        quantity=_int(obj, "quantity"),
        period_start=_int(period, "start"),
        period_end=_int(period, "end"),
        proration=bool(details.get("proration", obj.get("proration", False))),
    )


def invoice_record(obj: dict[str, Any], lines: list[dict[str, Any]] | None = None) -> InvoiceRecord:
    return InvoiceRecord(
        id=_str(obj, "id"),
        status=_str(obj, "status"),
        customer_id=_id_of(obj.get("customer")),
        subscription_id=_invoice_subscription(obj),
        billing_reason=_str(obj, "billing_reason"),
        created=_int(obj, "created"),
        lines=None if lines is None else tuple(invoice_line(line) for line in lines),
    )


def refund_record(obj: dict[str, Any]) -> RefundRecord:
    # A refund without a status predates the field: it went through.
    return RefundRecord(
        _str(obj, "id"),
        _int(obj, "amount"),
        str(obj.get("status", "succeeded")),
        _int(obj, "created"),
        _id_of(obj.get("charge")),
    )


def dispute_record(obj: dict[str, Any]) -> DisputeRecord:
    return DisputeRecord(
        id=_str(obj, "id"),
        charge_id=_id_of(obj.get("charge")),
        amount=_int(obj, "amount"),
        currency=_str(obj, "currency"),
        status=_str(obj, "status"),
        reason=_str(obj, "reason"),
        created=_int(obj, "created"),
        payment_intent_id=_id_of(obj.get("payment_intent")),
    )


def event_record(obj: dict[str, Any]) -> EventRecord:
    data_object = (obj.get("data") or {}).get("object") or {}
    return EventRecord(
        id=_str(obj, "id"),
        type=_str(obj, "type"),
        created=_int(obj, "created"),
        object_id=_id_of(data_object),
        customer_id=_id_of(data_object.get("customer")) if isinstance(data_object, dict) else "",
        charge_id=_id_of(data_object.get("charge")) if isinstance(data_object, dict) else "",
    )


def charge_record(obj: dict[str, Any]) -> ChargeRecord:
    listed = obj.get("refunds")
    refunds = None
    if isinstance(listed, dict) and isinstance(listed.get("data"), list) and not listed.get("has_more"):
        refunds = tuple(refund_record(r) for r in listed["data"])
    return ChargeRecord(
        id=_str(obj, "id"),
        amount=_int(obj, "amount"),
        currency=_str(obj, "currency"),
        payment_intent_id=_id_of(obj.get("payment_intent")),
        refunds=refunds,
    )
