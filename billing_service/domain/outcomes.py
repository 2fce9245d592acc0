"""Outcomes billing reports: of a fulfilment (FulfillCheckoutSession's status) and of a webhook (its
action). convert.py maps FulfilmentOutcome to the proto enum, in one place."""

from __future__ import annotations

from enum import StrEnum

# A Checkout Session is fulfilled only in these payment states (Stripe's "fulfill Checkout" guidance).
PAID_STATUSES = frozenset({"paid", "no_payment_required"})
# A PaymentIntent back in these states can no longer succeed: the async payment failed.
FAILED_INTENT_STATUSES = frozenset({"requires_payment_method", "canceled"})


class FulfilmentOutcome(StrEnum):
    FULFILLED = "fulfilled"
    PENDING = "pending"
    FAILED = "failed"
    SUBSCRIPTION = "subscription"

    @property
    def webhook_action(self) -> WebhookAction:
        return _FULFILMENT_ACTIONS[self]


class WebhookAction(StrEnum):
    """What HandleStripeWebhook did, reported in its `action` field."""

    FULFILLED = "fulfilled"
    PENDING = "pending"
    FAILED = "failed"
    SUBSCRIPTION_CHECKOUT = "subscription_checkout"
    PAYMENT_FAILED = "payment_failed"
    ENTITLEMENTS = "entitlements"
    ENTITLEMENTS_STALE = "entitlements_stale"
    REFUND = "refund"
    REFUND_NOTHING_GRANTED = "refund_nothing_granted"
    REFUND_REVERSED = "refund_reversed"  # a refund failed: what it took was given back
    DISPUTE = "dispute"  # a dispute holds the funds: the purchase's tokens are taken (once)
    DISPUTE_REINSTATED = "dispute_reinstated"  # won / funds reinstated: what it took was given back
    DISPUTE_NOTHING_GRANTED = "dispute_nothing_granted"
    ALLOWANCE = "allowance"  # a paid subscription invoice: its period's allowance granted (now or before)
    ALLOWANCE_NONE = "allowance_none"  # a paid subscription invoice whose prices carry no allowance
    IGNORED = "ignored"


_FULFILMENT_ACTIONS = {
    FulfilmentOutcome.FULFILLED: WebhookAction.FULFILLED,
    FulfilmentOutcome.PENDING: WebhookAction.PENDING,
    FulfilmentOutcome.FAILED: WebhookAction.FAILED,
    FulfilmentOutcome.SUBSCRIPTION: WebhookAction.SUBSCRIPTION_CHECKOUT,
}


def subscription_session_outcome(session_status: str) -> FulfilmentOutcome:
    """A subscription checkout grants no tokens (entitlements come from subscription events)."""
    return FulfilmentOutcome.FAILED if session_status == "expired" else FulfilmentOutcome.SUBSCRIPTION


def unpaid_session_outcome(session_status: str, intent_status: str | None) -> FulfilmentOutcome:
    """An unpaid payment session: failed when expired or its payment can no longer succeed (the async
    payment failed), pending otherwise. `intent_status` is None when not known or not needed."""
    if session_status == "expired" or intent_status in FAILED_INTENT_STATUSES:
        return FulfilmentOutcome.FAILED
    return FulfilmentOutcome.PENDING


def needs_intent_status(session_status: str, payment_intent_id: str) -> bool:
    """Only a completed, unpaid session with a PaymentIntent can have had its async payment fail."""
    return session_status == "complete" and bool(payment_intent_id)
