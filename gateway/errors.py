"""The gateway's one error shape, and the one table that turns gRPC status codes into HTTP statuses.

Every error the gateway answers, whether raised here, by FastAPI/Starlette (404, 405, 422) or by a downstream
service, has the body ``{"error": {"code", "message", "reason", "field"?}}``:

- ``code``: the canonical gRPC status name (``INVALID_ARGUMENT``, ``NOT_FOUND``, ``UNAVAILABLE``, ...), the
  same vocabulary Google's JSON APIs use for ``error.status``;
- ``reason``: the machine-readable cause (the downstream ``ErrorInfo.reason`` such as
  ``INSUFFICIENT_TOKENS`` or ``READ_ONLY_FIELD``, or the gateway's own such as ``INVALID_TOKEN``);
- ``field``: present when one request field is to blame.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from service_kit.grpc_client import RpcCallError
from service_kit.rich_errors import details_of

log = logging.getLogger("gateway.errors")

JSON_ERROR_HEADERS = {"Cache-Control": "no-store"}


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Canonical gRPC status name, e.g. INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE.")
    message: str = Field(description="Human-readable explanation.")
    reason: str = Field(description="Machine-readable cause, e.g. READ_ONLY_FIELD, INSUFFICIENT_TOKENS.")
    field: str | None = Field(None, description="The request field to blame, when there is one.")


class ErrorResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


class ApiError(Exception):
    """Raised anywhere in the gateway; answered as the JSON error body by the handlers below."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        reason: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.reason = reason
        self.field = field
        self.headers = headers or {}


# --- gRPC -> HTTP: the one table ---------------------------------------------------------------------------
GRPC_TO_HTTP: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    # Downstream, UNAUTHENTICATED can only mean the gateway's own service credential was refused (the services
    # do not know end users; the gateway authenticates them itself, as 401). Telling the browser 401 would
    # send it to sign in again for a server misconfiguration, so it is a gateway-side failure.
    grpc.StatusCode.UNAUTHENTICATED: 502,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,  # e.g. INSUFFICIENT_TOKENS
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 503,
    grpc.StatusCode.CANCELLED: 503,
    grpc.StatusCode.UNIMPLEMENTED: 502,
    grpc.StatusCode.INTERNAL: 502,
    grpc.StatusCode.UNKNOWN: 502,
    grpc.StatusCode.DATA_LOSS: 502,
}
# Answers that mean "try again later": they carry Retry-After.
RETRYABLE_HTTP = frozenset({429, 503})

# Errors the gateway raises itself (or FastAPI/Starlette raise) get their `code` from their HTTP status.
HTTP_TO_CODE: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    406: "INVALID_ARGUMENT",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNKNOWN",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
HTTP_TO_REASON: dict[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "ROUTE_NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "INVALID_FIELD",
    500: "INTERNAL",
}


def code_for_http(status: int) -> str:
    return HTTP_TO_CODE.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")


