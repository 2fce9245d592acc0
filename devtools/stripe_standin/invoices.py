"""Subscription invoices: the first one when a subscription checkout completes, one per renewal (what
Stripe's billing engine does at each period end, driven here by POST /_standin/subscriptions/{id}/renew),
and listing with Stripe's filters. A paid invoice sends `invoice.paid`."""

from __future__ import annotations

from typing import Any

from . import objects
from .errors import invalid
from .ids import new_id
from .listing import where_equal
from .runtime import SYSTEM, RequestInfo, Standin
from .subscriptions import cancel_subscription

RENEWABLE_STATUSES = ("active", "trialing", "past_due")


def _number(sd: Standin, customer: dict[str, Any]) -> str:
    count = sum(1 for i in sd.store.invoices.values() if i["customer"] == customer["id"])
    return f"{customer['invoice_prefix']}-{count + 1:04d}"


def _line_description(sd: Standin, item: dict[str, Any]) -> str:
    product = sd.store.products.get(item["price"]["product"]) or {}
    return f"{item['quantity']} × {product.get('name') or item['price']['product']}"


def open_invoice(
    sd: Standin, sub: dict[str, Any], billing_reason: str, usage: tuple[int, int], *, free: bool = False
) -> dict[str, Any]:
    """A finalized, unpaid invoice for the subscription's current period (its lines bill for it);
    `usage` is the invoice's own period_start/period_end; `free`: it totals 0."""
    store = sd.store
    invoice_id = new_id("in_")
    lines = [
        objects.invoice_line(
            invoice_id,
            item=item,
            subscription_id=sub["id"],
            period_start=item["current_period_start"],
            period_end=item["current_period_end"],
            description=_line_description(sd, item),
            free=free,
        )
        for item in sub["items"]["data"]
    ]
    customer = store.get("customers", sub["customer"])
    inv = objects.invoice(
        invoice_id,
        store.now(),
        number=_number(sd, customer),
        customer=customer,
        sub=sub,
        lines=lines,
        billing_reason=billing_reason,
        period_start=usage[0],
        period_end=usage[1],
    )
    store.invoices[invoice_id] = inv
    sub["latest_invoice"] = invoice_id
    return inv


def pay_invoice(sd: Standin, inv: dict[str, Any], request: RequestInfo = SYSTEM) -> str:
    """Marks the invoice paid and sends invoice.paid; returns the event id."""
    now = sd.store.now()
    inv.update(
        status="paid",
        amount_paid=inv["amount_due"],
        amount_remaining=0,
        attempted=True,
        attempt_count=max(1, inv["attempt_count"]),
        auto_advance=False,
        next_payment_attempt=None,
    )
    inv["status_transitions"]["paid_at"] = now
    return sd.emit("invoice.paid", inv, request)


def void_invoice(sd: Standin, inv: dict[str, Any]) -> None:
    """An invoice whose payment can no longer happen (e.g. the first payment of a subscription failed)."""
    inv.update(status="void", amount_remaining=0, auto_advance=False, next_payment_attempt=None)
    inv["status_transitions"]["voided_at"] = sd.store.now()


def _charge_for(sd: Standin, inv: dict[str, Any]) -> None:
    """The renewal's payment: a succeeded PaymentIntent and its charge, as automatic collection makes."""
    store = sd.store
    now = store.now()
    pi = objects.payment_intent(
        new_id("pi_"),
        now,
        amount=inv["amount_due"],
        currency=inv["currency"],
        customer=inv["customer"],
        metadata={},
        status="succeeded",
    )
    pi["description"] = "Subscription update" if inv["billing_reason"] == "subscription_update" else "Subscription"
    ch = objects.charge(
        new_id("ch_"),
        now,
        amount=pi["amount"],
        currency=pi["currency"],
        customer=pi["customer"],
        payment_intent=pi["id"],
        payment_method=pi["payment_method"],
        metadata={},
        email=inv["customer_email"],
    )
    pi["latest_charge"] = ch["id"]
    store.payment_intents[pi["id"]] = pi
    store.charges[ch["id"]] = ch


def renew_subscription(sd: Standin, sub_id: str) -> tuple[dict[str, Any], dict[str, Any] | None, list[str]]:
    """The period end: the subscription moves to its next period and its invoice is paid at once
    (customer.subscription.updated, invoice.paid). One set to cancel at the period end is canceled
    instead (customer.subscription.deleted, no invoice).

    The next period starts at the current period's end, or now if that is earlier: the services that read
    the invoice run on real time (a renewal a month ahead would start in their future), so renewing before
    the period end ends the current period now, as resetting the billing cycle anchor to now does at
    Stripe. After /_standin/clock/advance past the end, periods stay back to back."""
    sub = sd.store.get("subscriptions", sub_id)
    if sub["status"] not in RENEWABLE_STATUSES:
        raise invalid(
            None,
            f"Subscription {sub_id} is {sub['status']}; only {', '.join(RENEWABLE_STATUSES)} subscriptions renew.",
        )
    if sub["cancel_at_period_end"]:
        sub, event_id = cancel_subscription(sd, sub_id, {}, SYSTEM)
        return sub, None, [event_id]
    previous = {
        "current_period_start": sub["current_period_start"],
        "current_period_end": sub["current_period_end"],
        "latest_invoice": sub["latest_invoice"],
    }
    start = min(sub["current_period_end"], sd.store.now())
    for item in sub["items"]["data"]:
        rec = item["price"]["recurring"]
        item["current_period_start"] = start
        item["current_period_end"] = objects.add_interval(start, rec["interval"], rec["interval_count"])
    sub["current_period_start"] = start
    sub["current_period_end"] = sub["items"]["data"][0]["current_period_end"]
    if sub["status"] != "active":  # a trial ends, or a past-due subscription is paid: active again
        previous["status"] = sub["status"]
        sub["status"] = "active"
    inv = open_invoice(sd, sub, "subscription_cycle", (previous["current_period_start"], start))
    _charge_for(sd, inv)
    events = [sd.emit("customer.subscription.updated", sub, SYSTEM, previous), pay_invoice(sd, inv)]
    return sub, inv, events


def list_invoices(sd: Standin, params: dict[str, Any]) -> list[dict[str, Any]]:
    items = list(sd.store.invoices.values())
    items = where_equal(items, params, ("customer", "status", "collection_method"))
    if "subscription" in params:
        items = [i for i in items if _subscription_of(i) == params["subscription"]]
    if "due_date" in params or "customer_account" in params:
        # Every stand-in invoice is charged automatically: no due date, no customer account.
        items = []
    return items


def _subscription_of(inv: dict[str, Any]) -> str | None:
    details = (inv.get("parent") or {}).get("subscription_details") or {}
    return details.get("subscription")
