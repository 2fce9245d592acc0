"""Annotated dependencies. Tests override ``get_profile_client``, ``get_billing_client`` or
``get_current_user`` through ``app.dependency_overrides``."""

from __future__ import annotations

from email.message import Message
from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.auth import FirebaseTokenVerifier, FirebaseUser, unauthenticated
from gateway.downstream import BillingServiceClient, ProfileServiceClient
from gateway.errors import api_error
from gateway.rate_limits import WriteRateLimiter
from gateway.settings import GatewaySettings

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="FirebaseIdToken",
    bearerFormat="JWT",
    description="A Firebase Auth ID token (user.getIdToken()).",
)


async def get_settings(request: Request) -> GatewaySettings:
    return cast(GatewaySettings, request.app.state.settings)


async def get_profile_client(request: Request) -> ProfileServiceClient:
    return cast(ProfileServiceClient, request.app.state.downstream.profile)


async def get_billing_client(request: Request) -> BillingServiceClient:
    return cast(BillingServiceClient, request.app.state.downstream.billing)


def verifier_of(request: Request) -> FirebaseTokenVerifier:
    return cast(FirebaseTokenVerifier, request.app.state.verifier)


async def get_current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> FirebaseUser:
    # The verifier is read from app.state here rather than injected: each dependency costs FastAPI a
    # resolution per request, and this one runs on every authenticated route.
    if credentials is None:
        raise unauthenticated(
            "an 'Authorization: Bearer <Firebase ID token>' header is required", "MISSING_CREDENTIALS"
        )
    return await verifier_of(request).verify(credentials.credentials)


async def require_json_body(request: Request) -> None:
    """415 for a non-empty body that is not JSON (an empty body is left to validation: 'body is required')."""
    content_type = request.headers.get("content-type")
    if content_type is None:
        if request.headers.get("content-length", "0") in ("", "0") and "transfer-encoding" not in request.headers:
            return
        raise api_error(415, "the body must be application/json", "UNSUPPORTED_MEDIA_TYPE")
    parsed = Message()
    parsed["content-type"] = content_type
    subtype = parsed.get_content_subtype()
    if parsed.get_content_maintype() != "application" or not (subtype == "json" or subtype.endswith("+json")):
        raise api_error(415, "the body must be application/json", "UNSUPPORTED_MEDIA_TYPE")


async def get_writing_user(request: Request, user: Annotated[FirebaseUser, Depends(get_current_user)]) -> FirebaseUser:
    """The signed-in user of a write route, counted against RATE_LIMIT_WRITES (429 with Retry-After over it)."""
    limiter: WriteRateLimiter | None = request.app.state.write_limiter
    if limiter is not None:
        await limiter.check(user.uid)
    return user


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
ProfileClient = Annotated[ProfileServiceClient, Depends(get_profile_client)]
BillingClient = Annotated[BillingServiceClient, Depends(get_billing_client)]
CurrentUser = Annotated[FirebaseUser, Depends(get_current_user)]
# The user of a write route: authenticated, then rate limited per user.
WritingUser = Annotated[FirebaseUser, Depends(get_writing_user)]
JsonBody = Depends(require_json_body)
