"""The Stripe calls billing makes, through one StripeClient (async methods, timeouts, network retries).
Results come back as plain dicts (`.to_dict()`): Stripe objects are not dicts in stripe-python 16.
Errors are the SDK's own; stripe_errors.py maps them."""

from __future__ import annotations

from typing import Any

import stripe

from billing_service.settings import BillingSettings

MAX_PAGES = 50  # 100 items a page: far beyond any checkout or refund list billing sees


def build_stripe_client(settings: BillingSettings) -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.stripe_secret_key,
        base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else None,
        max_network_retries=settings.stripe_max_network_retries,
        http_client=stripe.HTTPXClient(timeout=settings.stripe_timeout_s),
    )


def _dict(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict()
    return dict(obj)


class StripeGateway:
    def __init__(self, client: stripe.StripeClient, owns_client: bool = True) -> None:
        self._client = client
        self._v1 = client.v1
        self._owns_client = owns_client

    async def close(self) -> None:
        if not self._owns_client:
            return
        http_client = getattr(self._client, "_requestor", None)
        http_client = getattr(http_client, "_client", None)
        if http_client is not None and hasattr(http_client, "close_async"):
            await http_client.close_async()

    # customers
    async def create_customer(self, params: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        return _dict(await self._v1.customers.create_async(params, {"idempotency_key": idempotency_key}))

    async def retrieve_customer(self, customer_id: str) -> dict[str, Any]:
        return _dict(await self._v1.customers.retrieve_async(customer_id))

    # prices
    async def retrieve_price(self, price_id: str) -> dict[str, Any]:
        return _dict(await self._v1.prices.retrieve_async(price_id))

    # checkout sessions
    async def create_checkout_session(self, params: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        return _dict(await self._v1.checkout.sessions.create_async(params, {"idempotency_key": idempotency_key}))

    async def retrieve_checkout_session(self, session_id: str) -> dict[str, Any]:
        """The session as Stripe has it now, with every line item (expanded, paged if need be)."""
        session = _dict(await self._v1.checkout.sessions.retrieve_async(session_id, {"expand": ["line_items"]}))
        line_items = session.get("line_items") or {}
        items = list(line_items.get("data") or [])
        if line_items.get("has_more") and items:
            for _ in range(MAX_PAGES):
                page = _dict(
                    await self._v1.checkout.sessions.line_items.list_async(
                        session_id, {"limit": 100, "starting_after": items[-1]["id"]}
                    )
                )
                items.extend(page.get("data") or [])
                if not page.get("has_more") or not page.get("data"):
                    break
        session["line_items"] = {"object": "list", "data": items, "has_more": False}
        return session

    async def find_checkout_session_id(self, payment_intent_id: str) -> str | None:
        page = _dict(await self._v1.checkout.sessions.list_async({"payment_intent": payment_intent_id, "limit": 1}))
        data = page.get("data") or []
        return data[0]["id"] if data else None

    # payment intents, subscriptions, charges, refunds
    async def retrieve_payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        return _dict(await self._v1.payment_intents.retrieve_async(payment_intent_id))

    async def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        return _dict(await self._v1.subscriptions.retrieve_async(subscription_id))

    async def retrieve_charge(self, charge_id: str) -> dict[str, Any]:
        return _dict(await self._v1.charges.retrieve_async(charge_id))

    async def list_refunds(self, charge_id: str) -> list[dict[str, Any]]:
        refunds: list[dict[str, Any]] = []
        params: dict[str, Any] = {"charge": charge_id, "limit": 100}
        for _ in range(MAX_PAGES):
            page = _dict(await self._v1.refunds.list_async(params))
            data = page.get("data") or []
            refunds.extend(data)
            if not page.get("has_more") or not data:
                break
            params = {"charge": charge_id, "limit": 100, "starting_after": data[-1]["id"]}
        return refunds
