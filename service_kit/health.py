"""The one gRPC health check (grpc.health.v1 Check) every caller uses: the probe CLI, `make run`'s readiness
waiter, the gateway's /readyz and ServiceClient.serving_status."""

from __future__ import annotations

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2

from service_kit.request_context import outgoing_metadata

SERVING = "SERVING"
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


async def check(channel: grpc.aio.Channel, service: str = "", timeout_s: float = 3.0) -> str:
    """SERVING, NOT_SERVING, SERVICE_UNKNOWN ... or the failed call's code name (UNAVAILABLE when nothing
    listens, DEADLINE_EXCEEDED when it did not answer in time)."""
    try:
        check_call = channel.unary_unary(
            f"/{HEALTH_SERVICE}/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        reply = await check_call(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout_s, metadata=outgoing_metadata()
        )
    except grpc.RpcError as exc:
        code = exc.code() if hasattr(exc, "code") else None
        return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
