"""BillingService over gRPC: turns requests into use-case calls and results into replies. Errors are
raised as exceptions; error_mapping.py turns them into statuses."""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc

from billing_service import convert
from billing_service.billing import Billing
from billing_service.domain.errors import InvalidArgument
from billing_service.webhooks import WebhookHandler
from tokens.billing.v1 import billing_service_pb2 as pb
from tokens.billing.v1 import billing_service_pb2_grpc as pb_grpc

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


class BillingServicer(pb_grpc.BillingServiceServicer):
    def __init__(self, billing: Billing, webhooks: WebhookHandler, profile: object = None) -> None:
        # `profile` is accepted for server.py's call and unused: the use cases hold the profile client.
        self._billing = billing
        self._webhooks = webhooks

    async def ListPrices(self, request: pb.ListPricesRequest, context: Context) -> pb.ListPricesResponse:
        entries = await self._billing.prices.list_prices()
        return pb.ListPricesResponse(prices=[convert.price_to_pb(e) for e in entries])

    async def CreateCheckoutSession(
        self, request: pb.CreateCheckoutSessionRequest, context: Context
    ) -> pb.CreateCheckoutSessionResponse:
        if request.mode not in (pb.PRICE_MODE_UNSPECIFIED, *convert.PB_TO_PRICE_MODE):
            raise InvalidArgument("mode", "is not a known PriceMode")
        session = await self._billing.checkout.create_session(
            uid=request.uid,
            price_id=request.price_id,
            # Unspecified: the price's own mode.
            mode=convert.PB_TO_PRICE_MODE.get(request.mode),
            quantity=request.quantity,
            success_url=request.success_url,
            cancel_url=request.cancel_url,
            request_id=request.request_id,
            email=request.email,
        )
        return pb.CreateCheckoutSessionResponse(session_id=session.session_id, url=session.url)

    async def FulfillCheckoutSession(
        self, request: pb.FulfillCheckoutSessionRequest, context: Context
    ) -> pb.FulfillCheckoutSessionResponse:
        result = await self._billing.fulfilment.fulfil_for_caller(request.session_id, request.uid)
        return pb.FulfillCheckoutSessionResponse(
            status=convert.FULFILMENT_OUTCOME_TO_PB[result.outcome],
            tokens_granted=result.tokens_granted,
            balance=result.balance or 0,
            payment_status=result.payment_status,
            already_applied=result.already_applied,
        )

    async def CreateBillingPortalSession(
        self, request: pb.CreateBillingPortalSessionRequest, context: Context
    ) -> pb.CreateBillingPortalSessionResponse:
        url = await self._billing.portal.create_session(request.uid, request.return_url)
        return pb.CreateBillingPortalSessionResponse(url=url)

    async def HandleStripeWebhook(
        self, request: pb.HandleStripeWebhookRequest, context: Context
    ) -> pb.HandleStripeWebhookResponse:
        result = await self._webhooks.handle(request.payload, request.signature_header)
        return pb.HandleStripeWebhookResponse(
            event_id=result.event_id, event_type=result.event_type, action=result.action
        )
