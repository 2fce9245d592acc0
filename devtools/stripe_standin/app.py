"""ASGI app factory for the Stripe stand-in."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .api_routes import api_routes
from .checkout_page import checkout_routes
from .config import StandinSettings
from .control_routes import control_routes
from .errors import api_error, unrecognized_url
from .faults import FaultMiddleware
from .persistence import SaveStateMiddleware
from .portal import portal_routes
from .responses import RequestIdMiddleware, error_response
from .runtime import Standin


async def _not_found(request: Request, _exc: Exception) -> Response:
    # Unknown paths and wrong methods both look like Stripe's "Unrecognized request URL".
    return error_response(unrecognized_url(request.method, request.url.path))


async def _server_error(_request: Request, _exc: Exception) -> Response:
    return error_response(api_error())


async def _health(_request: Request) -> Response:
    return Response("ok", media_type="text/plain")


def create_app(settings: StandinSettings | None = None) -> Starlette:
    """The stand-in as an ASGI app; its live state is `app.state.standin` (a runtime.Standin)."""
    standin = Standin(settings or StandinSettings())

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await standin.aclose()  # stop webhook retries, close the HTTP client

    app = Starlette(
        routes=[*api_routes(), *control_routes(), *checkout_routes(), *portal_routes(), Route("/healthz", _health)],
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(FaultMiddleware, registry=standin.faults),
            Middleware(SaveStateMiddleware, standin=standin),
        ],
        exception_handlers={404: _not_found, 405: _not_found, Exception: _server_error},
        lifespan=lifespan,
    )
    app.state.standin = standin
    return app
