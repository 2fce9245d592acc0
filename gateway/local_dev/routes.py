"""Routes of the local profile: POST /local/sign-in, and the page to try the purchase flow (GET /, /success,
/cancel and its two static files). None of them is in the OpenAPI description: they are not the API."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from gateway.deps import JsonBody, SettingsDep
from gateway.errors import api_error
from gateway.local_dev.signing import TOKEN_LIFETIME_S, DevSigner
from tokens import contract_rules as limits

STATIC = Path(__file__).resolve().parent / "static"
# File name -> media type: the only files served.
# token-client.js is clients/typescript built for the page (clients/typescript/scripts/build-page-module.mjs).
STATIC_FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "token-client.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}

UID_PATTERN = re.compile(rf"^[A-Za-z0-9_.@:\-]{{1,{limits.UID_MAX_LEN}}}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")  # RFC 5321's local-part and domain limits
# What the page shows for a bad value: words, not the pattern.
UID_RULE = f"use 1 to {limits.UID_MAX_LEN} letters, digits or the characters _ . @ : - (no spaces)"
EMAIL_RULE = "enter an email address such as alice@example.com, or leave it empty"

# Same-origin only: the page talks to this gateway and leaves by navigation to the checkout page.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class DevSignInRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uid: str = Field(description="The test user's id (becomes sub / user_id).")
    email: str | None = Field(None, max_length=limits.EMAIL_MAX_LEN)

    @field_validator("uid")
    @classmethod
    def _uid(cls, value: str) -> str:
        if not UID_PATTERN.fullmatch(value):
            raise PydanticCustomError("uid_format", UID_RULE)
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value and not EMAIL_PATTERN.fullmatch(value):
            raise PydanticCustomError("email_format", EMAIL_RULE)
        return value


class DevSignInReply(BaseModel):
    id_token: str
    expires_in: int


def get_signer(request: Request) -> DevSigner:
    signer = getattr(request.app.state, "local_dev_signer", None)
    if signer is None:  # only before start-up has run
        raise api_error(503, "the development signing key is not loaded yet", "NOT_READY")
    assert isinstance(signer, DevSigner)
    return signer


@cache
def _read(name: str) -> bytes:
    return (STATIC / name).read_bytes()


def _page() -> Response:
    return Response(_read("index.html"), media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


router = APIRouter(include_in_schema=False)


@router.post("/local/sign-in", response_model=DevSignInReply, dependencies=[JsonBody])
async def sign_in(
    body: DevSignInRequest, settings: SettingsDep, signer: Annotated[DevSigner, Depends(get_signer)], response: Response
) -> DevSignInReply:
    """A Firebase-shaped ID token for any test user, signed with the development key."""
    token = signer.id_token(settings.firebase_project_id, body.uid, body.email or None)
    response.headers["Cache-Control"] = "no-store"
    return DevSignInReply(id_token=token, expires_in=TOKEN_LIFETIME_S)


@router.get("/")
async def index() -> Response:
    return _page()


@router.get("/success")
async def success() -> Response:
    # The same page: its script reads ?session_id= and asks GET /v1/checkout-sessions/{id}.
    return _page()


@router.get("/cancel")
async def cancel() -> Response:
    return _page()


@router.get("/local/static/{name}")
async def static_file(name: Annotated[str, PathParam(max_length=64)]) -> Response:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise api_error(404, "no such file", "ROUTE_NOT_FOUND")
    return Response(
        _read(name), media_type=media_type, headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
    )
