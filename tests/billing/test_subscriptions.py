"""Subscription events -> entitlements, from the subscription as Stripe has it now, stamped with the event
time so a late, older event cannot overwrite a newer state."""

from __future__ import annotations

from tests.billing.conftest import MONTHLY, Standin, checkout, deliver, get_profile, new_user
from tests.support.billing_server import RunningBilling, WebhookRelay
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

    # Newest first, then the older ones arrive late.
    actions = []
    for event in reversed(events):
        payload, signature = await standin.signed(event["id"])
        actions.append((await deliver(billing, payload, signature)).action)
    assert actions == ["entitlements", "entitlements_stale", "entitlements_stale"]
    profile = await get_profile(sqlite_profile, uid)
    assert (profile.has_access, profile.subscription_status) == (False, "canceled")

    # A redelivered older event still cannot switch access back on.
    payload, signature = await standin.signed(events[0]["id"])
    assert (await deliver(billing, payload, signature)).action == "entitlements_stale"
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
