"""Service-to-service authentication: each caller presents its own secret token in `authorization:
Bearer <token>` metadata; a server interceptor names the caller and checks it against a per-method
permission table. Unknown or missing token -> UNAUTHENTICATED; a known caller outside its rights ->
PERMISSION_DENIED. Either way the servicer never runs, so nothing is written."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping

import grpc

from service_kit.rich_errors import RpcErrorSpec, to_status

log = logging.getLogger("auth")

AUTH_HEADER = "authorization"
# Always reachable: load balancers and grpcurl need them without a credential.
OPEN_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)


def identify(token: str, callers: Mapping[str, str]) -> str | None:
    """The caller whose secret equals `token` (constant-time compare), or None."""
    found = None
    for name, secret in callers.items():
        if secret and hmac.compare_digest(secret.encode(), token.encode()):
            found = name
    return found


class ServiceAuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, callers: Mapping[str, str], permissions: Mapping[str, frozenset[str]]) -> None:
        """callers: caller name -> secret token. permissions: full method path -> caller names."""
        self._callers = {k: v for k, v in callers.items() if v}
        self._permissions = permissions

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        if method.startswith(OPEN_PREFIXES):
            return await continuation(handler_call_details)
        metadata = dict(handler_call_details.invocation_metadata or ())
        header = str(metadata.get(AUTH_HEADER, ""))
        token = header[7:] if header.lower().startswith("bearer ") else ""
        caller = identify(token, self._callers) if token else None
        if caller is None:
            return _deny(
                RpcErrorSpec(
                    grpc.StatusCode.UNAUTHENTICATED, "missing or unknown service credential", "UNAUTHENTICATED"
                )
            )
        if caller not in self._permissions.get(method, frozenset()):
            log.warning("permission denied", extra={"fields": {"caller": caller, "method": method}})
            return _deny(
                RpcErrorSpec(
                    grpc.StatusCode.PERMISSION_DENIED, f"caller {caller!r} may not call {method}", "PERMISSION_DENIED"
                )
            )
        return await continuation(handler_call_details)


_DENIALS: dict[RpcErrorSpec, grpc.RpcMethodHandler] = {}


def _deny(spec: RpcErrorSpec) -> grpc.RpcMethodHandler:
    """One handler per distinct denial (bounded by callers x methods), so interceptors can cache it."""
    handler = _DENIALS.get(spec)
    if handler is None:
        status = to_status(spec)

        async def abort(request, context: grpc.aio.ServicerContext):
            await context.abort_with_status(status)

        # Bytes in, nothing out: the request is never even parsed.
        handler = grpc.unary_unary_rpc_method_handler(abort, request_deserializer=None, response_serializer=None)
        _DENIALS[spec] = handler
    return handler
