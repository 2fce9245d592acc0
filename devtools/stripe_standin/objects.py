"""Builders for Stripe objects.

Each starts from a deep copy of Stripe's own example object (stripe_fixtures.json, a verbatim
subset of Stripe's OpenAPI fixtures) so the key set matches the real API, then overwrites ids
and values. Example values that are placeholders in the fixtures (huge random amounts,
"message" texts, obj_123 references) are reset to what a fresh test-mode object carries.
"""

from __future__ import annotations

import calendar
import copy
import datetime as dt
import json
from functools import cache
from pathlib import Path
from typing import Any

from stripe._api_version import _ApiVersion

from .ids import new_id

API_VERSION = _ApiVersion.CURRENT
_NULL_ADDRESS = {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None}


@cache
def _fixtures() -> dict[str, Any]:
    return json.loads((Path(__file__).with_name("stripe_fixtures.json")).read_text())["resources"]


def fixture(name: str) -> dict[str, Any]:
    return copy.deepcopy(_fixtures()[name])


def list_object(data: list[dict[str, Any]], url: str, has_more: bool = False) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def add_interval(ts: int, interval: str, count: int = 1) -> int:
    """Calendar-correct period end (Jan 31 + 1 month = Feb 28/29), like Stripe's billing anchors."""
    start = dt.datetime.fromtimestamp(ts, dt.UTC)
    if interval == "day":
        end = start + dt.timedelta(days=count)
    elif interval == "week":
        end = start + dt.timedelta(weeks=count)
    else:
        months = count * (12 if interval == "year" else 1)
        month0 = start.month - 1 + months
        year, month = start.year + month0 // 12, month0 % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        end = start.replace(year=year, month=month, day=day)
    return int(end.timestamp())


def product(product_id: str, name: str, created: int) -> dict[str, Any]:
    obj = fixture("product")
    obj.update(
        id=product_id,
        name=name,
        created=created,
        updated=created,
        description=None,
        default_price=None,
        package_dimensions=None,
        type="service",
        metadata={},
    )
    return obj


def price(seed: Any, created: int) -> dict[str, Any]:
    """From a config.PriceSeed."""
    obj = fixture("price")
    obj.update(
        id=seed.id,
        active=seed.active,
        created=created,
        currency=seed.currency,
        product=seed.product,
        type=seed.type,
        unit_amount=seed.unit_amount,
        unit_amount_decimal=str(seed.unit_amount),
        nickname=seed.nickname,
        lookup_key=seed.lookup_key,
        metadata=dict(seed.metadata),
        transform_quantity=None,
        custom_unit_amount=None,
    )
    if seed.recurring is None:
        obj["recurring"] = None
    else:
        obj["recurring"].update(
            interval=seed.recurring.interval,
            interval_count=seed.recurring.interval_count,
            usage_type="licensed",
            meter=None,
            trial_period_days=None,
        )
    return obj


def plan_from_price(p: dict[str, Any]) -> dict[str, Any]:
    """The legacy `plan` view of a recurring price, still present on subscription items."""
    obj = fixture("plan")
    rec = p.get("recurring") or {}
    obj.update(
        id=p["id"],
        active=p["active"],
        amount=p["unit_amount"],
        amount_decimal=p["unit_amount_decimal"],
        billing_scheme=p["billing_scheme"],
        created=p["created"],
        currency=p["currency"],
        interval=rec.get("interval"),
        interval_count=rec.get("interval_count", 1),
        metadata=dict(p["metadata"]),
        nickname=p["nickname"],
        product=p["product"],
        transform_usage=None,
        usage_type=rec.get("usage_type", "licensed"),
    )
    return obj


def customer(customer_id: str, created: int, fields: dict[str, Any]) -> dict[str, Any]:
    obj = fixture("customer")
    obj.update(
        id=customer_id,
        created=created,
        currency=None,
        discount=None,
        invoice_prefix=customer_id[4:12].upper(),
        shipping=None,
        address=None,
        metadata={},
    )
    obj["invoice_settings"]["rendering_options"] = None
    obj.update(fields)
    return obj


