"""gRPC channels to the profile and billing services, and the one way the routers call them: with a
deadline, the request id as metadata, and failures translated by the table in gateway/errors.py."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.errors import from_rpc_error
from gateway.metrics import GatewayMetrics
from gateway.settings import GatewaySettings
from service_kit.channels import auth_metadata, open_channel
from service_kit.request_context import outgoing_metadata
from tokens.billing.v1 import billing_service_pb2 as billing_pb
from tokens.billing.v1 import billing_service_pb2_grpc as billing_grpc
from tokens.profile.v1 import profile_service_pb2 as profile_pb
from tokens.profile.v1 import profile_service_pb2_grpc as profile_grpc

PROFILE_SERVICE = profile_pb.DESCRIPTOR.services_by_name["ProfileService"].full_name
BILLING_SERVICE = billing_pb.DESCRIPTOR.services_by_name["BillingService"].full_name

StubT = TypeVar("StubT")
Resp = TypeVar("Resp")


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
        retry_after_s: int,
        metrics: GatewayMetrics | None = None,
        credential: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.name = name
        self._credential = credential
        self.service = service
        self.channel = channel
        self.stub = stub
        self.health = health_pb2_grpc.HealthStub(channel)
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self._metrics = metrics

    async def call(
        self, method: Callable[..., Awaitable[Resp]], request: Any, *, timeout_s: float | None = None
    ) -> Resp:
        started = time.perf_counter()
        code = "OK"
        try:
            return await method(
                request, timeout=timeout_s or self.timeout_s, metadata=outgoing_metadata(self._credential)
            )
        except grpc.RpcError as exc:
            error = from_rpc_error(exc, self.retry_after_s, self.name)
            code = error.code
            raise error from None
        finally:
            if self._metrics is not None:
                rpc = getattr(method, "_method", b"")
                rpc_name = rpc.decode(errors="replace").rsplit("/", 1)[-1] if isinstance(rpc, bytes) else "?"
                self._metrics.downstream.labels(self.name, rpc_name or "?", code).observe(time.perf_counter() - started)

    async def serving_status(self, timeout_s: float) -> str:
        """The gRPC health status of this service (SERVING, NOT_SERVING, ...), or the call's failure code."""
        try:
            reply = await self.health.Check(
                health_pb2.HealthCheckRequest(service=self.service), timeout=timeout_s, metadata=outgoing_metadata()
            )
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


class Downstream:
    """Both clients. Opened and closed by the app's lifespan."""

    def __init__(
        self,
        profile: ServiceClient[profile_grpc.ProfileServiceStub],
        billing: ServiceClient[billing_grpc.BillingServiceStub],
    ) -> None:
        self.profile = profile
        self.billing = billing

    @classmethod
    def open(cls, settings: GatewaySettings, metrics: GatewayMetrics | None = None) -> Downstream:
        # service_kit's channels: TLS (mTLS) when configured; the gateway's service credential on every call.
        profile_channel = open_channel(settings.profile_target, settings)
        billing_channel = open_channel(settings.billing_target, settings)
        common = {
            "timeout_s": settings.downstream_timeout_s,
            "retry_after_s": settings.retry_after_s,
            "metrics": metrics,
            "credential": auth_metadata(settings.auth_token_gateway.get_secret_value()),
        }
        return cls(
            ServiceClient(
                "profile", PROFILE_SERVICE, profile_channel, profile_grpc.ProfileServiceStub(profile_channel), **common
            ),
            ServiceClient(
                "billing", BILLING_SERVICE, billing_channel, billing_grpc.BillingServiceStub(billing_channel), **common
            ),
        )

    async def close(self) -> None:
        await self.profile.channel.close()
        await self.billing.channel.close()
