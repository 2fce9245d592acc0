"""The whole stack for a browser, in the test's event loop: the profile service (SQLite), the Stripe
stand-in, billing and the gateway served by real uvicorn, each on its own 127.0.0.1 port, plus a second
origin: a tiny static "app" (tests/browser/other_origin.py) that buys through the compiled TypeScript client.

The gateway's and the app's ports are bound first so everything that sends the browser back agrees with them:
billing's default success/cancel URLs and allowed redirect origins, the gateway's CORS and redirect origins,
and the stand-in's webhook URL (the gateway's /v1/stripe/webhook). The stand-in's pages are on its own address."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from devtools.stripe_standin import StandinSettings, run_standin
from profile_service.store.sqlite_store import SqliteStore
from tests.browser.other_origin import other_origin_app
from tests.gateway.harness import bound_socket, gateway_test_settings, serve_gateway
from tests.support.billing_server import STANDIN_WEBHOOK_SECRET, billing_test_settings, run_billing_service
from tests.support.firebase_tokens import firebase_issuer
from tests.support.profile_server import run_profile_service


@dataclass
class BrowserStack:
    gateway_url: str
    standin_url: str
    # The other origin's app (a Next.js app on :3000 would be the real one).
    other_url: str


@contextlib.asynccontextmanager
async def browser_stack(sqlite_path: Path) -> AsyncIterator[BrowserStack]:
    sock, other_sock = bound_socket(), bound_socket()
    origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
    other = f"http://127.0.0.1:{other_sock.getsockname()[1]}"
    try:
        # The page signs in with the gateway's development key; this issuer only fills the settings
        # (its local certificate URL keeps anything from reaching Google).
        with firebase_issuer() as issuer:
            async with contextlib.AsyncExitStack() as stack:
                profile = await stack.enter_async_context(run_profile_service(SqliteStore(sqlite_path)))
                standin_url = await stack.enter_async_context(
                    run_standin(
                        StandinSettings(
                            webhook_url=f"{origin}/v1/stripe/webhook", webhook_secret=STANDIN_WEBHOOK_SECRET
                        )
                    )
                )
                billing = await stack.enter_async_context(
                    run_billing_service(
                        billing_test_settings(
                            allowed_redirect_origins=[origin, other],
                            default_success_url=f"{origin}/success?session_id={{CHECKOUT_SESSION_ID}}",
                            default_cancel_url=f"{origin}/cancel",
                        ),
                        profile_target=profile.target,
                        standin_url=standin_url,
                    )
                )
                settings = gateway_test_settings(
                    issuer,
                    profile_target=profile.target,
                    billing_target=billing.target,
                    downstream_timeout_s=15.0,
                    cors_origins=[other],
                    allowed_redirect_origins=[origin, other],
                    profile_events_keepalive_s=5.0,
                )
                await stack.enter_async_context(serve_gateway(settings, sock=sock))
                await stack.enter_async_context(serve_gateway(settings, app=other_origin_app(origin), sock=other_sock))
                yield BrowserStack(origin, standin_url, other)
    finally:
        sock.close()
        other_sock.close()