def checkout_session(
    session_id: str,
    created: int,
    *,
    mode: str,
    currency: str,
    amount: int,
    url: str,
    expires_at: int,
    fields: dict[str, Any],
) -> dict[str, Any]:
    obj = fixture("checkout.session")
    obj.update(
        id=session_id,
        created=created,
        mode=mode,
        currency=currency,
        amount_subtotal=amount,
        amount_total=amount,
        url=url,
        expires_at=expires_at,
        status="open",
        payment_status="unpaid",
        payment_intent=None,
        subscription=None,
        invoice=None,
        customer=None,
        customer_details=None,
        collected_information=None,
        after_expiration=None,
        adaptive_pricing={"enabled": False},
        automatic_tax={"enabled": False, "liability": None, "provider": None, "status": None},
        consent=None,
        consent_collection=None,
        currency_conversion=None,
        custom_text={
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        discounts=[],
        invoice_creation=None,
        managed_payments=None,
        payment_method_collection="always" if mode == "subscription" else None,
        payment_method_configuration_details=None,
        permissions=None,
        saved_payment_method_options=None,
        shipping_address_collection=None,
        shipping_cost=None,
        total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        ui_mode="hosted",
        wallet_options=None,
        metadata={},
    )
    if mode == "payment":
        obj["invoice_creation"] = {
            "enabled": False,
            "invoice_data": {
                "account_tax_ids": None,
                "custom_fields": None,
                "description": None,
                "footer": None,
                "issuer": None,
                "metadata": {},
                "rendering_options": None,
            },
        }
    obj.update(fields)
    return obj


def customer_details(email: str | None, name: str | None) -> dict[str, Any]:
    return {
        "address": dict(_NULL_ADDRESS),
        "business_name": None,
        "email": email,
        "individual_name": None,
        "name": name,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }


def line_item(p: dict[str, Any], quantity: int, description: str, metadata: dict[str, str] | None) -> dict[str, Any]:
    obj = fixture("item")
    amount = p["unit_amount"] * quantity
    obj.update(
        id=new_id("li_"),
        amount_discount=0,
        amount_subtotal=amount,
        amount_tax=0,
        amount_total=amount,
        currency=p["currency"],
        description=description,
        price=copy.deepcopy(p),
        quantity=quantity,
        metadata=metadata or {},
        adjustable_quantity=None,
    )
    return obj


def payment_intent(
    pi_id: str, created: int, *, amount: int, currency: str, customer: str | None, metadata: dict[str, str], status: str
) -> dict[str, Any]:
    obj = fixture("payment_intent")
    obj.update(
        id=pi_id,
        created=created,
        amount=amount,
        amount_capturable=0,
        amount_details={"tip": {}},
        amount_received=amount if status == "succeeded" else 0,
        automatic_payment_methods=None,
        canceled_at=None,
        client_secret=f"{pi_id}_secret_{new_id('')[:25]}",
        currency=currency,
        customer=customer,
        description=None,
        last_payment_error=None,
        latest_charge=None,
        managed_payments=None,
        metadata=dict(metadata),
        next_action=None,
        payment_method=new_id("pm_"),
        payment_method_configuration_details=None,
        processing=None,
        shipping=None,
        status=status,
        transfer_data=None,
    )
    return obj


def charge(
    charge_id: str,
    created: int,
    *,
    amount: int,
    currency: str,
    customer: str | None,
    payment_intent: str | None,
    payment_method: str | None,
    metadata: dict[str, str],
    email: str | None,
) -> dict[str, Any]:
    obj = fixture("charge")
    obj.update(
        id=charge_id,
        created=created,
        amount=amount,
        amount_captured=amount,
        amount_refunded=0,
        balance_transaction=new_id("txn_"),
        captured=True,
        currency=currency,
        customer=customer,
        description=None,
        metadata=dict(metadata),
        outcome={
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        paid=True,
        payment_intent=payment_intent,
        payment_method=payment_method,
        receipt_email=None,
        receipt_url=None,
        refunded=False,
        refunds=list_object([], f"/v1/charges/{charge_id}/refunds"),
        shipping=None,
        source=None,
        status="succeeded",
        transfer_data=None,
    )
    obj["billing_details"].update(address=dict(_NULL_ADDRESS), email=email, name=None)
    card = obj["payment_method_details"]["card"]
    card.update(amount_authorized=amount, wallet=None)
    card["overcapture"]["maximum_amount_capturable"] = amount
    return obj


def refund(
    refund_id: str,
    created: int,
    *,
    amount: int,
    ch: dict[str, Any],
    reason: str | None,
    metadata: dict[str, str],
) -> dict[str, Any]:
    obj = fixture("refund")
    obj.update(
        id=refund_id,
        created=created,
        amount=amount,
        balance_transaction=new_id("txn_"),
        charge=ch["id"],
        currency=ch["currency"],
        customer=ch["customer"],
        metadata=dict(metadata),
        payment_intent=ch["payment_intent"],
        payment_method=ch["payment_method"],
        reason=reason,
        status="succeeded",
    )
    return obj


def subscription(
    sub_id: str,
    created: int,
    *,
    customer: str,
    prices: list[tuple[dict[str, Any], int]],
    metadata: dict[str, str],
    status: str,
    description: str | None = None,
) -> dict[str, Any]:
    obj = fixture("subscription")
    first = prices[0][0]
    rec = first["recurring"]
    period_end = add_interval(created, rec["interval"], rec["interval_count"])
    items = []
    for p, quantity in prices:
        item = fixture("subscription_item")
        item.update(
            id=new_id("si_"),
            created=created,
            metadata={},
            price=copy.deepcopy(p),
            plan=plan_from_price(p),
            quantity=quantity,
            subscription=sub_id,
            current_period_start=created,
            current_period_end=period_end,
            billing_thresholds=None,
        )
        items.append(item)
    obj.update(
        id=sub_id,
        created=created,
        start_date=created,
        billing_cycle_anchor=created,
        billing_cycle_anchor_config=None,
        billing_mode={"type": "classic", "flexible": None},
        billing_schedules=[],
        billing_thresholds=None,
        cancel_at=None,
        cancel_at_period_end=False,
        canceled_at=None,
        ended_at=None,
        currency=first["currency"],
        customer=customer,
        description=description,
        items=list_object(items, f"/v1/subscription_items?subscription={sub_id}"),
        latest_invoice=None,
        managed_payments=None,
        metadata=dict(metadata),
        next_pending_invoice_item_invoice=None,
        pause_collection=None,
        payment_settings={
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        pending_invoice_item_interval=None,
        pending_update=None,
        status=status,
        transfer_data=None,
        trial_end=None,
        trial_start=None,
        # Stripe moved the period to items (API 2025-03+); keep the top-level pair for older readers.
        current_period_start=created,
        current_period_end=period_end,
    )
    return obj


def invoice_line(
    invoice_id: str,
    *,
    item: dict[str, Any],
    subscription_id: str,
    period_start: int,
    period_end: int,
    description: str,
    free: bool = False,
) -> dict[str, Any]:
    """A subscription item's line on an invoice (API 2025-03+: price under `pricing`, item under `parent`);
    `free`: nothing to pay for it (Checkout's no_payment_required)."""
    obj = fixture("line_item")
    p = item["price"]
    amount = 0 if free else p["unit_amount"] * item["quantity"]
    obj.update(
        id=new_id("il_"),
        amount=amount,
        currency=p["currency"],
        description=description,
        discount_amounts=[],
        discountable=True,
        discounts=[],
        invoice=invoice_id,
        livemode=False,
        metadata={},
        period={"end": period_end, "start": period_start},
        quantity=item["quantity"],
        quantity_decimal=str(item["quantity"]),
        subscription=subscription_id,
        pretax_credit_amounts=[],
        taxes=[],
        parent={
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription_id,
                "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        },
        pricing={
            "price_details": {"price": p["id"], "product": p["product"]},
            "type": "price_details",
            "unit_amount_decimal": p["unit_amount_decimal"],
        },
        subtotal=amount,
    )
    return obj


def invoice(
    invoice_id: str,
    created: int,
    *,
    number: str,
    customer: dict[str, Any],
    sub: dict[str, Any],
    lines: list[dict[str, Any]],
    billing_reason: str,
    period_start: int,
    period_end: int,
) -> dict[str, Any]:
    """A finalized subscription invoice, still open (invoices.pay_invoice marks it paid). Its own
    period_start/period_end are Stripe's "usage" period (for a renewal, the period that ended); the
    lines carry the service period billed for."""
    obj = fixture("invoice")
    total = sum(line["amount"] for line in lines)
    obj.pop("subscription", None)  # API 2025-03+: the subscription is the invoice's parent
    obj.update(
        id=invoice_id,
        created=created,
        account_name=None,
        amount_due=total,
        amount_overpaid=0,
        amount_paid=0,
        amount_remaining=total,
        attempt_count=0,
        attempted=False,
        auto_advance=True,
        automatic_tax={"enabled": False, "liability": None, "status": None, "disabled_reason": None, "provider": None},
        billing_reason=billing_reason,
        currency=sub["currency"],
        customer=customer["id"],
        customer_address=None,
        customer_email=customer.get("email"),
        customer_name=customer.get("name"),
        customer_shipping=None,
        due_date=None,
        effective_at=created,
        ending_balance=0,
        from_invoice=None,
        last_finalization_error=None,
        lines=list_object(lines, f"/v1/invoices/{invoice_id}/lines"),
        livemode=False,
        metadata={},
        next_payment_attempt=None,
        number=number,
        payment_settings={"default_mandate": None, "payment_method_options": None, "payment_method_types": None},
        period_end=period_end,
        period_start=period_start,
        rendering=None,
        shipping_cost=None,
        shipping_details=None,
        status="open",
        status_transitions={
            "finalized_at": created,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        subtotal=total,
        subtotal_excluding_tax=total,
        total=total,
        total_excluding_tax=total,
        total_pretax_credit_amounts=[],
        total_taxes=[],
        webhooks_delivered_at=created,
        parent={
            "quote_details": None,
            "subscription_details": {"metadata": dict(sub["metadata"]), "subscription": sub["id"]},
            "type": "subscription_details",
        },
        customer_account=None,
    )
    return obj


def event(
    event_id: str,
    created: int,
    *,
    type: str,
    data_object: dict[str, Any],
    previous_attributes: dict[str, Any] | None,
    request_id: str | None,
    idempotency_key: str | None,
    pending_webhooks: int,
) -> dict[str, Any]:
    obj = fixture("event")
    data: dict[str, Any] = {"object": copy.deepcopy(data_object)}
    if previous_attributes:
        data["previous_attributes"] = copy.deepcopy(previous_attributes)
    obj.update(
        id=event_id,
        api_version=API_VERSION,
        created=created,
        data=data,
        livemode=False,
        pending_webhooks=pending_webhooks,
        request={"id": request_id, "idempotency_key": idempotency_key},
        type=type,
    )
    return obj


def dispute(dispute_id: str, created: int, *, ch: dict[str, Any], amount: int, reason: str) -> dict[str, Any]:
    obj = fixture("dispute")
    obj.update(
        id=dispute_id,
        created=created,
        amount=amount,
        balance_transactions=[],
        charge=ch["id"],
        currency=ch["currency"],
        evidence_details={**obj["evidence_details"], "due_by": created + 7 * 86400},
        is_charge_refundable=False,
        livemode=False,
        metadata={},
        payment_intent=ch["payment_intent"],
        reason=reason,
        status="needs_response",
    )
    return obj


def dispute_balance_transaction(dispute_obj: dict[str, Any], created: int, amount: int, kind: str) -> dict[str, Any]:
    """The balance transaction a dispute carries when funds move (negative: withdrawn)."""
    return {
        "id": new_id("txn_"),
        "object": "balance_transaction",
        "amount": amount,
        "created": created,
        "currency": dispute_obj["currency"],
        "description": f"Chargeback {kind} for {dispute_obj['charge']}",
        "fee": 1500 if amount < 0 else -1500,
        "net": amount - 1500 if amount < 0 else amount + 1500,
        "reporting_category": "dispute" if amount < 0 else "dispute_reversal",
        "source": dispute_obj["id"],
        "status": "available",
        "type": "adjustment",
    }


def portal_session(
    session_id: str, created: int, *, customer: str, return_url: str | None, url: str, configuration: str
) -> dict[str, Any]:
    obj = fixture("billing_portal.session")
    obj.update(
        id=session_id,
        created=created,
        customer=customer,
        return_url=return_url,
        url=url,
        configuration=configuration,
        flow=None,
        livemode=False,
        locale=None,
        on_behalf_of=None,
    )
    return obj
