"""The Stripe adapter: the calls billing makes, through one StripeClient (async methods, timeouts, network
retries), returning the typed records of stripe_records.py. Errors are the SDK's own; stripe_errors.py
maps them to gRPC in one table."""

from __future__ import annotations

from typing import Any

import stripe
from stripe.params import CustomerCreateParams, RefundListParams, SubscriptionListParams
from stripe.params.checkout import SessionCreateParams

from billing_service.domain.catalogue import PriceMode
from billing_service.settings import BillingSettings
from billing_service.stripe_records import (
    ChargeRecord,
    CheckoutSessionRecord,
    CheckoutSessionRequest,
    CustomerRecord,
    PaymentIntentRecord,
    PriceRecord,
    RefundRecord,
    SubscriptionRecord,
    charge_record,
    checkout_session_record,
    customer_record,
    payment_intent_record,
    price_record,
    refund_record,
    subscription_record,
)

MAX_PAGES = 50  # 100 items a page: far beyond any checkout or refund list billing sees


def _dict(obj: Any) -> dict[str, Any]:
    """Stripe objects are not dicts in stripe-python 16."""
    if obj is None:
        return {}
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict()
    return dict(obj)


def build_stripe_client(settings: BillingSettings) -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.stripe_secret_key,
        base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else None,
        max_network_retries=settings.stripe_max_network_retries,
        http_client=stripe.HTTPXClient(timeout=settings.stripe_timeout_s),
    )


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
    async def create_customer(self, uid: str, email: str, idempotency_key: str) -> CustomerRecord:
        params: CustomerCreateParams = {"metadata": {"uid": uid}}
        if email:
            params["email"] = email
        return customer_record(
            _dict(await self._v1.customers.create_async(params, {"idempotency_key": idempotency_key}))
        )

    async def retrieve_customer(self, customer_id: str) -> CustomerRecord:
        return customer_record(_dict(await self._v1.customers.retrieve_async(customer_id)))

    # prices
    async def retrieve_price(self, price_id: str) -> PriceRecord:
        return price_record(_dict(await self._v1.prices.retrieve_async(price_id)))

    # checkout sessions
    async def create_checkout_session(
        self, request: CheckoutSessionRequest, idempotency_key: str
    ) -> CheckoutSessionRecord:
        owner_metadata = {"uid": request.uid, "price_id": request.price_id}
        params: SessionCreateParams = {
            "mode": "payment" if request.mode is PriceMode.PAYMENT else "subscription",
            "customer": request.customer_id,
            "client_reference_id": request.uid,
            "metadata": owner_metadata,
            "line_items": [{"price": request.price_id, "quantity": request.quantity}],
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
        }
        if request.mode is PriceMode.PAYMENT:
            params["payment_intent_data"] = {"metadata": owner_metadata}
        else:
            params["subscription_data"] = {"metadata": owner_metadata}
        session = await self._v1.checkout.sessions.create_async(params, {"idempotency_key": idempotency_key})
        return checkout_session_record(_dict(session))

    async def retrieve_checkout_session(self, session_id: str) -> CheckoutSessionRecord:
        """The session as Stripe has it now, with every line item (expanded, paged if need be)."""
        session = _dict(await self._v1.checkout.sessions.retrieve_async(session_id, {"expand": ["line_items"]}))
        line_items = session.get("line_items")
        if not isinstance(line_items, dict) or "data" not in line_items:
            return checkout_session_record(session)
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
        return checkout_session_record(session, items)

    async def find_checkout_session_id(self, payment_intent_id: str) -> str | None:
        page = _dict(await self._v1.checkout.sessions.list_async({"payment_intent": payment_intent_id, "limit": 1}))
        data = page.get("data") or []
        return str(data[0]["id"]) if data else None

    # payment intents, subscriptions, charges, refunds
    async def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntentRecord:
        return payment_intent_record(_dict(await self._v1.payment_intents.retrieve_async(payment_intent_id)))

    async def retrieve_subscription(self, subscription_id: str) -> SubscriptionRecord:
        return subscription_record(_dict(await self._v1.subscriptions.retrieve_async(subscription_id)))

    async def list_subscriptions(self, customer_id: str) -> list[SubscriptionRecord]:
        """Every subscription of the customer, canceled ones included (status `all`), newest first."""
        found: list[SubscriptionRecord] = []
        params: SubscriptionListParams = {"customer": customer_id, "status": "all", "limit": 100}
        for _ in range(MAX_PAGES):
            page = _dict(await self._v1.subscriptions.list_async(params))
            data = page.get("data") or []
            found.extend(subscription_record(s) for s in data)
            if not page.get("has_more") or not data:
                break
            params = {"customer": customer_id, "status": "all", "limit": 100, "starting_after": data[-1]["id"]}
        return found

    async def retrieve_charge(self, charge_id: str) -> ChargeRecord:
        return charge_record(_dict(await self._v1.charges.retrieve_async(charge_id)))

    async def list_refunds(self, charge_id: str) -> list[RefundRecord]:
        """Every refund of the charge, newest first (Stripe's order)."""
        refunds: list[RefundRecord] = []
        params: RefundListParams = {"charge": charge_id, "limit": 100}
        for _ in range(MAX_PAGES):
            page = _dict(await self._v1.refunds.list_async(params))
            data = page.get("data") or []
            refunds.extend(refund_record(r) for r in data)
            if not page.get("has_more") or not data:
                break
            params = {"charge": charge_id, "limit": 100, "starting_after": data[-1]["id"]}
        return refunds
