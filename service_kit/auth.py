"""Service-to-service authentication: each caller presents its own secret token in `authorization:
Bearer <token>` metadata; a server interceptor names the caller and checks it against a per-method
permission table. Unknown or missing token -> UNAUTHENTICATED; a known caller outside its rights ->
PERMISSION_DENIED. Either way the servicer never runs, so nothing is written.

With mTLS on, the caller is also the identity in its client certificate (CN or a SAN equal to the caller's
name: gateway, billing, backend), and a token is accepted only over the certificate of the caller it belongs
to: billing's token sent with the gateway's certificate is UNAUTHENTICATED. Each caller may have two
accepted tokens at once (current and next), so tokens rotate without downtime (see README)."""

from __future__ import annotations

import hmac
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, cast

import grpc
import grpc.aio

from service_kit.interceptors import Context, Handler
from service_kit.rich_errors import RpcErrorSpec, to_status

log = logging.getLogger("auth")

AUTH_HEADER = "authorization"
# Always reachable: load balancers and grpcurl need them without a credential.
OPEN_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
# Where gRPC puts the verified client certificate's names in the auth context.
_CERT_NAME_KEYS = ("x509_common_name", "x509_subject_alternative_name")

UNKNOWN_CREDENTIAL = RpcErrorSpec(
    grpc.StatusCode.UNAUTHENTICATED, "missing or unknown service credential", "UNAUTHENTICATED"
)
WRONG_CERTIFICATE = RpcErrorSpec(
    grpc.StatusCode.UNAUTHENTICATED,
    "the service credential does not belong to this client certificate",
    "CREDENTIAL_CERTIFICATE_MISMATCH",
)

CallerTokens = Mapping[str, str | Sequence[str]]


def identify(token: str, callers: CallerTokens) -> str | None:
    """The caller one of whose tokens equals `token` (constant-time compare, every token compared), or None."""
    found = None
    for name, secrets in callers.items():
        for secret in (secrets,) if isinstance(secrets, str) else secrets:
            if secret and hmac.compare_digest(secret.encode(), token.encode()):
                found = name
    return found


def certificate_names(context: Context) -> set[str]:
    """The CN and SANs of the peer's verified client certificate (empty without mTLS)."""
    auth = context.auth_context() or {}
    return {value.decode(errors="replace") for key in _CERT_NAME_KEYS for value in auth.get(key, ())}


class ServiceAuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        callers: CallerTokens,
        permissions: Mapping[str, frozenset[str]],
        *,
        bind_to_certificate: bool = False,
    ) -> None:
        """callers: caller name -> its accepted token(s). permissions: full method path -> caller names.
        bind_to_certificate (mTLS on): the token's caller must be named by the client certificate."""
        self._callers = {
            name: tuple(t for t in ((tokens,) if isinstance(tokens, str) else tokens) if t)
            for name, tokens in callers.items()
        }
        self._permissions = permissions
        self._bind = bind_to_certificate
        self._bound: dict[tuple[int, str], tuple[Handler, Handler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        method = handler_call_details.method
        if method.startswith(OPEN_PREFIXES):
            return await continuation(handler_call_details)
        metadata = dict(handler_call_details.invocation_metadata or ())
        header = str(metadata.get(AUTH_HEADER, ""))
        token = header[7:] if header.lower().startswith("bearer ") else ""
        caller = identify(token, self._callers) if token else None
        if caller is None:
            return _deny(UNKNOWN_CREDENTIAL)
        if caller not in self._permissions.get(method, frozenset()):
            log.warning("permission denied", extra={"fields": {"caller": caller, "method": method}})
            spec = RpcErrorSpec(
                grpc.StatusCode.PERMISSION_DENIED, f"caller {caller!r} may not call {method}", "PERMISSION_DENIED"
            )
            return _deny(spec, caller if self._bind else None)
        handler = await continuation(handler_call_details)
        if not self._bind or handler is None:
            return handler
        return self._bound_handler(handler, caller)

    def _bound_handler(self, handler: Handler, caller: str) -> Handler:
        """The handler, checking the certificate first; one per (handler, caller), as gRPC reuses handlers."""
        key = (id(handler), caller)
        hit = self._bound.get(key)
        if hit is None or hit[0] is not handler:
            hit = (handler, _bind_to_certificate(handler, caller))
            self._bound[key] = hit
        return hit[1]


async def _check_certificate(context: Context, caller: str) -> None:
    if caller not in certificate_names(context):
        log.warning(
            "service credential over another caller's certificate",
            extra={"fields": {"caller": caller, "certificate": sorted(certificate_names(context))}},
        )
        await context.abort_with_status(to_status(WRONG_CERTIFICATE))


def _bind_to_certificate(handler: Handler, caller: str) -> Handler:
    """The same handler (any of the four kinds), refusing a peer whose certificate does not name `caller`."""
    serializers = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None or handler.stream_unary is not None:
        unary_inner = cast(Callable[[Any, Context], Awaitable[Any]], handler.unary_unary or handler.stream_unary)

        async def unary_reply(request: Any, context: Context) -> Any:
            await _check_certificate(context, caller)
            return await unary_inner(request, context)

        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(unary_reply, **serializers)
        return grpc.stream_unary_rpc_method_handler(unary_reply, **serializers)

    stream_inner = cast(Callable[[Any, Context], Any], handler.unary_stream or handler.stream_stream)

    async def streamed_reply(request: Any, context: Context) -> AsyncIterator[Any]:
        await _check_certificate(context, caller)
        result = stream_inner(request, context)
        if inspect.isasyncgen(result):
            async for item in result:
                yield item
        else:  # a coroutine that writes with context.write()
            await result

    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(streamed_reply, **serializers)
    return grpc.stream_stream_rpc_method_handler(streamed_reply, **serializers)


_DENIALS: dict[tuple[RpcErrorSpec, str | None], Handler] = {}


def _deny(spec: RpcErrorSpec, bound_caller: str | None = None) -> Handler:
    """One handler per distinct denial (bounded by callers x methods), so interceptors can cache it. With
    `bound_caller`, a peer whose certificate is not that caller's learns only UNAUTHENTICATED."""
    handler = _DENIALS.get((spec, bound_caller))
    if handler is None:
        status = to_status(spec)

        async def abort(_request: Any, context: Context) -> None:
            if bound_caller is not None:
                await _check_certificate(context, bound_caller)
            await context.abort_with_status(status)

        # Bytes in, nothing out: the request is never even parsed.
        handler = grpc.unary_unary_rpc_method_handler(abort, request_deserializer=None, response_serializer=None)
        _DENIALS[(spec, bound_caller)] = handler
    return handler
