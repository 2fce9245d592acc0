"""BillingService over gRPC: turns requests into Billing calls and results into replies. Errors are
raised as exceptions; error_mapping.py turns them into statuses."""

from __future__ import annotations

import grpc

from billing_service.billing import Billing, Outcome
from billing_service.catalogue import PAYMENT, SUBSCRIPTION
from billing_service.errors import InvalidArgument
from billing_service.profile_client import ProfileClient
from billing_service.webhooks import WebhookHandler
from tokens.billing.v1 import billing_service_pb2 as pb
from tokens.billing.v1 import billing_service_pb2_grpc as pb_grpc

_MODE_TO_PB = {PAYMENT: pb.PRICE_MODE_PAYMENT, SUBSCRIPTION: pb.PRICE_MODE_SUBSCRIPTION}
_PB_TO_MODE = {v: k for k, v in _MODE_TO_PB.items()}
_OUTCOME_TO_PB = {
    Outcome.FULFILLED: pb.FULFILLMENT_STATUS_FULFILLED,
    Outcome.PENDING: pb.FULFILLMENT_STATUS_PENDING,
    Outcome.FAILED: pb.FULFILLMENT_STATUS_FAILED,
    Outcome.SUBSCRIPTION: pb.FULFILLMENT_STATUS_SUBSCRIPTION,
}


class BillingServicer(pb_grpc.BillingServiceServicer):
    def __init__(self, billing: Billing, webhooks: WebhookHandler, profile: ProfileClient) -> None:
        self._billing = billing
        self._webhooks = webhooks
        self._profile = profile

    async def ListPrices(
        self, request: pb.ListPricesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPricesResponse:
        entries = await self._billing.list_prices()
        return pb.ListPricesResponse(
            prices=[
                pb.Price(
                    price_id=e.price_id,
                    mode=_MODE_TO_PB[e.mode],
                    tokens_per_unit=e.tokens_per_unit,
                    display_name=e.display_name,
                    product_id=e.product_id,
                    unit_amount=e.unit_amount,
                    currency=e.currency,
                )
                for e in entries
            ]
        )

    async def CreateCheckoutSession(
        self, request: pb.CreateCheckoutSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateCheckoutSessionResponse:
        if request.mode not in (pb.PRICE_MODE_UNSPECIFIED, *_PB_TO_MODE):
            raise InvalidArgument("mode", "is not a known PriceMode")
        session = await self._billing.create_checkout_session(
            uid=request.uid,
            price_id=request.price_id,
            # Unspecified: the price's own mode.
            mode=_PB_TO_MODE.get(request.mode),
            quantity=request.quantity,
            success_url=request.success_url,
            cancel_url=request.cancel_url,
            request_id=request.request_id,
            email=request.email,
        )
        return pb.CreateCheckoutSessionResponse(session_id=session.session_id, url=session.url)

    async def FulfillCheckoutSession(
        self, request: pb.FulfillCheckoutSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.FulfillCheckoutSessionResponse:
        result = await self._billing.fulfil(request.session_id, request.uid)
        balance = result.balance
        if balance is None and result.uid:
            # Nothing granted by this call: report the balance as it is now.
            balance = (await self._profile.get_profile(result.uid)).tokens
        return pb.FulfillCheckoutSessionResponse(
            status=_OUTCOME_TO_PB[result.outcome],
            tokens_granted=result.tokens_granted,
            balance=balance or 0,
            payment_status=result.payment_status,
            already_applied=result.already_applied,
        )

    async def HandleStripeWebhook(
        self, request: pb.HandleStripeWebhookRequest, context: grpc.aio.ServicerContext
    ) -> pb.HandleStripeWebhookResponse:
        result = await self._webhooks.handle(request.payload, request.signature_header)
        return pb.HandleStripeWebhookResponse(
            event_id=result.event_id, event_type=result.event_type, action=result.action
        )
