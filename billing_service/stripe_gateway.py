"""The Stripe adapter: the calls billing makes, through one StripeClient (async methods, timeouts, network
retries), returning the typed records of stripe_records.py. Errors are the SDK's own; stripe_errors.py
maps them to gRPC in one table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import stripe
from stripe.params import (
    CustomerCreateParams,
    DisputeListParams,
    EventListParams,
    InvoiceListParams,
    RefundListParams,
    SubscriptionListParams,
)
from stripe.params.billing_portal import SessionCreateParams as PortalSessionCreateParams
from stripe.params.checkout import SessionCreateParams, SessionListParams

from billing_service.domain.catalogue import PriceMode
from billing_service.observability import BillingMetrics, ObservedHTTPXClient
from billing_service.settings import BillingSettings
from billing_service.stripe_records import (
    ChargeRecord,
    CheckoutSessionRecord,
    CheckoutSessionRequest,
    CustomerRecord,
    DisputeRecord,
    EventRecord,
    InvoiceRecord,
    PaymentIntentRecord,
    PortalSessionRecord,
    PriceRecord,
    RefundRecord,
    SubscriptionRecord,
    charge_record,
    checkout_session_record,
    customer_record,
    dispute_record,
    event_record,
    invoice_record,
    payment_intent_record,
    portal_session_record,
    price_record,
    refund_record,
    subscription_record,
)

MAX_PAGES = 50  # 100 items a page: far beyond any checkout or refund list billing sees
# Reconciliation lists a time window: past this many pages it fails loudly rather than skip the rest.
MAX_WINDOW_PAGES = 1000


class ListingTooLong(RuntimeError):
    """A listing did not end within MAX_WINDOW_PAGES pages; nothing after them was seen."""


def _dict(obj: Any) -> dict[str, Any]:
    """Stripe objects are not dicts in stripe-python 16."""
    if obj is None:
        return {}
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict()
    return dict(obj)


def build_stripe_client(settings: BillingSettings, metrics: BillingMetrics | None = None) -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.stripe_secret_key,
        base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else None,
        max_network_retries=settings.stripe_max_network_retries,
        # The SDK's httpx client, with a span and the billing_stripe_* metrics per call.
        http_client=ObservedHTTPXClient(metrics, timeout=settings.stripe_timeout_s),
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

    # time windows (reconciliation): every object created at or after `created_gte`, newest first
    async def _list_window(
        self, list_async: Callable[[Any], Awaitable[Any]], params: dict[str, Any], what: str
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for _ in range(MAX_WINDOW_PAGES):
            page = _dict(await list_async({**params, **({"starting_after": found[-1]["id"]} if found else {})}))
            data = page.get("data") or []
            found.extend(data)
            if not page.get("has_more") or not data:
                return found
        raise ListingTooLong(f"more than {len(found)} {what} in the window; reconcile a shorter window")

    async def list_complete_checkout_sessions(self, created_gte: int) -> list[CheckoutSessionRecord]:
        """Complete Checkout Sessions created since then, without line items (retrieve to fulfil)."""
        params: SessionListParams = {"status": "complete", "created": {"gte": created_gte}, "limit": 100}
        sessions = await self._list_window(self._v1.checkout.sessions.list_async, dict(params), "checkout sessions")
        return [checkout_session_record(s) for s in sessions]

    async def list_refunds_since(self, created_gte: int) -> list[RefundRecord]:
        params: RefundListParams = {"created": {"gte": created_gte}, "limit": 100}
        return [refund_record(r) for r in await self._list_window(self._v1.refunds.list_async, dict(params), "refunds")]

    async def list_disputes_since(self, created_gte: int) -> list[DisputeRecord]:
        params: DisputeListParams = {"created": {"gte": created_gte}, "limit": 100}
        disputes = await self._list_window(self._v1.disputes.list_async, dict(params), "disputes")
        return [dispute_record(d) for d in disputes]

    async def list_paid_invoices_since(self, created_gte: int) -> list[InvoiceRecord]:
        """Paid invoices created since then, without their lines (retrieve to grant)."""
        params: InvoiceListParams = {"status": "paid", "created": {"gte": created_gte}, "limit": 100}
        invoices = await self._list_window(self._v1.invoices.list_async, dict(params), "invoices")
        return [invoice_record(i) for i in invoices]

    async def list_events_since(self, type_pattern: str, created_gte: int) -> list[EventRecord]:
        """Events of a type (`*` as a wildcard, e.g. customer.subscription.*); the API keeps 30 days."""
        params: EventListParams = {"type": type_pattern, "created": {"gte": created_gte}, "limit": 100}
        return [event_record(e) for e in await self._list_window(self._v1.events.list_async, dict(params), "events")]

    # billing portal
    async def create_billing_portal_session(self, customer_id: str, return_url: str) -> PortalSessionRecord:
        # No idempotency key of ours: a retried request makes a second short-lived portal link, which is
        # harmless (the SDK's network retries carry their own key).
        params: PortalSessionCreateParams = {"customer": customer_id, "return_url": return_url}
        return portal_session_record(_dict(await self._v1.billing_portal.sessions.create_async(params)))

    # invoices
    async def retrieve_invoice(self, invoice_id: str) -> InvoiceRecord:
        """The invoice as Stripe has it now, with every line (paged past the first page if need be)."""
        invoice = _dict(await self._v1.invoices.retrieve_async(invoice_id))
        listed = invoice.get("lines") or {}
        lines = list(listed.get("data") or [])
        if listed.get("has_more") and lines:
            for _ in range(MAX_PAGES):
                page = _dict(
                    await self._v1.invoices.line_items.list_async(
                        invoice_id, {"limit": 100, "starting_after": lines[-1]["id"]}
                    )
                )
                lines.extend(page.get("data") or [])
                if not page.get("has_more") or not page.get("data"):
                    break
        return invoice_record(invoice, lines)

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

    async def retrieve_refund(self, refund_id: str) -> RefundRecord:
        return refund_record(_dict(await self._v1.refunds.retrieve_async(refund_id)))

    async def retrieve_dispute(self, dispute_id: str) -> DisputeRecord:
        return dispute_record(_dict(await self._v1.disputes.retrieve_async(dispute_id)))

    async def list_disputes(self, charge_id: str) -> list[DisputeRecord]:
        """Every dispute of the charge (Stripe allows one; listed so nothing is assumed)."""
        disputes: list[DisputeRecord] = []
        params: DisputeListParams = {"charge": charge_id, "limit": 100}
        for _ in range(MAX_PAGES):
            page = _dict(await self._v1.disputes.list_async(params))
            data = page.get("data") or []
            disputes.extend(dispute_record(d) for d in data)
            if not page.get("has_more") or not data:
                break
            params = {"charge": charge_id, "limit": 100, "starting_after": data[-1]["id"]}
        return disputes

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
