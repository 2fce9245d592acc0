"""/v1/checkout-sessions: start a Stripe Checkout, and the success page's "did it work?" call."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Path, Response, status

from gateway import convert
from gateway.deps import BillingClient, CurrentUser, JsonBody, ProfileClient, SettingsDep, WritingUser
from gateway.errors import (
    AUTH_ERROR_RESPONSES,
    COMMON_ERROR_RESPONSES,
    CONFLICT_RESPONSES,
    JSON_BODY_ERROR_RESPONSES,
)
from gateway.redirects import require_redirect
from gateway.schemas import (
    IDEMPOTENCY_KEY_PATTERN,
    SESSION_ID_PATTERN,
    CheckoutSession,
    CheckoutSessionCreate,
    CheckoutSessionStatus,
)
from tokens.billing.v1 import billing_service_pb2 as billing_pb
from tokens.profile.v1 import profile_service_pb2 as profile_pb

router = APIRouter(
    prefix="/v1/checkout-sessions",
    tags=["checkout"],
    responses={**COMMON_ERROR_RESPONSES, **AUTH_ERROR_RESPONSES, **CONFLICT_RESPONSES},
)


def stripe_request_id(uid: str, idempotency_key: str | None) -> str:
    """The idempotency key billing passes to Stripe. A client key is scoped to its user (Stripe's keys are
    account-wide: one user's key must never replay another user's session); without one, every call is new."""
    if idempotency_key is None:
        return f"gw-{uuid.uuid4().hex}"
    digest = hashlib.sha256(f"{uid}\x00{idempotency_key}".encode()).hexdigest()
    return f"gw-{digest}"


@router.post(
    "",
    response_model=CheckoutSession,
    status_code=status.HTTP_201_CREATED,
    summary="Create a Stripe Checkout Session for the caller; redirect the browser to `url`",
    dependencies=[JsonBody],
    responses=JSON_BODY_ERROR_RESPONSES,
)
async def create_checkout_session(
    body: CheckoutSessionCreate,
    user: WritingUser,
    profile: ProfileClient,
    billing: BillingClient,
    settings: SettingsDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="Retries with the same key return the same session.",
        ),
    ] = None,
) -> CheckoutSession:
    # Refused before anything is created; billing applies the same rule again (empty = its defaults).
    origins = settings.allowed_redirect_origins
    success_url = require_redirect(body.success_url, "success_url", origins) if body.success_url else ""
    cancel_url = require_redirect(body.cancel_url, "cancel_url", origins) if body.cancel_url else ""
    # Billing links the Stripe customer to the profile, so the profile must exist (CreateProfile is idempotent).
    await profile.call(profile.stub.CreateProfile, profile_pb.CreateProfileRequest(uid=user.uid, email=user.email))
    reply = await billing.call(
        billing.stub.CreateCheckoutSession,
        billing_pb.CreateCheckoutSessionRequest(
            uid=user.uid,
            price_id=body.price_id,
            mode=convert.PRICE_MODE_TO_PB[body.mode],
            quantity=body.quantity,
            success_url=success_url,
            cancel_url=cancel_url,
            request_id=stripe_request_id(user.uid, idempotency_key),
            email=user.email,
        ),
    )
    response.headers["Location"] = f"/v1/checkout-sessions/{reply.session_id}"
    return CheckoutSession(id=reply.session_id, url=reply.url)


@router.get(
    "/{session_id}",
    response_model=CheckoutSessionStatus,
    summary="The success page's check: grants the tokens if paid (exactly once), returns status and balance",
)
async def get_checkout_session(
    session_id: Annotated[str, Path(pattern=SESSION_ID_PATTERN, description="The Checkout Session id.")],
    user: CurrentUser,
    billing: BillingClient,
) -> CheckoutSessionStatus:
    reply = await billing.call(
        billing.stub.FulfillCheckoutSession,
        billing_pb.FulfillCheckoutSessionRequest(session_id=session_id, uid=user.uid),
    )
    return convert.fulfillment(session_id, reply)
