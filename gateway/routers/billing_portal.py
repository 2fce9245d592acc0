"""/v1/billing-portal-sessions: a link to Stripe's billing portal for the caller (payment methods, invoices,
cancelling the subscription), through billing's CreateBillingPortalSession."""

from __future__ import annotations

from fastapi import APIRouter, status

from gateway.deps import BillingClient, JsonBody, SettingsDep, WritingUser
from gateway.errors import AUTH_ERROR_RESPONSES, COMMON_ERROR_RESPONSES, JSON_BODY_ERROR_RESPONSES, ErrorResponse
from gateway.redirects import require_redirect
from gateway.schemas import BillingPortalSession, BillingPortalSessionCreate
from tokens.billing.v1 import billing_service_pb2 as billing_pb

router = APIRouter(
    prefix="/v1/billing-portal-sessions",
    tags=["billing"],
    responses={
        **COMMON_ERROR_RESPONSES,
        **AUTH_ERROR_RESPONSES,
        409: {
            "model": ErrorResponse,
            "description": "NO_STRIPE_CUSTOMER: the caller never checked out, so there is nothing to manage.",
        },
    },
)


@router.post(
    "",
    response_model=BillingPortalSession,
    status_code=status.HTTP_201_CREATED,
    summary="Create a Stripe billing portal session for the caller; send the browser to `url`",
    dependencies=[JsonBody],
    responses=JSON_BODY_ERROR_RESPONSES,
)
async def create_billing_portal_session(
    user: WritingUser,
    billing: BillingClient,
    settings: SettingsDep,
    body: BillingPortalSessionCreate | None = None,
) -> BillingPortalSession:
    # The body is optional: no return_url means BILLING_PORTAL_RETURN_URL.
    return_url = body.return_url if body is not None and body.return_url else settings.billing_portal_return_url
    return_url = require_redirect(return_url, "return_url", settings.allowed_redirect_origins)
    reply = await billing.call(
        billing.stub.CreateBillingPortalSession,
        billing_pb.CreateBillingPortalSessionRequest(uid=user.uid, return_url=return_url),
    )
    return BillingPortalSession(url=reply.url)
