"""Which caller may call which BillingService method: only the gateway (least privilege)."""

from __future__ import annotations

_SERVICE = "/tokens.billing.v1.BillingService/"

PERMISSIONS: dict[str, frozenset[str]] = {
    _SERVICE + name: frozenset({"gateway"})
    for name in (
        "ListPrices",
        "CreateCheckoutSession",
        "FulfillCheckoutSession",
        "HandleStripeWebhook",
        "CreateBillingPortalSession",
    )
}
