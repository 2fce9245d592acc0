"""Billing fixtures: the real billing service over gRPC, the real profile service (SQLite), the Stripe
stand-in in the same loop, the real stripe SDK, and an HTTP relay so the stand-in delivers webhooks to
billing the way the gateway would (2xx only when billing answered OK)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import stripe

from devtools.stripe_standin import StandinControl, StandinSettings, run_standin
from tests.support.billing_server import (
    RunningBilling,
    WebhookRelay,
    billing_test_settings,
    run_billing_service,
    run_webhook_relay,
)
from tests.support.profile_server import RunningProfile
from tokens.billing.v1 import billing_service_pb2 as bpb
from tokens.profile.v1 import profile_service_pb2 as ppb

WEBHOOK_SECRET = "whsec_billing_suite_secret"
API_KEY = "sk_test_billing_suite"
ONE_TIME = "price_onetime_5_tokens"
MONTHLY = "price_subscription_monthly"


@dataclass
class Standin:
    url: str
    ctl: StandinControl
    sdk: stripe.StripeClient

    async def state(self) -> dict[str, Any]:
        return await self.ctl.state()

    async def events(self, event_type: str | None = None, **object_fields: Any) -> list[dict[str, Any]]:
        """Events oldest first, optionally filtered by type and data.object fields."""
        found = []
        for event in await self.ctl.events():
            if event_type and event["type"] != event_type:
                continue
            obj = event["data"]["object"]
            if all(obj.get(k) == v for k, v in object_fields.items()):
                found.append(event)
        return found

    async def signed(self, event_id: str) -> tuple[bytes, str]:
        signed = await self.ctl.signed_event(event_id)
        return signed["payload"].encode(), signed["signature_header"]


@pytest.fixture
async def standin() -> AsyncIterator[Standin]:
    # Webhooks go nowhere until a test (or the `delivering` fixture) points them at the relay.
    settings = StandinSettings(webhook_url="", webhook_secret=WEBHOOK_SECRET, webhook_max_attempts=8)
    async with run_standin(settings) as url:
        ctl = StandinControl(url)
        http_client = stripe.HTTPXClient(timeout=10)
        sdk = stripe.StripeClient(API_KEY, base_addresses={"api": url}, max_network_retries=0, http_client=http_client)
        try:
            yield Standin(url, ctl, sdk)
        finally:
            await http_client.close_async()
            await ctl.aclose()


@pytest.fixture
async def billing(standin: Standin, sqlite_profile: RunningProfile) -> AsyncIterator[RunningBilling]:
    settings = billing_test_settings(stripe_secret_key=API_KEY, stripe_webhook_secret=WEBHOOK_SECRET)
    async with run_billing_service(settings, sqlite_profile.target, standin.url) as running:
        yield running


@pytest.fixture
async def relay(billing: RunningBilling, standin: Standin) -> AsyncIterator[WebhookRelay]:
    """Turns on automatic delivery: the stand-in POSTs every new event to billing through the relay."""
    async with run_webhook_relay(billing.stub) as running:
        await standin.ctl.configure(webhook_url=running.url)
        yield running
        await standin.ctl.configure(webhook_url="")


# --- helpers -------------------------------------------------------------------------------------


async def new_user(profile: RunningProfile, uid: str, email: str = "") -> ppb.UserProfile:
    reply = await profile.stub.CreateProfile(ppb.CreateProfileRequest(uid=uid, email=email or f"{uid}@example.com"))
    return reply.profile


async def get_profile(profile: RunningProfile, uid: str) -> ppb.UserProfile:
    return (await profile.stub.GetProfile(ppb.GetProfileRequest(uid=uid))).profile


async def history(profile: RunningProfile, uid: str) -> list[ppb.TokenTransaction]:
    return list((await profile.stub.ListTokenHistory(ppb.ListTokenHistoryRequest(uid=uid, page_size=100))).entries)


async def checkout(
    billing: RunningBilling, uid: str, price_id: str = ONE_TIME, quantity: int = 1, **fields: Any
) -> bpb.CreateCheckoutSessionResponse:
    mode = bpb.PRICE_MODE_SUBSCRIPTION if price_id == MONTHLY else bpb.PRICE_MODE_PAYMENT
    return await billing.stub.CreateCheckoutSession(
        bpb.CreateCheckoutSessionRequest(
            uid=uid,
            price_id=price_id,
            mode=fields.pop("mode", mode),
            quantity=quantity,
            **fields,
        )
    )


async def deliver(billing: RunningBilling, payload: bytes, signature: str) -> bpb.HandleStripeWebhookResponse:
    return await billing.stub.HandleStripeWebhook(
        bpb.HandleStripeWebhookRequest(payload=payload, signature_header=signature), timeout=30
    )


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 15.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(interval)
