"""POST /v1/stripe/webhook: unauthenticated by design (Stripe signs the body instead).

The raw bytes go to billing untouched (never parsed and re-serialised: the signature covers the exact
bytes). Stripe redelivers on any non-2xx, so only "recorded" answers 200: a bad signature is 400, billing
unavailable is 503, and any other failure is a 5xx."""

from __future__ import annotations

from fastapi import APIRouter, Request

from gateway.deps import BillingClient
from gateway.errors import COMMON_ERROR_RESPONSES, ApiError, api_error, from_rpc_error
from gateway.schemas import WebhookReceipt
from service_kit.grpc_client import RpcCallError
from tokens.billing.v1 import billing_service_pb2 as pb

router = APIRouter(prefix="/v1/stripe", tags=["stripe"])

SIGNATURE_HEADER = "Stripe-Signature"
MAX_SIGNATURE_LEN = 4096


@router.post(
    "/webhook",
    response_model=WebhookReceipt,
    summary="Stripe webhook endpoint (signed by Stripe; no bearer token)",
    responses={k: v for k, v in COMMON_ERROR_RESPONSES.items() if k in (400, 404, 405, 413, 422, 500, 502, 503)},
    openapi_extra={
        "parameters": [
            {
                "name": SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "description": "Stripe's signature of the raw body: t=TIMESTAMP,v1=HMAC...",
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_SIGNATURE_LEN},
            }
        ],
        "requestBody": {
            "required": True,
            "description": "The Stripe event, exactly as Stripe sent it.",
            "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
        },
    },
)
async def stripe_webhook(request: Request, billing: BillingClient) -> WebhookReceipt:
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        raise api_error(400, f"the {SIGNATURE_HEADER} header is required", "MISSING_SIGNATURE", SIGNATURE_HEADER)
    if len(signature) > MAX_SIGNATURE_LEN:
        raise api_error(400, f"the {SIGNATURE_HEADER} header is too long", "INVALID_SIGNATURE", SIGNATURE_HEADER)
    payload = await request.body()
    if not payload:
        raise api_error(400, "the webhook body is empty", "MISSING_BODY")
    try:
        reply = await billing.call(
            billing.stub.HandleStripeWebhook, pb.HandleStripeWebhookRequest(payload=payload, signature_header=signature)
        )
    except RpcCallError as call_error:
        exc = from_rpc_error(call_error, request.app.state.settings.retry_after_s)
        if exc.status in (400, 503):
            raise exc from None
        # Not recorded: anything else must make Stripe redeliver, so never a 4xx that looks final.
        raise ApiError(
            500 if exc.status < 500 else exc.status, exc.code, exc.message, exc.reason, exc.field, exc.headers
        ) from None
    return WebhookReceipt(event_id=reply.event_id, event_type=reply.event_type, action=reply.action)
