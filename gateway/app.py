"""create_app(settings) -> FastAPI. Channels, the certificate fetcher and metrics live on ``app.state``;
the lifespan opens and closes them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from gateway.auth import CertificateCache, FirebaseTokenVerifier
from gateway.downstream import Downstream
from gateway.errors import install_error_handlers
from gateway.local_dev import LocalDev
from gateway.metrics import GatewayMetrics
from gateway.middleware import BodyLimitMiddleware, JsonCORSMiddleware, RequestContextMiddleware
from gateway.rate_limits import WriteRateLimiter
from gateway.routers import billing_portal, checkout_sessions, health, prices, profile, profile_events, stripe_webhook
from gateway.settings import GatewaySettings
from service_kit import tracing

API_TITLE = "Token backend gateway"
API_VERSION = "1.0.0"
WEBHOOK_PATH = "/v1/stripe/webhook"
DOCS_ASSETS_PATH = "/docs-assets"

log = logging.getLogger("gateway")


def create_app(settings: GatewaySettings) -> FastAPI:
    metrics = GatewayMetrics()
    # Local profile only (the settings refuse it in production): dev sign-in and the try-it page.
    local_dev = LocalDev(settings) if settings.local_dev_sign_in else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        http = httpx.AsyncClient(timeout=httpx.Timeout(5.0), follow_redirects=False)
        certs = CertificateCache(
            settings.firebase_cert_url,
            http,
            min_refresh_s=settings.auth_certs_min_refresh_s,
            retry_after_s=settings.retry_after_s,
        )
        app.state.verifier = FirebaseTokenVerifier(
            settings.firebase_project_id,
            certs,
            allow_unsigned=bool(settings.firebase_auth_emulator_host),
            clock_skew_s=settings.auth_clock_skew_s,
            static_certs=local_dev.start(app) if local_dev else None,
        )
        app.state.downstream = Downstream.open(settings, metrics)
        loop = type(asyncio.get_running_loop())
        log.info("gateway started", extra={"fields": {"event_loop": f"{loop.__module__}.{loop.__qualname__}"}})
        try:
            yield
        finally:
            await app.state.downstream.close()
            await http.aclose()

    # /docs and /redoc with Swagger UI's and ReDoc's files served from the pinned fastapi-offline package,
    # under DOCS_ASSETS_PATH: the pages work without a CDN (offline, or behind a strict firewall).
    app = FastAPIOffline(
        static_url=DOCS_ASSETS_PATH,
        # Swagger UI would otherwise ask validator.swagger.io for a badge.
        swagger_ui_parameters={"validatorUrl": None},
        # Traces come from service_kit.tracing (OpenTelemetry's FastAPI instrumentation, with the services'
        # gRPC spans); FastAPI's own telemetry would otherwise look up three global providers per request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        title=API_TITLE,
        version=API_VERSION,
        description="HTTP API for the frontend: the signed-in user's profile, token history and Stripe "
        'Checkout, plus Stripe\'s webhook. Errors are always {"error": {code, message, reason, field?}}.',
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.write_limiter = (
        WriteRateLimiter(settings.rate_limit_writes, settings.rate_limit_storage_uri)
        if settings.rate_limit_writes
        else None
    )

    install_error_handlers(app)
    for router in (profile.router, prices.router, checkout_sessions.router, stripe_webhook.router, health.router):
        app.include_router(router)
    app.include_router(profile_events.router)
    app.include_router(billing_portal.router)
    if local_dev:
        app.include_router(local_dev.router)

    # Added innermost first: the request context wraps everything, CORS answers pre-flights before the
    # body is read, and the body limit sits right in front of the routes.
    app.add_middleware(
        BodyLimitMiddleware,
        default_limit=settings.max_body_bytes,
        limit_for_path=lambda path: (
            settings.webhook_max_body_bytes if path == WEBHOOK_PATH else settings.max_body_bytes
        ),
    )
    app.add_middleware(
        JsonCORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PATCH"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Retry-After", "Location"],
        allow_credentials=False,
        max_age=600,
    )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    # Outermost when tracing is on (service_kit.tracing): the server span, its trace id in the request's logs.
    tracing.instrument_fastapi(app)
    return app
