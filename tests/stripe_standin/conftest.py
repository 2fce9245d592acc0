"""Fixtures for the Stripe stand-in tests: the stand-in on a free port, a webhook receiver, SDK clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devtools.stripe_standin import StandinControl, StandinSettings, run_standin, serve_app

SECRET = "whsec_test_standin_suite"
API_KEY = "sk_test_standin_suite"


@dataclass
class Received:
    payload: str
    signature: str
    content_type: str


@dataclass
class WebhookReceiver:
    """A tiny endpoint that records deliveries and answers with scripted status codes (then 200)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    script: list[int] = field(default_factory=list)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, request: Request) -> Response:
        item = Received(
            (await request.body()).decode(),
            request.headers.get("stripe-signature", ""),
            request.headers.get("content-type", ""),
        )
        status = self.script.pop(0) if self.script else 200
        async with self._arrived:
            self.received.append(item)
            self._arrived.notify_all()
        return Response("ok" if status < 300 else "boom", status_code=status)

    def events(self) -> list[stripe.Event]:
        """Successfully answered deliveries, verified exactly as a Stripe integration would."""
        return [stripe.Webhook.construct_event(r.payload, r.signature, SECRET) for r in self.received]

    async def wait_for(self, count: int, timeout_s: float = 5.0) -> None:
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.received) >= count), timeout_s)


@dataclass
class Standin:
    url: str
    client: stripe.StripeClient
    ctl: StandinControl

    def sdk(self, api_key: str = API_KEY, **kwargs: object) -> stripe.StripeClient:
        return stripe.StripeClient(api_key, base_addresses={"api": self.url}, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    rx = WebhookReceiver()
    app = Starlette(routes=[Route("/webhook", rx.handle, methods=["POST"])])
    async with serve_app(app) as base_url:
        rx.url = f"{base_url}/webhook"
        yield rx


@pytest.fixture
async def standin(receiver: WebhookReceiver) -> AsyncIterator[Standin]:
    settings = StandinSettings(webhook_url=receiver.url, webhook_secret=SECRET)
    async with run_standin(settings) as url:
        ctl = StandinControl(url)
        # No automatic retries unless a test asks: the SDK would otherwise hide failures.
        client = stripe.StripeClient(API_KEY, base_addresses={"api": url}, max_network_retries=0)
        try:
            yield Standin(url, client, ctl)
        finally:
            await ctl.aclose()
