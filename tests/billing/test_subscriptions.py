"""Subscription events -> entitlements, from all of the customer's subscriptions as Stripe has them now,
stamped with the time billing read them: nothing in the event (its status, its `created` time) decides, so
late, reordered or oddly dated events cannot leave a wrong state."""

from __future__ import annotations

import json
import time

import grpc
import stripe

from tests.billing.conftest import MONTHLY, WEBHOOK_SECRET, Standin, checkout, deliver, get_profile, new_user
from tests.support.billing_server import RunningBilling, WebhookRelay
from tests.support.grpc_errors import raises_rpc
from tests.support.profile_server import RunningProfile
from tokens.billing.v1 import billing_service_pb2 as bpb


async def test_access_on_when_subscribed_and_off_after_deleted(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid, price_id=MONTHLY)
    done = await standin.ctl.complete_session(session.session_id, "paid")
    assert all(d["status"] == "delivered" for d in done["deliveries"])

    profile = await get_profile(sqlite_profile, uid)
    assert (profile.has_access, profile.subscription_status) == (True, "active")
    subscription = (await standin.sdk.v1.subscriptions.retrieve_async(done["subscription"])).to_dict()
    assert profile.current_period_end.seconds == subscription["items"]["data"][0]["current_period_end"]
    assert profile.tokens == 0  # a subscription grants access, not tokens

    reply = await billing.stub.FulfillCheckoutSession(
        bpb.FulfillCheckoutSessionRequest(session_id=session.session_id, uid=uid)
    )
    assert reply.status == bpb.FULFILLMENT_STATUS_SUBSCRIPTION

    await standin.ctl.update_subscription(done["subscription"], status="past_due")
    profile = await get_profile(sqlite_profile, uid)
    assert (profile.has_access, profile.subscription_status) == (False, "past_due")

    await standin.ctl.update_subscription(done["subscription"], status="active")
    assert (await get_profile(sqlite_profile, uid)).has_access is True

    await standin.ctl.cancel_subscription(done["subscription"])
    assert ("customer.subscription.deleted", 200) in relay.deliveries
    profile = await get_profile(sqlite_profile, uid)
    assert (profile.has_access, profile.subscription_status) == (False, "canceled")


async def test_out_of_order_events_end_in_the_newest_state(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid, price_id=MONTHLY)
    done = await standin.ctl.complete_session(session.session_id, "paid", wait=False)
    sub_id = done["subscription"]
    await standin.ctl.advance_clock(60)
    await standin.ctl.update_subscription(sub_id, status="past_due", wait=False)
    await standin.ctl.advance_clock(60)
    await standin.ctl.cancel_subscription(sub_id, wait=False)
    events = [e for e in await standin.events(id=sub_id) if e["type"].startswith("customer.subscription.")]
    assert [e["type"] for e in events] == [
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    ]
    assert events[0]["created"] < events[1]["created"] < events[2]["created"]

    # Newest first, then the older ones arrive late: each reads the state as it is now (canceled).
    actions = []
    for event in reversed(events):
        payload, signature = await standin.signed(event["id"])
        actions.append((await deliver(billing, payload, signature)).action)
        profile = await get_profile(sqlite_profile, uid)
        assert (profile.has_access, profile.subscription_status) == (False, "canceled")
    assert actions == ["entitlements", "entitlements", "entitlements"]

    # A redelivered older event still cannot switch access back on.
    payload, signature = await standin.signed(events[0]["id"])
    await deliver(billing, payload, signature)
    assert (await get_profile(sqlite_profile, uid)).has_access is False


async def test_older_event_delivered_after_newer_one_does_not_regress(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    """In order created(active) -> updated(past_due) -> updated(active): delivering the past_due event last
    leaves access on, because the state is fetched fresh and the event time is older."""
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid, price_id=MONTHLY)
    done = await standin.ctl.complete_session(session.session_id, "paid", wait=False)
    sub_id = done["subscription"]
    await standin.ctl.advance_clock(60)
    await standin.ctl.update_subscription(sub_id, status="past_due", wait=False)
    await standin.ctl.advance_clock(60)
    await standin.ctl.update_subscription(sub_id, status="active", wait=False)
    created, past_due, active = [
        e for e in await standin.events(id=sub_id) if e["type"].startswith("customer.subscription.")
    ]
    for event in (created, active, past_due):
        payload, signature = await standin.signed(event["id"])
        await deliver(billing, payload, signature)
    profile = await get_profile(sqlite_profile, uid)
    assert (profile.has_access, profile.subscription_status) == (True, "active")


