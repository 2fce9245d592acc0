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


async def get_verifier(request: Request) -> FirebaseTokenVerifier:
    return cast(FirebaseTokenVerifier, request.app.state.verifier)


async def get_current_user(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    verifier: Annotated[FirebaseTokenVerifier, Depends(get_verifier)],
) -> FirebaseUser:
    if credentials is None:
        raise unauthenticated(
            "an 'Authorization: Bearer <Firebase ID token>' header is required", "MISSING_CREDENTIALS"
        )
    return await verifier.verify(credentials.credentials)


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


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
ProfileClient = Annotated[ProfileServiceClient, Depends(get_profile_client)]
BillingClient = Annotated[BillingServiceClient, Depends(get_billing_client)]
CurrentUser = Annotated[FirebaseUser, Depends(get_current_user)]
JsonBody = Depends(require_json_body)
