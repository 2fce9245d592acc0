"""Checkout fulfilment: pay -> +5 tokens exactly once, however often and from wherever it runs."""

from __future__ import annotations

import asyncio

import grpc

from tests.billing.conftest import (
    ONE_TIME,
    Standin,
    checkout,
    deliver,
    get_profile,
    history,
    new_user,
)
from tests.support.billing_server import RunningBilling, WebhookRelay
from tests.support.grpc_errors import raises_rpc
from tests.support.profile_server import RunningProfile
from tokens.billing.v1 import billing_service_pb2 as bpb
from tokens.profile.v1 import profile_service_pb2 as ppb


async def test_happy_path_pay_grants_five_tokens_once(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid)
    assert session.session_id.startswith("cs_") and session.url

    done = await standin.ctl.complete_session(session.session_id, "paid")  # waits for webhook delivery
    assert [d["status"] for d in done["deliveries"]] == ["delivered"]
    assert ("checkout.session.completed", 200) in relay.deliveries

    profile = await get_profile(sqlite_profile, uid)
    assert profile.tokens == 5
    assert profile.one_time_purchase is True
    assert profile.HasField("purchase_date")
    assert (profile.price_id, profile.product_id) == (ONE_TIME, "prod_token_pack")
    entries = await history(sqlite_profile, uid)
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.amount, entry.type, entry.idempotency_key) == (
        5,
        ppb.TOKEN_ENTRY_TYPE_PURCHASE,
        f"checkout:{session.session_id}",
    )
    assert entry.source["checkout_session_id"] == session.session_id
    assert entry.source["payment_intent"] == done["payment_intent"]

    # The success page calls fulfil too: same answer, nothing more granted.
    reply = await billing.stub.FulfillCheckoutSession(
        bpb.FulfillCheckoutSessionRequest(session_id=session.session_id, uid=uid)
    )
    assert reply.status == bpb.FULFILLMENT_STATUS_FULFILLED
    assert (reply.tokens_granted, reply.balance, reply.payment_status, reply.already_applied) == (5, 5, "paid", True)
    assert (await get_profile(sqlite_profile, uid)).tokens == 5


async def test_fifty_concurrent_deliveries_and_success_page_grant_once(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid)
    await standin.ctl.complete_session(session.session_id, "paid", wait=False)  # webhooks off: we deliver
    (event,) = await standin.events("checkout.session.completed", id=session.session_id)
    payload, signature = await standin.signed(event["id"])

    results = await asyncio.gather(
        *(deliver(billing, payload, signature) for _ in range(50)),
        billing.stub.FulfillCheckoutSession(bpb.FulfillCheckoutSessionRequest(session_id=session.session_id, uid=uid)),
    )
    webhook_replies, page = results[:50], results[50]
    assert {r.action for r in webhook_replies} == {"fulfilled"}
    assert {r.event_id for r in webhook_replies} == {event["id"]}
    assert page.status == bpb.FULFILLMENT_STATUS_FULFILLED and page.tokens_granted == 5
    profile = await get_profile(sqlite_profile, uid)
    assert profile.tokens == 5
    assert [e.amount for e in await history(sqlite_profile, uid)] == [5]


async def test_quantity_multiplies_tokens(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid, quantity=3)
    await standin.ctl.complete_session(session.session_id, "paid")
    assert (await get_profile(sqlite_profile, uid)).tokens == 15


async def test_async_payment_grants_only_when_it_succeeds(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid)
    request = bpb.FulfillCheckoutSessionRequest(session_id=session.session_id, uid=uid)

    # Open session: nothing yet.
    reply = await billing.stub.FulfillCheckoutSession(request)
    assert (reply.status, reply.payment_status, reply.tokens_granted) == (bpb.FULFILLMENT_STATUS_PENDING, "unpaid", 0)

    # completed with payment_status=unpaid (e.g. a bank debit): nothing granted.
    await standin.ctl.complete_session(session.session_id, "async_pending")
    assert ("checkout.session.completed", 200) in relay.deliveries
    assert (await get_profile(sqlite_profile, uid)).tokens == 0
    assert await history(sqlite_profile, uid) == []
    reply = await billing.stub.FulfillCheckoutSession(request)
    assert (reply.status, reply.payment_status) == (bpb.FULFILLMENT_STATUS_PENDING, "unpaid")

    # async_payment_succeeded: +5.
    await standin.ctl.complete_session(session.session_id, "async_succeeded")
    assert ("checkout.session.async_payment_succeeded", 200) in relay.deliveries
    assert (await get_profile(sqlite_profile, uid)).tokens == 5
    assert len(await history(sqlite_profile, uid)) == 1


async def test_async_payment_failure_grants_nothing(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid)
    actions = {}
    for outcome in ("async_pending", "async_failed"):
        await standin.ctl.complete_session(session.session_id, outcome, wait=False)
        event = (await standin.events(id=session.session_id))[-1]
        payload, signature = await standin.signed(event["id"])
        actions[event["type"]] = (await deliver(billing, payload, signature)).action
    assert actions == {
        "checkout.session.completed": "pending",
        "checkout.session.async_payment_failed": "payment_failed",
    }
    reply = await billing.stub.FulfillCheckoutSession(
        bpb.FulfillCheckoutSessionRequest(session_id=session.session_id, uid=uid)
    )
    assert (reply.status, reply.tokens_granted) == (bpb.FULFILLMENT_STATUS_FAILED, 0)
    assert (await get_profile(sqlite_profile, uid)).tokens == 0


async def test_expired_session_is_failed(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid)
    await standin.sdk.v1.checkout.sessions.expire_async(session.session_id)
    reply = await billing.stub.FulfillCheckoutSession(bpb.FulfillCheckoutSessionRequest(session_id=session.session_id))
    assert reply.status == bpb.FULFILLMENT_STATUS_FAILED
    assert (await get_profile(sqlite_profile, uid)).tokens == 0


async def test_fulfil_checks_the_owner_and_the_session(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid)
    await standin.ctl.complete_session(session.session_id, "paid", wait=False)
    async with raises_rpc(grpc.StatusCode.PERMISSION_DENIED, field="uid"):
        await billing.stub.FulfillCheckoutSession(
            bpb.FulfillCheckoutSessionRequest(session_id=session.session_id, uid="someone-else")
        )
    async with raises_rpc(grpc.StatusCode.NOT_FOUND, reason="STRIPE_RESOURCE_MISSING"):
        await billing.stub.FulfillCheckoutSession(bpb.FulfillCheckoutSessionRequest(session_id="cs_test_nope"))
    async with raises_rpc(grpc.StatusCode.INVALID_ARGUMENT, field="session_id"):
        await billing.stub.FulfillCheckoutSession(bpb.FulfillCheckoutSessionRequest(session_id=""))
    # Without a uid (the webhook's view) it grants to the session's owner.
    reply = await billing.stub.FulfillCheckoutSession(bpb.FulfillCheckoutSessionRequest(session_id=session.session_id))
    assert (reply.status, reply.tokens_granted, reply.balance) == (bpb.FULFILLMENT_STATUS_FULFILLED, 5, 5)