async def _second_subscription(standin: Standin, customer_id: str, uid: str) -> str:
    """A second subscription on the same customer, made outside this app (the Dashboard, an old client)."""
    session = await standin.sdk.v1.checkout.sessions.create_async(
        {
            "mode": "subscription",
            "customer": customer_id,
            "line_items": [{"price": MONTHLY, "quantity": 1}],
            "success_url": "http://127.0.0.1:8080/success",
            "subscription_data": {"metadata": {"uid": uid}},
        }
    )
    done = await standin.ctl.complete_session(session.id, "paid")
    return str(done["subscription"])


async def test_with_two_subscriptions_cancelling_one_keeps_access(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid, price_id=MONTHLY)
    first = (await standin.ctl.complete_session(session.session_id, "paid"))["subscription"]
    customer_id = (await get_profile(sqlite_profile, uid)).stripe_customer_id
    second = await _second_subscription(standin, customer_id, uid)

    await standin.ctl.cancel_subscription(first)
    assert relay.deliveries[-1] == ("customer.subscription.deleted", 200)
    profile = await get_profile(sqlite_profile, uid)
    assert (profile.has_access, profile.subscription_status) == (True, "active")

    await standin.ctl.cancel_subscription(second)
    profile = await get_profile(sqlite_profile, uid)
    assert (profile.has_access, profile.subscription_status) == (False, "canceled")


async def test_an_event_dated_years_ahead_does_not_freeze_entitlements(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    """A correctly signed event whose `created` is ten years ahead is handled like any other; later real
    events still change access (ordering by payload time would make them all stale)."""
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid, price_id=MONTHLY)
    sub_id = (await standin.ctl.complete_session(session.session_id, "paid"))["subscription"]
    (created,) = await standin.events("customer.subscription.created", id=sub_id)
    future = {**created, "id": "evt_from_the_future", "type": "customer.subscription.updated"}
    future["created"] = int(time.time()) + 10 * 365 * 86400
    payload = json.dumps(future)
    signature = stripe.WebhookSignature.generate_signature_header(payload, WEBHOOK_SECRET)
    assert (await deliver(billing, payload.encode(), signature)).action == "entitlements"
    assert (await get_profile(sqlite_profile, uid)).has_access is True

    await standin.ctl.cancel_subscription(sub_id)
    assert relay.deliveries[-1] == ("customer.subscription.deleted", 200)
    profile = await get_profile(sqlite_profile, uid)
    assert (profile.has_access, profile.subscription_status) == (False, "canceled")


async def test_a_second_subscription_checkout_is_refused_while_one_is_running(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid, price_id=MONTHLY)
    sub_id = (await standin.ctl.complete_session(session.session_id, "paid"))["subscription"]
    sessions_before = (await standin.state())["counts"]["checkout_sessions"]

    for status in ("active", "trialing", "past_due"):
        await standin.ctl.update_subscription(sub_id, status=status)
        async with raises_rpc(grpc.StatusCode.FAILED_PRECONDITION, reason="ALREADY_SUBSCRIBED"):
            await checkout(billing, uid, price_id=MONTHLY)
    assert (await standin.state())["counts"]["checkout_sessions"] == sessions_before

    # Token packs are still for sale, and once the subscription has ended a new one is too.
    assert (await checkout(billing, uid)).session_id
    await standin.ctl.cancel_subscription(sub_id)
    assert (await checkout(billing, uid, price_id=MONTHLY)).session_id


async def test_the_running_subscription_is_checked_at_stripe_not_on_the_profile(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    """Webhooks off: the profile has not heard of the subscription yet, Stripe has."""
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid, price_id=MONTHLY)
    await standin.ctl.complete_session(session.session_id, "paid", wait=False)
    assert (await get_profile(sqlite_profile, uid)).has_access is False
    async with raises_rpc(grpc.StatusCode.FAILED_PRECONDITION, reason="ALREADY_SUBSCRIBED"):
        await checkout(billing, uid, price_id=MONTHLY)