def api_error(
    status: int,
    message: str,
    reason: str | None = None,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> ApiError:
    return ApiError(
        status,
        code_for_http(status),
        message,
        reason or HTTP_TO_REASON.get(status, code_for_http(status)),
        field,
        headers,
    )


def from_rpc_error(error: RpcCallError | grpc.RpcError, retry_after_s: int, service: str | None = None) -> ApiError:
    """Translates a downstream gRPC failure with the table above; ErrorInfo reason and field survive."""
    if isinstance(error, RpcCallError):
        details, service = error.details, service or error.service
    else:
        details = details_of(error)
    service = service or "downstream"
    status = GRPC_TO_HTTP.get(details.code, 502)
    headers = {"Retry-After": str(retry_after_s)} if status in RETRYABLE_HTTP else {}
    message = details.message or details.code.name
    if status >= 500:
        # Never pass a downstream's internals to the browser; the log has them.
        log.warning(
            "downstream error",
            extra={
                "fields": {
                    "service": service,
                    "grpc_code": details.code.name,
                    "reason": details.reason,
                    "detail": details.message,
                }
            },
        )
        message = {
            503: f"the {service} service is unavailable, try again shortly",
        }.get(status, f"the {service} service failed")
    return ApiError(status, details.code.name, message, details.reason, details.field, headers)


# --- rendering ---------------------------------------------------------------------------------------------
def error_response(error: ApiError) -> JSONResponse:
    body = ErrorResponse(
        error=ErrorDetail(code=error.code, message=error.message, reason=error.reason, field=error.field)
    )
    headers = {**JSON_ERROR_HEADERS, **error.headers}
    return JSONResponse(body.model_dump(exclude_none=True), status_code=error.status, headers=headers)


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str | None:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or None


def validation_error(exc: RequestValidationError) -> ApiError:
    """One message naming every problem; `field`/`reason` from the most telling one (read-only first)."""
    errors = list(exc.errors())
    if not errors:
        return api_error(422, "the request is not valid", "INVALID_FIELD")

    def rank(err: dict[str, Any]) -> int:
        return {"read_only_field": 0, "json_invalid": 1, "extra_forbidden": 2}.get(err.get("type", ""), 3)

    errors.sort(key=rank)
    messages: list[str] = []
    for err in errors:
        kind = err.get("type", "")
        field = _field_of(err.get("loc", ()))
        if kind == "read_only_field":
            messages.append(str(err.get("msg")))
        elif kind == "json_invalid":
            messages.append(f"the body is not valid JSON ({(err.get('ctx') or {}).get('error', 'decode error')})")
        elif kind == "extra_forbidden":
            messages.append(f"unknown field '{field}'")
        elif kind == "missing":
            messages.append(f"'{field}' is required" if field else "a JSON body is required")
        else:
            messages.append(f"'{field}': {err.get('msg')}" if field else str(err.get("msg")))
    first = errors[0]
    kind = first.get("type", "")
    reason = {
        "read_only_field": "READ_ONLY_FIELD",
        "json_invalid": "MALFORMED_JSON",
        "extra_forbidden": "UNKNOWN_FIELD",
        "missing": "MISSING_FIELD",
    }.get(kind, "INVALID_FIELD")
    if kind == "read_only_field":
        field = (first.get("ctx") or {}).get("field")
    elif kind == "json_invalid":
        field = None
    else:
        field = _field_of(first.get("loc", ()))
    # Deduplicate, keep order, keep it short.
    unique = list(dict.fromkeys(messages))
    message = "; ".join(unique[:10]) + ("; ..." if len(unique) > 10 else "")
    # Syntax (not JSON at all) is 400, like every other unparseable body; content that parses but does not
    # fit the schema is 422.
    return api_error(400 if kind == "json_invalid" else 422, message, reason, field)


def _allowed_methods(request: Request) -> str:
    """Every method the requested path has (Starlette names only the first route sharing the path), from
    the OpenAPI description so it agrees with what clients are told."""
    table = getattr(request.app.state, "allow_table", None)
    if table is None:
        table = []
        for template, item in request.app.openapi().get("paths", {}).items():
            pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")
            methods = {m.upper() for m in item if m in _HTTP_METHODS}
            table.append((pattern, methods))
        request.app.state.allow_table = table
    allowed: set[str] = set()
    for pattern, methods in table:
        if pattern.match(request.url.path):
            allowed |= methods
    return ", ".join(sorted(allowed))


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def on_http_exception(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        reason = None
        if exc.status_code == 404 and message == "Not Found":
            message = "no such route"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed here"
            # Routes outside the OpenAPI description (/metrics) keep Starlette's own Allow.
            allowed = _allowed_methods(request)
            if allowed:
                exc.headers = {**(exc.headers or {}), "Allow": allowed}
        elif message == "There was an error parsing the body":
            # FastAPI's answer to bodies json.loads cannot take (not UTF-8, nested too deep, ...).
            message, reason = "the body could not be parsed as JSON", "MALFORMED_JSON"
        headers = dict(exc.headers or {})
        if exc.status_code == 401:
            headers.setdefault("WWW-Authenticate", "Bearer")
        return error_response(api_error(exc.status_code, message, reason, headers=headers))

    async def on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(validation_error(exc))

    async def on_rpc_call_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RpcCallError)
        return error_response(from_rpc_error(exc, request.app.state.settings.retry_after_s))

    async def on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return error_response(api_error(500, "internal error", "INTERNAL"))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(RpcCallError, on_rpc_call_error)
    app.add_exception_handler(Exception, on_unexpected)


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


# Declared on every operation so clients (and schemathesis) know every error body's shape.
COMMON_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _doc("Bad request (malformed body, or rejected downstream as INVALID_ARGUMENT)."),
    404: _doc("Not found."),
    405: _doc("Method not allowed."),
    413: _doc("Request body too large."),
    422: _doc("The request failed validation (unknown or read-only fields, wrong types)."),
    429: _doc("Too many requests; see Retry-After."),
    500: _doc("Internal error."),
    502: _doc("A downstream service failed."),
    503: _doc("A downstream service is unavailable; see Retry-After."),
}
AUTH_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _doc("Missing or invalid Firebase ID token (WWW-Authenticate: Bearer)."),
    403: _doc("The resource belongs to another user."),
}
JSON_BODY_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    415: _doc("The body must be application/json."),
}
CONFLICT_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: _doc("Conflict or failed precondition (e.g. INSUFFICIENT_TOKENS, IDEMPOTENCY_KEY_REUSED)."),
}
