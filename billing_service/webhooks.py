"""Stripe webhooks: verify the signature on the raw bytes, then dispatch on the event type.

| Event                                     | Action (reported in HandleStripeWebhookResponse.action) |
| ----------------------------------------- | -------------------------------------------------------- |
| checkout.session.completed                | fulfil: grant the paid session's tokens once (fulfilled / pending / failed / subscription_checkout) |
| checkout.session.async_payment_succeeded  | fulfil, as above |
| checkout.session.async_payment_failed     | logged, nothing granted (payment_failed) |
| invoice.paid                              | re-read the invoice; a paid subscription invoice grants its period's allowance once, keyed invoice:{id}, effective at the line's period start and expiring at its end (allowance / allowance_none / ignored when not a subscription invoice or no price carries an allowance) |
| customer.subscription.* (any)             | list the customer's subscriptions at Stripe; SetEntitlements from all of them, stamped with billing's read time (entitlements / entitlements_stale) |
| charge.refunded                           | claw back what that payment's ledger entry granted, in proportion, one entry per refund, netted against the charge's disputes (refund / refund_nothing_granted / ignored) |
| charge.refund.updated, refund.updated, refund.failed | re-read the refund's charge; a refund that failed or was canceled gives back exactly what it took, once (refund_reversed / refund) |
| charge.dispute.created, charge.dispute.funds_withdrawn, charge.dispute.updated | re-read the dispute; while it holds the funds, take the purchase's tokens that refunds did not take, once per dispute (dispute / dispute_nothing_granted / ignored for inquiries) |
| charge.dispute.funds_reinstated           | give back exactly what the dispute took, once (dispute_reinstated) |
| charge.dispute.closed                     | won: give back what it took (dispute_reinstated); lost: taken, or taken now if no earlier event was handled (dispute) |
| anything else                             | acknowledged (ignored) |

Refund and dispute events all recompute the whole charge (use_cases/refunds.py, domain/clawback.py), so
their order, redelivery and concurrency do not matter.

The signature must be valid and dated within webhook_tolerance_s of now, in either direction.
Returning normally means the effect is recorded; any exception becomes a non-OK status and the gateway
answers non-2xx, so Stripe redelivers.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import stripe

from billing_service.billing import Billing
from billing_service.domain.errors import InvalidWebhook
from billing_service.domain.outcomes import WebhookAction
from billing_service.observability import BillingMetrics

log = logging.getLogger("billing.webhook")

FULFILMENT_EVENTS = frozenset({"checkout.session.completed", "checkout.session.async_payment_succeeded"})
SUBSCRIPTION_EVENT_PREFIX = "customer.subscription."
INVOICE_PAID_EVENT = "invoice.paid"
REFUND_CHANGE_EVENTS = frozenset({"charge.refund.updated", "refund.updated", "refund.failed"})
DISPUTE_EVENT_PREFIX = "charge.dispute."


@dataclass(frozen=True)
class WebhookResult:
    event_id: str
    event_type: str
    action: str


@dataclass(frozen=True)
class VerifiedEvent:
    id: str
    type: str
    created: int
    object_id: str


def _signed_at(signature_header: str) -> int | None:
    for item in signature_header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def verify_event(
    payload: bytes, signature_header: str, secret: str, tolerance_s: int, now: float | None = None
) -> VerifiedEvent:
    """The event, if the signature over the raw bytes is valid and its timestamp within the tolerance of
    now in either direction (the SDK refuses only old ones); InvalidWebhook otherwise."""
    try:
        event = stripe.Webhook.construct_event(payload, signature_header, secret, tolerance=tolerance_s)
    except stripe.SignatureVerificationError as exc:
        raise InvalidWebhook(f"signature_header: {exc.user_message}", "INVALID_SIGNATURE") from exc
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        # Undecodable bytes, JSON that is not a Stripe event, a thin event.
        raise InvalidWebhook(f"payload: not a Stripe event ({type(exc).__name__})", "MALFORMED_PAYLOAD") from exc
    signed_at = _signed_at(signature_header)
    if signed_at is None or signed_at > (time.time() if now is None else now) + tolerance_s:
        # A signature dated in the future would stay "recent" for as long as it likes.
        raise InvalidWebhook(
            "signature_header: timestamp outside the tolerance zone (in the future)", "INVALID_SIGNATURE"
        )
    data: dict[str, Any] = event.to_dict()
    obj = (data.get("data") or {}).get("object")
    if (
        not data.get("id")
        or not data.get("type")
        or not isinstance(obj, dict)
        or not isinstance(data.get("created"), int)
    ):
        raise InvalidWebhook("payload: event lacks id, type, created or data.object", "MALFORMED_PAYLOAD")
    return VerifiedEvent(str(data["id"]), str(data["type"]), int(data["created"]), str(obj.get("id") or ""))


class WebhookHandler:
    def __init__(self, billing: Billing, secret: str, tolerance_s: int, metrics: BillingMetrics | None = None) -> None:
        self._billing = billing
        self._secret = secret
        self._tolerance_s = tolerance_s
        self._metrics = metrics

    async def handle(self, payload: bytes, signature_header: str) -> WebhookResult:
        event_type = "unverified"
        outcome = "error:INTERNAL"
        try:
            event = verify_event(payload, signature_header, self._secret, self._tolerance_s)
            event_type = event.type
            log.info(
                "webhook",
                extra={"fields": {"event_id": event.id, "event_type": event.type, "object": event.object_id}},
            )
            action = await self._dispatch(event)
            outcome = str(action)
            return WebhookResult(event.id, event.type, action)
        except Exception as exc:
            outcome = f"error:{getattr(exc, 'reason', None) or type(exc).__name__}"
            raise
        finally:
            if self._metrics is not None:
                self._metrics.webhook(event_type, outcome)

    async def _dispatch(self, event: VerifiedEvent) -> WebhookAction:
        if event.type in FULFILMENT_EVENTS:
            return (await self._billing.fulfilment.fulfil(event.object_id)).outcome.webhook_action
        if event.type == "checkout.session.async_payment_failed":
            # Stripe's word only: nothing to grant, nothing to undo. The log line is the record.
            log.warning(
                "async payment failed; nothing granted",
                extra={"fields": {"event_id": event.id, "session_id": event.object_id}},
            )
            return WebhookAction.PAYMENT_FAILED
        if event.type == INVOICE_PAID_EVENT:
            return (await self._billing.allowances.grant_for_invoice(event.object_id)).action
        if event.type.startswith(SUBSCRIPTION_EVENT_PREFIX):
            _, applied = await self._billing.subscriptions.sync(event.object_id)
            return WebhookAction.ENTITLEMENTS if applied else WebhookAction.ENTITLEMENTS_STALE
        if event.type == "charge.refunded":
            return await self._billing.refunds.claw_back(event.object_id)
        if event.type in REFUND_CHANGE_EVENTS:
            return await self._billing.refunds.refund_changed(event.object_id)
        if event.type.startswith(DISPUTE_EVENT_PREFIX):
            reinstated = event.type == "charge.dispute.funds_reinstated"
            return await self._billing.disputes.sync(event.object_id, funds_reinstated=reinstated)
        return WebhookAction.IGNORED
