"""JSON responses the way Stripe sends them, and the Request-Id header on every response."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import StripeError
from .ids import new_id
from .objects import API_VERSION

REQUEST_ID_KEY = "standin.request_id"


def dumps(body: Any) -> bytes:
    # Stripe pretty-prints its JSON; keep the same so payloads look familiar in logs.
    return json.dumps(body, indent=2).encode()


def stripe_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(body), status_code=status, media_type="application/json", headers=headers)


def error_response(err: StripeError) -> Response:
    return stripe_json(err.body(), err.status)


def request_id(scope: Scope) -> str:
    return scope.setdefault(REQUEST_ID_KEY, new_id("req_"))


class RequestIdMiddleware:
    """Gives each request a `req_…` id (used in events) and returns it as `Request-Id`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"request-id" not in names:
                    headers.append((b"request-id", rid.encode()))
                if scope["path"].startswith("/v1/"):
                    headers.append((b"stripe-version", API_VERSION.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)
