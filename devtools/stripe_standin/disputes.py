"""Disputes (chargebacks): opened on a charge by the control route, with its funds withdrawn at once, then
closed as won (funds reinstated) or lost, emitting the charge.dispute.* events Stripe sends."""

from __future__ import annotations

from typing import Any

from . import objects
from .errors import StripeError, invalid
from .form import to_int
from .ids import new_id
from .listing import where_equal
from .runtime import SYSTEM, Standin

DISPUTE_REASONS = (
    "bank_cannot_process",
    "check_returned",
    "credit_not_processed",
    "customer_initiated",
    "debit_not_authorized",
    "duplicate",
    "fraudulent",
    "general",
    "incorrect_account_details",
    "insufficient_funds",
    "product_not_received",
    "product_unacceptable",
    "subscription_canceled",
    "unrecognized",
)
OPEN_STATUSES = ("warning_needs_response", "warning_under_review", "needs_response", "under_review")
CLOSE_STATUSES = ("won", "lost")


def open_dispute(sd: Standin, charge_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    store = sd.store
    charge = store.get("charges", charge_id)
    if charge["disputed"]:
        raise StripeError(400, f"Charge {charge_id} is already disputed.", code="charge_disputed", param="charge")
    amount = to_int(body["amount"], "amount") if body.get("amount") is not None else charge["amount"]
    if not 1 <= amount <= charge["amount"]:
        raise invalid("amount", f"amount must be between 1 and the charge amount ({charge['amount']})")
    reason = str(body.get("reason") or "fraudulent")
    if reason not in DISPUTE_REASONS:
        raise invalid("reason", f"reason must be one of {', '.join(DISPUTE_REASONS)}")
    now = store.now()
    dispute = objects.dispute(new_id("dp_"), now, ch=charge, amount=amount, reason=reason)
    store.disputes[dispute["id"]] = dispute
    charge["disputed"] = True
    events = [sd.emit("charge.dispute.created", dispute, SYSTEM)]
    dispute["balance_transactions"].append(objects.dispute_balance_transaction(dispute, now, -amount, "withdrawal"))
    events.append(sd.emit("charge.dispute.funds_withdrawn", dispute, SYSTEM))
    return dispute, events


def close_dispute(sd: Standin, dispute_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    dispute = sd.store.get("disputes", dispute_id)
    status = body.get("status")
    if status not in CLOSE_STATUSES:
        raise invalid("status", 'status must be "won" or "lost"')
    if dispute["status"] not in OPEN_STATUSES:
        raise invalid(None, f"Dispute {dispute_id} is already closed ({dispute['status']}).")
    previous = {"status": dispute["status"]}
    dispute["status"] = status
    events = []
    if status == "won":
        now = sd.store.now()
        dispute["balance_transactions"].append(
            objects.dispute_balance_transaction(dispute, now, dispute["amount"], "reversal")
        )
        events.append(sd.emit("charge.dispute.funds_reinstated", dispute, SYSTEM))
    events.append(sd.emit("charge.dispute.closed", dispute, SYSTEM, previous))
    return dispute, events


def list_disputes(sd: Standin, params: dict[str, Any]) -> list[dict[str, Any]]:
    items = list(sd.store.disputes.values())
    items = where_equal(items, params, ("charge", "payment_intent"))
    return items
