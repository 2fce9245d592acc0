"""/healthz (liveness: the process answers), /readyz (both services SERVING per grpc.health.v1, asked with
service_kit's one health check). Metrics are not here: they are served on METRICS_LISTEN only (gateway.__main__)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from gateway.downstream import Downstream
from gateway.errors import ErrorResponse, api_error
from gateway.schemas import Liveness, Readiness
from service_kit import health

router = APIRouter(tags=["health"])

READY_TIMEOUT_S = 1.0


@router.get("/healthz", response_model=Liveness, summary="Liveness")
async def healthz() -> Liveness:
    return Liveness()


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: both gRPC services report SERVING",
    responses={503: {"model": ErrorResponse, "description": "A service is not SERVING."}},
)
async def readyz(request: Request) -> Readiness:
    downstream: Downstream = request.app.state.downstream
    timeout = min(READY_TIMEOUT_S, request.app.state.settings.downstream_timeout_s)
    profile, billing = await asyncio.gather(
        downstream.profile.serving_status(timeout), downstream.billing.serving_status(timeout)
    )
    services = {"profile": profile, "billing": billing}
    if any(state != health.SERVING for state in services.values()):
        summary = ", ".join(f"{name}: {state}" for name, state in services.items())
        raise api_error(
            503,
            f"not ready ({summary})",
            "NOT_READY",
            headers={"Retry-After": str(request.app.state.settings.retry_after_s)},
        )
    return Readiness(services=services)
