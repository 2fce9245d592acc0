"""Stripe failing under billing: lost responses are retried under the same idempotency key (one object
in Stripe), and an unreachable Stripe is UNAVAILABLE, so the webhook is redelivered and granted once."""

from __future__ import annotations

import grpc

from tests.billing.conftest import Standin, checkout, deliver, get_profile, history, new_user
from tests.support.billing_server import RunningBilling
from tests.support.grpc_errors import raises_rpc
from tests.support.profile_server import RunningProfile


async def test_lost_responses_are_retried_without_duplicating_stripe_objects(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    # Stripe acts, then the answer is lost: a dropped connection for the customer, a 500 for the session.
    await standin.ctl.add_fault("POST /v1/customers", "drop", after_effect=True)
    await standin.ctl.add_fault("POST /v1/checkout/sessions", "500", after_effect=True)
    reply = await checkout(billing, uid, request_id="lost-response")
    counts = (await standin.state())["counts"]
    assert (counts["customers"], counts["checkout_sessions"]) == (1, 1)
    assert reply.session_id in {s.id for s in (await standin.sdk.v1.checkout.sessions.list_async()).data}
    assert all(f["hits"] == 1 for f in (await standin.state())["faults"])


async def test_stripe_unavailable_during_webhook_is_an_error_then_redelivery_grants_once(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid)
    await standin.ctl.complete_session(session.session_id, "paid", wait=False)
    (event,) = await standin.events("checkout.session.completed", id=session.session_id)
    payload, signature = await standin.signed(event["id"])

    await standin.ctl.add_fault(f"GET /v1/checkout/sessions/{session.session_id}", "500", times=10)
    async with raises_rpc(grpc.StatusCode.UNAVAILABLE, reason="STRIPE_UNAVAILABLE"):
        await deliver(billing, payload, signature)
    assert (await get_profile(sqlite_profile, uid)).tokens == 0

    await standin.ctl.clear_faults()
    assert (await deliver(billing, payload, signature)).action == "fulfilled"
    assert (await deliver(billing, payload, signature)).action == "fulfilled"
    assert [e.amount for e in await history(sqlite_profile, uid)] == [5]
