"""Server interceptors shared by the gRPC services: request id + one structured log line per call, and
the single place where a service's domain errors become rich gRPC statuses."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias, cast

import grpc
import grpc.aio

from service_kit.request_context import REQUEST_ID_HEADER, new_request_id, request_id_var
from service_kit.rich_errors import RpcErrorSpec, to_status

log = logging.getLogger("rpc")

ErrorMapper = Callable[[Exception], RpcErrorSpec | None]
# Generic in the type stubs only, hence the quotes.
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
# What grpc.aio really calls for a unary-unary method (the stubs describe the sync signature).
UnaryBehaviour: TypeAlias = "Callable[[Any, Context], Awaitable[Any]]"


def unary_behaviour(handler: Handler) -> UnaryBehaviour:
    return cast(UnaryBehaviour, handler.unary_unary)


def final_code(context: Context, raised: bool) -> grpc.StatusCode:
    """The status a call ended with: the one set on the context (an abort, a mapped error), else OK when the
    handler returned and UNKNOWN when it raised."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    return grpc.StatusCode.UNKNOWN if raised else grpc.StatusCode.OK


def _wrap_unary(
    handler: Handler,
    behaviour: UnaryBehaviour,
    deserializer: Callable[[bytes], Any] | None = None,
) -> Handler:
    return grpc.unary_unary_rpc_method_handler(
        behaviour,
        request_deserializer=deserializer or handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class _Undecodable:
    """Stands in for a request whose bytes did not parse (e.g. invalid UTF-8 in a string field), so the
    caller gets INVALID_ARGUMENT instead of gRPC's generic INTERNAL."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as exc:
            return _Undecodable(exc)

    return parse


class _WrappedHandlers:
    """Wraps each distinct handler once (gRPC hands back the same handler object for a method), so a call
    costs no handler construction."""

    def __init__(self, wrap: Callable[[Handler, str], Handler]) -> None:
        self._wrap = wrap
        self._cache: dict[int, tuple[Handler, Handler]] = {}

    def get(self, handler: Handler, method: str) -> Handler:
        hit = self._cache.get(id(handler))
        if hit is None or hit[0] is not handler:
            # The original is kept alongside, so its id cannot be reused while cached.
            hit = (handler, self._wrap(handler, method))
            self._cache[id(handler)] = hit
        return hit[1]


def _incoming_request_id(context: Context) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_HEADER:
            return str(value)[:128]
    return ""


class _UnaryWrappingInterceptor(grpc.aio.ServerInterceptor):
    """Wraps the unary-unary handlers (all of ours); streams (health Watch, reflection) pass through."""

    def __init__(self) -> None:
        self._handlers = _WrappedHandlers(self._wrap)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        return self._handlers.get(handler, handler_call_details.method)

    def _wrap(self, handler: Handler, method: str) -> Handler:
        raise NotImplementedError


class RequestLogInterceptor(_UnaryWrappingInterceptor):
    """Sets the request id from metadata (or makes one) and logs method, code, duration and deadline."""

    def _wrap(self, handler: Handler, method: str) -> Handler:
        inner = unary_behaviour(handler)

        async def behaviour(request: Any, context: Context) -> Any:
            token = request_id_var.set(_incoming_request_id(context) or new_request_id())
            if not log.isEnabledFor(logging.INFO):
                try:
                    return await inner(request, context)
                finally:
                    request_id_var.reset(token)
            started = time.perf_counter()
            remaining = context.time_remaining()
            raised = True
            try:
                reply = await inner(request, context)
                raised = False
                return reply
            finally:
                log.info(
                    "rpc",
                    extra={
                        "fields": {
                            "method": method,
                            "code": final_code(context, raised).name,
                            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                            "deadline_ms": None if remaining is None else round(remaining * 1000),
                            "peer": context.peer(),
                        }
                    },
                )
                request_id_var.reset(token)

        return _wrap_unary(handler, behaviour)


class ErrorMappingInterceptor(_UnaryWrappingInterceptor):
    """Turns exceptions raised by servicer code into statuses with ErrorInfo, using the service's own
    mapper. Anything the mapper does not know is logged and answered INTERNAL without internals."""

    def __init__(self, mapper: ErrorMapper) -> None:
        super().__init__()
        self._mapper = mapper

    def _wrap(self, handler: Handler, method: str) -> Handler:
        inner = unary_behaviour(handler)

        async def behaviour(request: Any, context: Context) -> Any:
            if isinstance(request, _Undecodable):
                await context.abort_with_status(
                    to_status(
                        RpcErrorSpec(
                            grpc.StatusCode.INVALID_ARGUMENT,
                            f"request could not be decoded: {request.error}",
                            "MALFORMED_REQUEST",
                        )
                    )
                )
            try:
                return await inner(request, context)
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                spec = self._mapper(exc)
                if spec is None:
                    log.exception("unhandled error in %s", method)
                    spec = RpcErrorSpec(grpc.StatusCode.INTERNAL, "internal error", "INTERNAL")
                await context.abort_with_status(to_status(spec))

        return _wrap_unary(handler, behaviour, _tolerant(handler.request_deserializer))
