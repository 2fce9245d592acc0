"""Refunds: partial or full, updating the charge and emitting charge.refunded + refund.created."""

from __future__ import annotations

import copy
from typing import Any

from . import objects
from .errors import StripeError, invalid
from .form import to_int
from .ids import new_id
from .listing import where_equal
from .runtime import SYSTEM, RequestInfo, Standin
from .values import metadata

REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def _money(amount: int, currency: str) -> str:
    return f"{amount / 100:.2f} {currency.upper()}"


def create_refund(sd: Standin, params: dict[str, Any], request: RequestInfo) -> tuple[dict[str, Any], list[str]]:
    store = sd.store
    charge_id, pi_id = params.get("charge"), params.get("payment_intent")
    if not charge_id and not pi_id:
        raise invalid("charge", "One of `charge` or `payment_intent` is required.", code="parameter_missing")
    if pi_id:
        pi = store.get("payment_intents", pi_id, param="payment_intent", status=400)
        if charge_id and charge_id != pi["latest_charge"]:
            raise invalid("charge", f"Charge {charge_id} does not belong to PaymentIntent {pi_id}.")
        charge_id = pi["latest_charge"]
        if not charge_id:
            raise invalid(
                "payment_intent", f"This PaymentIntent ({pi_id}) does not have a successful charge to refund."
            )
    charge = store.get("charges", charge_id, param="charge", status=400)
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining <= 0:
        raise StripeError(
            400, f"Charge {charge_id} has already been refunded.", code="charge_already_refunded", param="charge"
        )
    amount = to_int(params["amount"], "amount") if "amount" in params else remaining
    if amount < 1:
        raise invalid("amount", "This value must be greater than or equal to 1.")
    if amount > remaining:
        raise StripeError(
            400,
            f"Refund amount ({_money(amount, charge['currency'])}) is greater than unrefunded amount on charge "
            f"({_money(remaining, charge['currency'])})",
            code="amount_too_large",
            param="amount",
        )
    reason = params.get("reason")
    if reason is not None and reason not in REFUND_REASONS:
        raise invalid("reason", f"Invalid reason: must be one of {', '.join(REFUND_REASONS)}")

    refund = objects.refund(
        new_id("re_"), store.now(), amount=amount, ch=charge, reason=reason, metadata=metadata(params.get("metadata"))
    )
    store.refunds[refund["id"]] = refund
    previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
    charge["refunds"]["data"].insert(0, copy.deepcopy(refund))
    events = [
        sd.emit("charge.refunded", charge, request, previous),
        sd.emit("refund.created", refund, request),
    ]
    return refund, events


def list_refunds(sd: Standin, params: dict[str, Any]) -> list[dict[str, Any]]:
    items = list(sd.store.refunds.values())
    items = where_equal(items, params, ("charge", "payment_intent"))
    return items


REFUND_FAILURE_REASONS = (
    "lost_or_stolen_card",
    "expired_or_canceled_card",
    "charge_for_pending_refund_disputed",
    "unknown",
)


def fail_refund(sd: Standin, refund_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """What the card network does days later: the refund bounces and the money stays with the merchant.
    Stripe sends charge.refund.updated, refund.updated and refund.failed; the charge counts it no longer."""
    store = sd.store
    refund = store.get("refunds", refund_id)
    if refund["status"] not in ("succeeded", "pending"):
        raise invalid(None, f"Refund {refund_id} is {refund['status']} and cannot fail.")
    reason = str(body.get("failure_reason") or "expired_or_canceled_card")
    if reason not in REFUND_FAILURE_REASONS:
        raise invalid("failure_reason", f"failure_reason must be one of {', '.join(REFUND_FAILURE_REASONS)}")
    previous = {"status": refund["status"]}
    refund.update(status="failed", failure_reason=reason, failure_balance_transaction=new_id("txn_"))
    charge = store.charges.get(refund["charge"])
    if charge is not None:
        charge["amount_refunded"] -= refund["amount"]
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        charge["refunds"]["data"] = [
            copy.deepcopy(refund) if r["id"] == refund_id else r for r in charge["refunds"]["data"]
        ]
    events = [
        sd.emit("charge.refund.updated", refund, SYSTEM, previous),
        sd.emit("refund.updated", refund, SYSTEM, previous),
        sd.emit("refund.failed", refund, SYSTEM),
    ]
    return refund, events
