"""Stripe webhooks: verify the signature on the raw bytes, then dispatch on the event type.

| Event                                        | Action |
| -------------------------------------------- | ------ |
| checkout.session.completed                   | fulfil (grants only if paid) |
| checkout.session.async_payment_succeeded     | fulfil |
| checkout.session.async_payment_failed        | logged, no grant |
| customer.subscription.created/updated/deleted| fetch the subscription fresh; SetEntitlements at the event's time |
| charge.refunded                              | claw back what that payment granted, one entry per refund |
| anything else                                | acknowledged and ignored |

Returning normally means the effect is recorded; any exception becomes a non-OK status and the gateway
answers non-2xx, so Stripe redelivers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import stripe

from billing_service.billing import Billing, Outcome
from billing_service.errors import InvalidWebhook

log = logging.getLogger("billing.webhook")

_FULFIL_ACTIONS = {
    Outcome.FULFILLED: "fulfilled",
    Outcome.PENDING: "pending",
    Outcome.FAILED: "failed",
    Outcome.SUBSCRIPTION: "subscription_checkout",
}
SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    }
)


@dataclass(frozen=True)
class WebhookResult:
    event_id: str
    event_type: str
    action: str


def verify_event(payload: bytes, signature_header: str, secret: str, tolerance_s: int) -> dict[str, Any]:
    """The event, if the signature over the raw bytes is valid and recent; InvalidWebhook otherwise."""
    try:
        event = stripe.Webhook.construct_event(payload, signature_header, secret, tolerance=tolerance_s)
    except stripe.SignatureVerificationError as exc:
        raise InvalidWebhook(f"signature_header: {exc.user_message}", "INVALID_SIGNATURE") from exc
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        # Undecodable bytes, JSON that is not a Stripe event, a thin event.
        raise InvalidWebhook(f"payload: not a Stripe event ({type(exc).__name__})", "MALFORMED_PAYLOAD") from exc
    data = event.to_dict()
    obj = (data.get("data") or {}).get("object")
    if (
        not data.get("id")
        or not data.get("type")
        or not isinstance(obj, dict)
        or not isinstance(data.get("created"), int)
    ):
        raise InvalidWebhook("payload: event lacks id, type, created or data.object", "MALFORMED_PAYLOAD")
    return data


class WebhookHandler:
    def __init__(self, billing: Billing, secret: str, tolerance_s: int) -> None:
        self._billing = billing
        self._secret = secret
        self._tolerance_s = tolerance_s

    async def handle(self, payload: bytes, signature_header: str) -> WebhookResult:
        event = verify_event(payload, signature_header, self._secret, self._tolerance_s)
        event_id, event_type = str(event["id"]), str(event["type"])
        obj = event["data"]["object"]
        object_id = str(obj.get("id") or "")
        log.info("webhook", extra={"fields": {"event_id": event_id, "event_type": event_type, "object": object_id}})
        action = await self._dispatch(event_type, object_id, int(event["created"]), event_id)
        return WebhookResult(event_id, event_type, action)

    async def _dispatch(self, event_type: str, object_id: str, created: int, event_id: str) -> str:
        if event_type in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
            fulfilment = await self._billing.fulfil(object_id)
            return _FULFIL_ACTIONS[fulfilment.outcome]
        if event_type == "checkout.session.async_payment_failed":
            # Stripe's word only: nothing to grant, nothing to undo. The log line is the record.
            log.warning(
                "async payment failed; nothing granted",
                extra={"fields": {"event_id": event_id, "session_id": object_id}},
            )
            return "payment_failed"
        if event_type in SUBSCRIPTION_EVENTS:
            _, applied = await self._billing.sync_subscription(object_id, created)
            return "entitlements" if applied else "entitlements_stale"
        if event_type == "charge.refunded":
            return await self._billing.claw_back_refunds(object_id)
        return "ignored"
