"""After the payment: disputes opened and closed, refunds that fail later, and listing sessions, refunds and
disputes by `created` (what a reconciliation job reads), all through the stripe SDK and signed webhooks."""

from __future__ import annotations

import pytest
import stripe

from devtools.stripe_standin import StandinControlError

from .conftest import Standin, WebhookReceiver

PAYMENT: stripe.params.checkout.SessionCreateParams = {
    "mode": "payment",
    "line_items": [{"price": "price_onetime_5_tokens", "quantity": 2}],
    "success_url": "https://app.example/ok",
    "metadata": {"uid": "u-1"},
}


async def _paid(standin: Standin) -> dict:
    session = await standin.client.v1.checkout.sessions.create_async(PAYMENT)
    return await standin.ctl.complete_session(session.id, wait=True)


def _types(receiver: WebhookReceiver) -> list[str]:
    return [e.type for e in receiver.events()]


async def test_a_won_dispute_withdraws_then_reinstates_the_funds(standin: Standin, receiver: WebhookReceiver) -> None:
    paid = await _paid(standin)
    opened = await standin.ctl.dispute_charge(paid["charge"])
    assert [d["status"] for d in opened["deliveries"]] == ["delivered", "delivered"]
    dispute = opened["dispute"]
    assert dispute["id"].startswith("dp_") and dispute["status"] == "needs_response"
    assert (dispute["charge"], dispute["payment_intent"], dispute["amount"]) == (
        paid["charge"],
        paid["payment_intent"],
        1000,
    )
    assert _types(receiver)[-2:] == ["charge.dispute.created", "charge.dispute.funds_withdrawn"]
    withdrawn = receiver.events()[-1].data.object
    assert [t["amount"] for t in withdrawn["balance_transactions"]] == [-1000]
    assert (await standin.client.v1.charges.retrieve_async(paid["charge"])).disputed is True

    closed = await standin.ctl.close_dispute(dispute["id"], "won")
    assert len(closed["deliveries"]) == 2
    assert _types(receiver)[-2:] == ["charge.dispute.funds_reinstated", "charge.dispute.closed"]
    final = await standin.client.v1.disputes.retrieve_async(dispute["id"])
    assert final.status == "won"
    assert [t["amount"] for t in final.balance_transactions] == [-1000, 1000]
    assert receiver.events()[-1].data.previous_attributes["status"] == "needs_response"


async def test_a_lost_dispute_only_closes(standin: Standin, receiver: WebhookReceiver) -> None:
    paid = await _paid(standin)
    dispute = (await standin.ctl.dispute_charge(paid["charge"], 400, reason="product_not_received"))["dispute"]
    assert (dispute["amount"], dispute["reason"]) == (400, "product_not_received")
    await standin.ctl.close_dispute(dispute["id"], "lost")
    assert _types(receiver)[-3:] == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
    ]
    assert (await standin.client.v1.disputes.retrieve_async(dispute["id"])).status == "lost"


async def test_dispute_control_routes_refuse_bad_requests(standin: Standin) -> None:
    paid = await _paid(standin)
    with pytest.raises(StandinControlError) as info:
        await standin.ctl.dispute_charge("ch_nope")
    assert info.value.status == 404
    dispute = (await standin.ctl.dispute_charge(paid["charge"]))["dispute"]
    with pytest.raises(StandinControlError):  # one dispute per charge
        await standin.ctl.dispute_charge(paid["charge"])
    with pytest.raises(StandinControlError) as info:
        await standin.ctl.close_dispute(dispute["id"], "maybe")
    assert info.value.body["error"]["param"] == "status"
    await standin.ctl.close_dispute(dispute["id"], "lost")
    with pytest.raises(StandinControlError):  # already closed
        await standin.ctl.close_dispute(dispute["id"], "won")


async def test_a_refund_that_fails_later_is_no_longer_counted(standin: Standin, receiver: WebhookReceiver) -> None:
    paid = await _paid(standin)
    refund = await standin.client.v1.refunds.create_async({"charge": paid["charge"], "amount": 300})
    failed = await standin.ctl.fail_refund(refund.id)
    assert len(failed["deliveries"]) == 3
    assert _types(receiver)[-3:] == ["charge.refund.updated", "refund.updated", "refund.failed"]
    updated = receiver.events()[-3]
    assert updated.data.object["id"] == refund.id and updated.data.object["status"] == "failed"
    assert updated.data.previous_attributes["status"] == "succeeded"

    again = await standin.client.v1.refunds.retrieve_async(refund.id)
    assert (again.status, again.failure_reason) == ("failed", "expired_or_canceled_card")
    charge = await standin.client.v1.charges.retrieve_async(paid["charge"])
    assert (charge.amount_refunded, charge.refunded) == (0, False)
    assert charge.refunds.data[0].status == "failed"
    with pytest.raises(StandinControlError):  # a failed refund cannot fail again
        await standin.ctl.fail_refund(refund.id)
    # The money is back on the charge: it can be refunded in full now.
    assert (await standin.client.v1.refunds.create_async({"charge": paid["charge"]})).amount == 1000


async def test_sessions_refunds_and_disputes_are_listed_by_created(standin: Standin) -> None:
    old = await _paid(standin)
    old_refund = await standin.client.v1.refunds.create_async({"charge": old["charge"], "amount": 100})
    old_dispute = (await standin.ctl.dispute_charge(old["charge"]))["dispute"]
    await standin.ctl.advance_clock(3600)
    cutoff = (await standin.ctl.state())["now"]
    new = await _paid(standin)
    new_refund = await standin.client.v1.refunds.create_async({"charge": new["charge"], "amount": 100})
    new_dispute = (await standin.ctl.dispute_charge(new["charge"]))["dispute"]

    since = {"created": {"gte": cutoff}, "limit": 100}
    sessions = await standin.client.v1.checkout.sessions.list_async({**since, "status": "complete"})
    assert [s.id for s in sessions.data] == [new["session"]["id"]]
    assert [r.id for r in (await standin.client.v1.refunds.list_async(since)).data] == [new_refund.id]
    assert [d.id for d in (await standin.client.v1.disputes.list_async(since)).data] == [new_dispute["id"]]

    everything = await standin.client.v1.disputes.list_async({"limit": 100})
    assert [d.id for d in everything.data] == [new_dispute["id"], old_dispute["id"]]  # newest first
    by_charge = await standin.client.v1.disputes.list_async({"charge": old["charge"]})
    assert [d.id for d in by_charge.data] == [old_dispute["id"]]
    before = await standin.client.v1.refunds.list_async({"created": {"lt": cutoff}})
    assert [r.id for r in before.data] == [old_refund.id]


async def test_unknown_dispute_is_resource_missing(standin: Standin) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        await standin.client.v1.disputes.retrieve_async("dp_nope")
    assert info.value.http_status == 404 and info.value.code == "resource_missing"
