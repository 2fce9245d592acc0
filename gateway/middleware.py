"""Pure ASGI middleware (no BaseHTTPMiddleware, so context variables reach the endpoints):

- RequestContextMiddleware: X-Request-ID in (sanitised) or generated, set for the request's logs and gRPC
  metadata, echoed in the response; one JSON access-log line and the Prometheus figures per request; any
  exception that escapes becomes the JSON 500 body.
- BodyLimitMiddleware: refuses bodies over the limit with 413 (Content-Length first, then the bytes actually
  streamed), and hands the app the buffered body.
- JsonCORSMiddleware: Starlette's CORS, with refused pre-flights answered in the JSON error shape.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import api_error, error_response
from gateway.metrics import GatewayMetrics
from service_kit.request_context import REQUEST_ID_HEADER, new_request_id, request_id_var

access_log = logging.getLogger("gateway.http")
log = logging.getLogger("gateway")

MAX_REQUEST_ID_LEN = 128
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._:\-]")
UNMATCHED_ROUTE = "<unmatched>"
# A refused upload is read (and discarded) up to this much so the client gets to read the 413.
MAX_DRAIN_BYTES = 4 * 1024 * 1024


def sanitise_request_id(raw: str | None) -> str:
    """Keeps [A-Za-z0-9._:-], at most 128 characters; anything unusable is replaced by a fresh id."""
    if not raw:
        return new_request_id()
    cleaned = _UNSAFE_ID_CHARS.sub("", raw)[:MAX_REQUEST_ID_LEN]
    return cleaned or new_request_id()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def route_template(scope: Scope) -> str:
    """The matched route's path template (bounded label cardinality); static framework routes such as
    /openapi.json by their path; anything unmatched as one label."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str) and template:
        return template
    if scope.get("endpoint") is not None and not scope.get("path_params"):
        return str(scope.get("path", UNMATCHED_ROUTE))
    return UNMATCHED_ROUTE


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = sanitise_request_id(_header(scope, REQUEST_ID_HEADER.encode()))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error")
            if not response_started:
                response = error_response(api_error(500, "internal error", "INTERNAL"))
                await response(scope, receive, send_with_id)
            status = 500
        finally:
            elapsed = time.perf_counter() - started
            template = route_template(scope)
            method = scope.get("method", "?")
            self.metrics.observe_request(method, template, status, elapsed)
            access_log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "fields": {
                        "method": method,
                        "route": template,
                        "path": scope.get("path"),
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                },
            )
            request_id_var.reset(token)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, default_limit: int, limit_for_path: Callable[[str], int] | None = None) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limit_for_path = limit_for_path or (lambda _path: default_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for_path(scope.get("path", ""))
        declared = _header(scope, b"content-length")
        if declared is None and _header(scope, b"transfer-encoding") is None:
            # No Content-Length and no Transfer-Encoding: HTTP/1.1 says there is no body (RFC 9112 6.3), so
            # there is nothing to count or buffer (most GETs).
            await self.app(scope, receive, send)
            return
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                await self._refuse(scope, receive, send, 400, "Content-Length is not a number", "BAD_REQUEST")
                return
            if too_big:
                await self._refuse(
                    scope, receive, send, 413, f"the request body exceeds {limit} bytes", "PAYLOAD_TOO_LARGE"
                )
                return

        # Read (and count) the body as it streams in; chunked uploads have no Content-Length.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await self._refuse(
                    scope,
                    receive,
                    send,
                    413,
                    f"the request body exceeds {limit} bytes",
                    "PAYLOAD_TOO_LARGE",
                    unread=bool(message.get("more_body", False)),
                )
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break

        buffered = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": buffered, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, status: int, message: str, reason: str, unread: bool = True
    ) -> None:
        # Read (and drop) a bounded amount of what the client is still sending: closing on a client that
        # is mid-upload resets the connection before it can read the 413.
        drained = 0
        while unread and drained < MAX_DRAIN_BYTES:
            chunk = await receive()
            if chunk["type"] != "http.request":
                break
            drained += len(chunk.get("body", b""))
            if not chunk.get("more_body", False):
                break
        response = error_response(api_error(status, message, reason, headers={"Connection": "close"}))
        await response(scope, receive, send)


class JsonCORSMiddleware(CORSMiddleware):
    def preflight_response(self, request_headers) -> Response:  # type: ignore[no-untyped-def]
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        detail = response.body.decode(errors="replace") if isinstance(response.body, bytes) else "CORS refused"
        refused = error_response(api_error(403, detail, "CORS_REFUSED"))
        for key in ("vary",):
            if key in response.headers:
                refused.headers[key] = response.headers[key]
        return refused
