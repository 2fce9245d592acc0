"""The one way a service or backend worker calls a gRPC service: a stub on service_kit's channel (TLS/mTLS
when configured), a deadline on every call, the caller's credential and the request id as call metadata,
and every failure decoded (code, ErrorInfo reason, BadRequest field) into one typed exception, RpcCallError.

    client = ServiceClient.open("profile", PROFILE_SERVICE, target, settings, ProfileServiceStub,
                                timeout_s=5, caller_token=settings.auth_token_billing.get_secret_value())
    reply = await client.call(client.stub.GetProfile, GetProfileRequest(uid=uid))
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

import grpc
import grpc.aio

from service_kit import health
from service_kit.channels import auth_metadata, open_channel
from service_kit.request_context import outgoing_metadata
from service_kit.rich_errors import ErrorDetails, details_of
from service_kit.settings import CommonSettings

StubT = TypeVar("StubT")
Req = TypeVar("Req")
Resp = TypeVar("Resp")
MetadataPairs = tuple[tuple[str, str], ...]
# (service name, method name, status code name, seconds) after every call, for the caller's metrics.
CallObserver = Callable[[str, str, str, float], None]


class RpcCallError(Exception):
    """A call to `service`.`method` failed; `details` is what the service answered (or the transport's code)."""

    def __init__(self, service: str, method: str, details: ErrorDetails) -> None:
        super().__init__(f"{service} service {method}: {details.code.name}: {details.message}")
        self.service = service
        self.method = method
        self.details = details

    @classmethod
    def from_rpc_error(cls, service: str, method: str, error: grpc.RpcError) -> RpcCallError:
        return cls(service, method, details_of(error))

    @property
    def code(self) -> grpc.StatusCode:
        return self.details.code

    @property
    def message(self) -> str:
        return self.details.message

    @property
    def reason(self) -> str:
        return self.details.reason

    @property
    def field(self) -> str | None:
        return self.details.field


def method_name(method: object) -> str:
    """`GetProfile` for a stub's multi-callable (grpc.aio keeps the full path as bytes in `_method`)."""
    path = getattr(method, "_method", b"")
    if isinstance(path, bytes):
        return path.decode(errors="replace").rsplit("/", 1)[-1] or "?"
    return str(getattr(method, "__name__", "?"))


class ServiceClient(Generic[StubT]):
    """A stub plus the rules every call follows. ``await client.call(client.stub.GetProfile, request)``."""

    def __init__(
        self,
        name: str,
        service: str,
        channel: grpc.aio.Channel,
        stub: StubT,
        *,
        timeout_s: float,
        credential: MetadataPairs = (),
        extra_metadata: Callable[[], MetadataPairs] | None = None,
        observer: CallObserver | None = None,
        owns_channel: bool = True,
    ) -> None:
        """name: the short name errors and metrics use ("profile"); service: the full gRPC service name (its
        health check); credential: this caller's `authorization` metadata (see channels.auth_metadata);
        extra_metadata: computed per call, instead of the fixed credential when given."""
        self.name = name
        self.service = service
        self.channel = channel
        self.stub = stub
        self.timeout_s = timeout_s
        self._credential = credential
        self._extra_metadata = extra_metadata
        self._observer = observer
        self._owns_channel = owns_channel

    @classmethod
    def open(
        cls,
        name: str,
        service: str,
        target: str,
        settings: CommonSettings,
        stub_type: Callable[[grpc.aio.Channel], StubT],
        *,
        timeout_s: float,
        caller_token: str = "",
        observer: CallObserver | None = None,
    ) -> ServiceClient[StubT]:
        """A client on its own channel to `target` (TLS/mTLS per settings), sending `caller_token`."""
        channel = open_channel(target, settings)
        return cls(
            name,
            service,
            channel,
            stub_type(channel),
            timeout_s=timeout_s,
            credential=auth_metadata(caller_token),
            observer=observer,
        )

    def metadata(self) -> MetadataPairs:
        """The one place call metadata is built: the request id plus this caller's credential."""
        return outgoing_metadata(self._extra_metadata() if self._extra_metadata is not None else self._credential)

    async def call(
        self,
        method: grpc.aio.UnaryUnaryMultiCallable[Req, Resp],
        request: Req,
        *,
        timeout_s: float | None = None,
    ) -> Resp:
        """Calls `method` (a multi-callable of self.stub) with the deadline and metadata; RpcCallError on failure."""
        started = time.perf_counter()
        code = "OK"
        try:
            return await method(request, timeout=timeout_s or self.timeout_s, metadata=self.metadata())
        except grpc.RpcError as exc:
            error = RpcCallError.from_rpc_error(self.name, method_name(method), exc)
            code = error.code.name
            raise error from exc
        finally:
            if self._observer is not None:
                self._observer(self.name, method_name(method), code, time.perf_counter() - started)

    async def serving_status(self, timeout_s: float) -> str:
        """This service's gRPC health status (SERVING, NOT_SERVING, ...), or the failed call's code."""
        return await health.check(self.channel, self.service, timeout_s)

    async def close(self) -> None:
        if self._owns_channel:
            await self.channel.close()
