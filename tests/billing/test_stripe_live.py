"""The checkout and fulfilment path against real Stripe test mode. Runs only when STRIPE_TEST_SECRET_KEY
(a test-mode key) is set; skips with that reason otherwise.

A Checkout Session cannot be paid through the API, so the full grant runs when STRIPE_TEST_PAID_SESSION_ID
names a payment-mode session already paid in test mode (e.g. with card 4242 4242 4242 4242 on its hosted
page); the other checks create, fulfil (pending) and expire a fresh session.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest
import stripe

from tests.support.billing_server import billing_test_settings, run_billing_service
from tests.support.profile_server import RunningProfile
from tokens.billing.v1 import billing_service_pb2 as bpb
from tokens.profile.v1 import profile_service_pb2 as ppb

KEY = os.environ.get("STRIPE_TEST_SECRET_KEY", "")
PAID_SESSION = os.environ.get("STRIPE_TEST_PAID_SESSION_ID", "")

pytestmark = [
    pytest.mark.stripe_live,
    pytest.mark.skipif(not KEY, reason="STRIPE_TEST_SECRET_KEY is not set: real Stripe test mode not exercised"),
]


@pytest.fixture
def sdk() -> stripe.StripeClient:
    if not KEY.startswith(("sk_test_", "rk_test_")):
        pytest.fail("STRIPE_TEST_SECRET_KEY must be a test-mode key (sk_test_/rk_test_)")
    return stripe.StripeClient(KEY, max_network_retries=2, http_client=stripe.HTTPXClient(timeout=30))


def _settings(prices: list[dict]) -> object:
    return billing_test_settings(
        stripe_secret_key=KEY,
        stripe_webhook_secret="whsec_unused_in_this_test",
        billing_catalogue=json.dumps(prices),
        stripe_timeout_s=30,
    )


async def test_checkout_session_in_test_mode_then_pending_then_expired(
    sdk: stripe.StripeClient, sqlite_profile: RunningProfile, uid: str
):
    price = (
        await sdk.v1.prices.create_async(
            {
                "currency": "usd",
                "unit_amount": 500,
                "product_data": {"name": "token-backend test pack"},
            }
        )
    ).to_dict()
    settings = _settings([{"price_id": price["id"], "mode": "payment", "tokens_per_unit": 5}])
    await sqlite_profile.stub.CreateProfile(ppb.CreateProfileRequest(uid=uid, email=f"{uid}@example.com"))
    async with run_billing_service(settings, sqlite_profile.target) as billing:
        reply = await billing.stub.CreateCheckoutSession(
            bpb.CreateCheckoutSessionRequest(
                uid=uid, price_id=price["id"], mode=bpb.PRICE_MODE_PAYMENT, request_id=uuid.uuid4().hex
            )
        )
        assert reply.url.startswith("https://checkout.stripe.com/")
        session = (await sdk.v1.checkout.sessions.retrieve_async(reply.session_id)).to_dict()
        assert session["client_reference_id"] == uid and session["metadata"]["uid"] == uid
        profile = (await sqlite_profile.stub.GetProfile(ppb.GetProfileRequest(uid=uid))).profile
        assert session["customer"] == profile.stripe_customer_id

        fulfil = bpb.FulfillCheckoutSessionRequest(session_id=reply.session_id, uid=uid)
        pending = await billing.stub.FulfillCheckoutSession(fulfil)
        assert (pending.status, pending.payment_status) == (bpb.FULFILLMENT_STATUS_PENDING, "unpaid")

        await sdk.v1.checkout.sessions.expire_async(reply.session_id)
        assert (await billing.stub.FulfillCheckoutSession(fulfil)).status == bpb.FULFILLMENT_STATUS_FAILED
        assert (await sqlite_profile.stub.GetProfile(ppb.GetProfileRequest(uid=uid))).profile.tokens == 0


@pytest.mark.skipif(
    bool(KEY) and not PAID_SESSION, reason="STRIPE_TEST_PAID_SESSION_ID is not set: no paid test-mode session"
)
async def test_paid_test_mode_session_grants_once(sdk: stripe.StripeClient, sqlite_profile: RunningProfile):
    session = (await sdk.v1.checkout.sessions.retrieve_async(PAID_SESSION, {"expand": ["line_items"]})).to_dict()
    assert session["payment_status"] == "paid" and session["mode"] == "payment"
    owner = session.get("client_reference_id") or (session.get("metadata") or {}).get("uid")
    assert owner, "the paid session needs client_reference_id or metadata.uid"
    items = session["line_items"]["data"]
    prices = [{"price_id": pid, "mode": "payment", "tokens_per_unit": 5} for pid in {li["price"]["id"] for li in items}]
    expected = 5 * sum(li["quantity"] for li in items)
    await sqlite_profile.stub.CreateProfile(ppb.CreateProfileRequest(uid=owner))
    async with run_billing_service(_settings(prices), sqlite_profile.target) as billing:
        request = bpb.FulfillCheckoutSessionRequest(session_id=PAID_SESSION, uid=owner)
        first = await billing.stub.FulfillCheckoutSession(request)
        again = await billing.stub.FulfillCheckoutSession(request)
    assert (first.status, first.tokens_granted, first.already_applied) == (
        bpb.FULFILLMENT_STATUS_FULFILLED,
        expected,
        False,
    )
    assert (again.tokens_granted, again.already_applied, again.balance) == (expected, True, expected)
