"""Building the gateway against running services, for tests.

settings = gateway_test_settings(issuer, profile_target=..., billing_target=...)
async with gateway_client(settings) as (app, client):      # ASGI transport, lifespan run
    r = await client.get("/v1/profile", headers=issuer.auth_headers(uid))
async with serve_gateway(settings) as served:             # real uvicorn on 127.0.0.1:0
    served.url  # "http://127.0.0.1:PORT"
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import uvicorn
from fastapi import FastAPI

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.support.firebase_tokens import FirebaseTestIssuer

# A port nothing listens on: for the service a test does not need (calls to it fail fast with UNAVAILABLE).
DEAD_TARGET = "127.0.0.1:1"


def gateway_test_settings(
    issuer: FirebaseTestIssuer,
    *,
    profile_target: str = DEAD_TARGET,
    billing_target: str = DEAD_TARGET,
    **overrides: object,
) -> GatewaySettings:
    """Every field that could reach the outside world is explicit: the certificate URL is the test's own."""
    values: dict[str, object] = dict(
        app_env="local",
        gateway_listen="127.0.0.1:0",
        profile_target=profile_target,
        billing_target=billing_target,
        firebase_project_id=issuer.project_id,
        firebase_cert_url=issuer.cert_url,
        firebase_auth_emulator_host=None,
        cors_origins=["http://localhost:3000"],
        downstream_timeout_s=5.0,
        # Plain channels without a service credential unless a test asks (the services in tests run open).
        auth_token_gateway="",
        tls_ca_file="",
        tls_client_cert_file="",
        tls_client_key_file="",
        tls_server_name="",
        # Off unless a test is about it (tests/gateway/test_rate_limits.py): suites write freely as one user.
        rate_limit_writes="",
    )
    values.update(overrides)
    return GatewaySettings(_env_file=None, **values)


@contextlib.asynccontextmanager
async def gateway_client(
    settings: GatewaySettings,
    app: FastAPI | None = None,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app (lifespan entered, so channels are open) and an httpx client on the ASGI transport."""
    app = app or create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield app, client


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: Ctrl-C stays pytest's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class ServedGateway:
    url: str
    app: FastAPI
    server: uvicorn.Server


def bound_socket() -> socket.socket:
    """A listening-ready socket on 127.0.0.1:0, so a caller can know the port before the app exists."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def serve_gateway(
    settings: GatewaySettings, app: FastAPI | None = None, sock: socket.socket | None = None
) -> AsyncIterator[ServedGateway]:
    """The gateway served by uvicorn on 127.0.0.1 (on `sock` if given, else a free port) in this event loop,
    as `python -m gateway` does."""
    app = app or create_app(settings)
    sock = sock or bound_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", server_header=False)
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(1000):
            if server.started:
                break
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        else:
            raise RuntimeError("uvicorn did not start")
        yield ServedGateway(f"http://127.0.0.1:{port}", app, server)
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        sock.close()


@dataclass
class ThreadedStack:
    """Everything real, on its own event loop in a background thread, for synchronous clients
    (schemathesis, requests): the profile service (SQLite), the Stripe stand-in, billing, and the gateway
    served by uvicorn. The stand-in's webhooks go to the gateway."""

    gateway_url: str
    standin_url: str
    profile_target: str
    billing_target: str
    settings: GatewaySettings


@contextlib.contextmanager
def stack_in_thread(
    issuer: FirebaseTestIssuer,
    sqlite_path: str,
    **gateway_overrides: object,
) -> Iterator[ThreadedStack]:
    import threading

    from devtools.stripe_standin import StandinControl, StandinSettings, run_standin
    from profile_service.store.sqlite_store import SqliteStore
    from tests.support.billing_server import STANDIN_WEBHOOK_SECRET, run_billing_service
    from tests.support.profile_server import run_profile_service

    box: dict[str, object] = {}
    started = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            profile = await stack.enter_async_context(run_profile_service(SqliteStore(sqlite_path)))
            standin_url = await stack.enter_async_context(
                run_standin(StandinSettings(webhook_url="", webhook_secret=STANDIN_WEBHOOK_SECRET))
            )
            billing = await stack.enter_async_context(
                run_billing_service(profile_target=profile.target, standin_url=standin_url)
            )
            settings = gateway_test_settings(
                issuer, profile_target=profile.target, billing_target=billing.target, **gateway_overrides
            )
            served = await stack.enter_async_context(serve_gateway(settings))
            async with StandinControl(standin_url) as control:
                await control.configure(webhook_url=f"{served.url}/v1/stripe/webhook")
            box["stack"] = ThreadedStack(served.url, standin_url, profile.target, billing.target, settings)
            started.set()
            await stop.wait()

    def runner() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:
            box["error"] = exc
        finally:
            started.set()

    thread = threading.Thread(target=runner, name="gateway-stack", daemon=True)
    thread.start()
    started.wait(60)
    if "stack" not in box:
        thread.join(5)
        raise RuntimeError(f"stack did not start: {box.get('error')!r}")
    try:
        yield box["stack"]  # type: ignore[misc]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()
