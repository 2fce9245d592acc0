"""Webhook delivery: Stripe's signature, retries, refunds, redelivery and self-signed payloads."""

from __future__ import annotations

import json

import stripe

from .conftest import SECRET, Standin, WebhookReceiver

PAYMENT: stripe.params.checkout.SessionCreateParams = {
    "mode": "payment",
    "line_items": [{"price": "price_onetime_5_tokens", "quantity": 1}],
    "success_url": "https://app.example/ok",
    "metadata": {"uid": "u-1"},
}


async def test_paid_checkout_delivers_a_verifiable_webhook(standin: Standin, receiver: WebhookReceiver) -> None:
    session = await standin.client.v1.checkout.sessions.create_async(PAYMENT)
    result = await standin.ctl.complete_session(session.id, wait=True)

    assert [d["status"] for d in result["deliveries"]] == ["delivered"]
    (received,) = receiver.received
    assert received.content_type == "application/json; charset=utf-8"
    event = stripe.Webhook.construct_event(received.payload, received.signature, SECRET)
    assert event.id == result["events"][0]
    assert event.type == "checkout.session.completed"
    assert event.object == "event" and event.livemode is False and event.api_version
    obj = event.data.object
    assert obj["id"] == session.id and obj["payment_status"] == "paid" and obj["metadata"]["uid"] == "u-1"
    assert event.request is not None and event.request.id is None  # caused by the customer, not an API call

    # The same event is retrievable from the API, as a handler that re-fetches would do.
    fetched = await standin.client.v1.events.retrieve_async(event.id)
    assert fetched.data.object["id"] == session.id


async def test_failed_delivery_is_retried_until_2xx(standin: Standin, receiver: WebhookReceiver) -> None:
    receiver.script = [500, 503]
    session = await standin.client.v1.checkout.sessions.create_async(PAYMENT)
    result = await standin.ctl.complete_session(session.id, wait=True)

    (delivery,) = result["deliveries"]
    assert delivery["status"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 200]
    assert len(receiver.received) == 3
    ids = {e.id for e in receiver.events()}
    assert ids == {result["events"][0]}  # the same event each time (at-least-once)
    (listed,) = await standin.ctl.events()
    assert listed["delivery"]["status"] == "delivered" and listed["pending_webhooks"] == 0


async def test_refund_fires_charge_refunded_and_refund_created(standin: Standin, receiver: WebhookReceiver) -> None:
    session = await standin.client.v1.checkout.sessions.create_async(PAYMENT)
    paid = await standin.ctl.complete_session(session.id, wait=True)
    refund = await standin.client.v1.refunds.create_async(
        {"payment_intent": paid["payment_intent"], "amount": 200}, options={"idempotency_key": "refund-1"}
    )
    assert refund.status == "succeeded" and refund.amount == 200 and refund.charge == paid["charge"]
    await receiver.wait_for(3)

    by_type = {e.type: e for e in receiver.events()}
    charge = by_type["charge.refunded"].data.object
    assert charge["id"] == paid["charge"]
    assert charge["amount_refunded"] == 200 and charge["refunded"] is False
    assert charge["refunds"]["data"][0]["id"] == refund.id
    assert by_type["charge.refunded"].data.previous_attributes["amount_refunded"] == 0
    assert by_type["charge.refunded"].request.idempotency_key == "refund-1"
    assert by_type["refund.created"].data.object["id"] == refund.id

    # The rest via the control route; a full refund leaves nothing to refund.
    rest = await standin.ctl.refund_charge(paid["charge"])
    assert rest["charge"]["amount_refunded"] == 500 and rest["charge"]["refunded"] is True
    listed = await standin.client.v1.refunds.list_async({"charge": paid["charge"]})
    assert sorted(r.amount for r in listed.data) == [200, 300]
    try:
        await standin.client.v1.refunds.create_async({"charge": paid["charge"]})
    except stripe.InvalidRequestError as err:
        assert err.code == "charge_already_refunded"
    else:
        raise AssertionError("a fully refunded charge must not refund again")


async def test_subscription_status_change_emits_updated(standin: Standin, receiver: WebhookReceiver) -> None:
    session = await standin.client.v1.checkout.sessions.create_async(
        {
            "mode": "subscription",
            "line_items": [{"price": "price_subscription_monthly", "quantity": 1}],
            "success_url": "https://app.example/ok",
        }
    )
    done = await standin.ctl.complete_session(session.id, wait=True)
    result = await standin.ctl.update_subscription(done["subscription"], status="past_due", wait=True)
    assert result["deliveries"][0]["status"] == "delivered"
    event = receiver.events()[-1]
    assert event.type == "customer.subscription.updated"
    assert event.data.object["status"] == "past_due"
    assert event.data.previous_attributes["status"] == "active"
    cancel = await standin.ctl.cancel_subscription(done["subscription"])
    assert cancel["subscription"]["status"] == "canceled"
    assert receiver.events()[-1].type == "customer.subscription.deleted"


async def test_redeliver_and_signed_payload(standin: Standin, receiver: WebhookReceiver) -> None:
    session = await standin.client.v1.checkout.sessions.create_async(PAYMENT)
    result = await standin.ctl.complete_session(session.id, wait=True)
    event_id = result["events"][0]

    again = await standin.ctl.redeliver(event_id)
    assert again["deliveries"][0]["status"] == "delivered"
    assert len(again["deliveries"][0]["attempts"]) == 2
    assert receiver.received[0].payload == receiver.received[1].payload  # byte-identical payloads

    signed = await standin.ctl.signed_event(event_id)
    event = stripe.Webhook.construct_event(signed["payload"], signed["signature_header"], SECRET)
    assert event.id == event_id
    assert json.loads(signed["payload"])["type"] == "checkout.session.completed"


async def test_no_webhook_url_records_events_without_delivery(standin: Standin, receiver: WebhookReceiver) -> None:
    await standin.ctl.configure(webhook_url="")
    session = await standin.client.v1.checkout.sessions.create_async(PAYMENT)
    result = await standin.ctl.complete_session(session.id, wait=True)
    assert result["deliveries"][0]["status"] == "skipped"
    assert receiver.received == []
    state = await standin.ctl.state()
    assert state["counts"]["events"] == 1
