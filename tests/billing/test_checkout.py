"""CreateCheckoutSession: what Stripe receives, one customer per user however many race, and refusals that
name the field before anything is created in Stripe."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from tests.billing.conftest import MONTHLY, ONE_TIME, Standin, checkout, get_profile, new_user
from tests.support.billing_server import RunningBilling
from tests.support.grpc_errors import raises_rpc
from tests.support.profile_server import RunningProfile
from tokens.billing.v1 import billing_service_pb2 as bpb


async def test_list_prices_is_the_configured_catalogue(billing: RunningBilling):
    prices = {p.price_id: p for p in (await billing.stub.ListPrices(bpb.ListPricesRequest())).prices}
    assert set(prices) == {ONE_TIME, MONTHLY}
    assert (prices[ONE_TIME].mode, prices[ONE_TIME].tokens_per_unit) == (bpb.PRICE_MODE_PAYMENT, 5)
    assert (prices[MONTHLY].mode, prices[MONTHLY].tokens_per_unit) == (bpb.PRICE_MODE_SUBSCRIPTION, 0)
    # Amounts not configured are read from Stripe.
    assert (prices[ONE_TIME].unit_amount, prices[ONE_TIME].currency) == (500, "usd")


async def test_session_carries_owner_customer_and_session_placeholder(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid, email="buyer@example.com")
    reply = await checkout(billing, uid, quantity=2, success_url="http://localhost:8080/thanks?x=1", request_id="req-1")
    session = (
        await standin.sdk.v1.checkout.sessions.retrieve_async(reply.session_id, {"expand": ["line_items"]})
    ).to_dict()
    assert session["client_reference_id"] == uid
    assert session["metadata"] == {"uid": uid, "price_id": ONE_TIME}
    assert session["success_url"] == "http://localhost:8080/thanks?x=1&session_id={CHECKOUT_SESSION_ID}"
    assert session["cancel_url"] == "http://127.0.0.1:8080/cancel"
    assert [(li["price"]["id"], li["quantity"]) for li in session["line_items"]["data"]] == [(ONE_TIME, 2)]
    profile = await get_profile(sqlite_profile, uid)
    assert session["customer"] == profile.stripe_customer_id
    customer = (await standin.sdk.v1.customers.retrieve_async(profile.stripe_customer_id)).to_dict()
    assert customer["metadata"] == {"uid": uid}
    assert customer["email"] == "buyer@example.com"

    # The same request id is the same Stripe request: the same session comes back.
    again = await checkout(billing, uid, quantity=2, success_url="http://localhost:8080/thanks?x=1", request_id="req-1")
    assert again.session_id == reply.session_id
    # Reused with other parameters: Stripe's idempotency error, as ALREADY_EXISTS.
    async with raises_rpc(grpc.StatusCode.ALREADY_EXISTS, reason="IDEMPOTENCY_KEY_REUSED"):
        await checkout(billing, uid, quantity=3, request_id="req-1")


async def test_subscription_session_puts_uid_on_the_subscription(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    reply = await checkout(billing, uid, price_id=MONTHLY)
    done = await standin.ctl.complete_session(reply.session_id, "paid", wait=False)
    subscription = (await standin.sdk.v1.subscriptions.retrieve_async(done["subscription"])).to_dict()
    assert subscription["metadata"]["uid"] == uid


async def test_concurrent_first_checkouts_create_one_stripe_customer(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    before = (await standin.state())["counts"]["customers"]
    replies = await asyncio.gather(
        *(checkout(billing, uid, request_id=f"r{i}") for i in range(2)),
        *(checkout(billing, uid, price_id=MONTHLY, request_id=f"s{i}") for i in range(3)),
    )
    assert len({r.session_id for r in replies}) == 5
    assert (await standin.state())["counts"]["customers"] == before + 1
    customer_id = (await get_profile(sqlite_profile, uid)).stripe_customer_id
    assert customer_id
    customers = {(await standin.sdk.v1.checkout.sessions.retrieve_async(r.session_id)).customer for r in replies}
    assert customers == {customer_id}


async def test_first_checkout_creates_a_missing_profile(
    billing: RunningBilling, sqlite_profile: RunningProfile, uid: str
):
    await checkout(billing, uid, email="new@example.com")
    profile = await get_profile(sqlite_profile, uid)
    assert profile.stripe_customer_id.startswith("cus_")
    assert profile.email == "new@example.com"


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"price_id": "price_unknown"}, "price_id", "UNKNOWN_PRICE"),
        ({"price_id": ""}, "price_id", None),
        ({"mode": bpb.PRICE_MODE_SUBSCRIPTION}, "mode", "MODE_MISMATCH"),
        ({"price_id": MONTHLY, "mode": bpb.PRICE_MODE_PAYMENT}, "mode", "MODE_MISMATCH"),
        ({"mode": 7}, "mode", None),
        ({"success_url": "https://evil.example/success"}, "success_url", "REDIRECT_NOT_ALLOWED"),
        ({"success_url": "http://127.0.0.1:8081/success"}, "success_url", "REDIRECT_NOT_ALLOWED"),
        ({"success_url": "https://127.0.0.1:8080/success"}, "success_url", "REDIRECT_NOT_ALLOWED"),
        ({"success_url": "http://127.0.0.1:8080@evil.example/"}, "success_url", None),
        ({"success_url": "//evil.example/x"}, "success_url", None),
        ({"success_url": "javascript:alert(1)"}, "success_url", None),
        ({"cancel_url": "http://evil.example:8080/cancel"}, "cancel_url", "REDIRECT_NOT_ALLOWED"),
        ({"quantity": 101}, "quantity", None),
        ({"quantity": -1}, "quantity", None),
        ({"price_id": MONTHLY, "mode": bpb.PRICE_MODE_SUBSCRIPTION, "quantity": 2}, "quantity", None),
        ({"uid": ""}, "uid", None),
        ({"request_id": "x" * 101}, "request_id", None),
    ],
)
async def test_bad_checkout_requests_name_the_field_and_create_nothing(
    billing: RunningBilling,
    standin: Standin,
    sqlite_profile: RunningProfile,
    uid: str,
    fields: dict,
    field: str,
    reason: str | None,
):
    await new_user(sqlite_profile, uid)
    request = {"uid": uid, "price_id": ONE_TIME, "mode": bpb.PRICE_MODE_PAYMENT, "quantity": 1, **fields}
    async with raises_rpc(grpc.StatusCode.INVALID_ARGUMENT, reason=reason, field=field):
        await billing.stub.CreateCheckoutSession(bpb.CreateCheckoutSessionRequest(**request))
    counts = (await standin.state())["counts"]
    assert (counts["customers"], counts["checkout_sessions"]) == (0, 0)
    assert (await get_profile(sqlite_profile, uid)).stripe_customer_id == ""


async def test_a_customer_deleted_at_stripe_is_recovered(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    await checkout(billing, uid)
    old_customer = (await get_profile(sqlite_profile, uid)).stripe_customer_id
    await standin.sdk.v1.customers.delete_async(old_customer)  # deleted in the Dashboard

    reply = await checkout(billing, uid, request_id="after-delete")
    new_customer = (await get_profile(sqlite_profile, uid)).stripe_customer_id
    assert new_customer not in ("", old_customer)
    session = await standin.sdk.v1.checkout.sessions.retrieve_async(reply.session_id)
    assert session.customer == new_customer
