"""The Stripe adapter's reading of API objects into typed records (stripe_records.py), on JSON shaped like
Stripe's answers."""

from __future__ import annotations

from billing_service.domain.purchase import LineItem
from billing_service.stripe_records import (
    charge_record,
    checkout_session_record,
    customer_record,
    dispute_record,
    event_record,
    portal_session_record,
    refund_record,
    subscription_record,
)


def test_session_with_expanded_references_and_line_items():
    obj = {
        "id": "cs_1",
        "url": None,
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid",
        "client_reference_id": None,
        "metadata": {"uid": "u1"},
        "customer": {"id": "cus_1", "object": "customer"},
        "payment_intent": "pi_1",
        "subscription": None,
        "created": 7,
    }
    items = [
        {"price": {"id": "price_pack", "product": {"id": "prod_1"}}, "quantity": 2},
        {"price": "p2", "quantity": 1},
    ]
    record = checkout_session_record(obj, items)
    assert (record.url, record.client_reference_id, record.metadata_uid) == ("", "", "u1")
    assert (record.customer_id, record.payment_intent_id, record.subscription_id) == ("cus_1", "pi_1", "")
    assert record.line_items == (LineItem("price_pack", 2, "prod_1"), LineItem("p2", 1, ""))
    assert checkout_session_record(obj).line_items is None  # not asked for: not "no items"


def test_subscription_period_end_from_its_items_or_itself():
    on_items = {"id": "sub_1", "status": "active", "customer": "cus_1", "items": {"data": [{"current_period_end": 99}]}}
    assert subscription_record(on_items).current_period_end == 99
    legacy = {"id": "sub_1", "status": "active", "customer": "cus_1", "current_period_end": 55, "metadata": {}}
    assert subscription_record(legacy).current_period_end == 55
    assert subscription_record({"id": "sub_1", "status": "canceled", "customer": "cus_1"}).current_period_end is None


def test_charge_lists_its_refunds_only_when_complete():
    refunds = {"data": [{"id": "re_1", "amount": 100, "created": 3, "charge": "ch_1"}], "has_more": False}
    record = charge_record(
        {"id": "ch_1", "amount": 500, "currency": "usd", "payment_intent": "pi_1", "refunds": refunds}
    )
    assert record.refunds is not None and record.refunds[0].status == "succeeded"  # no status: an old, done refund
    paged = charge_record({"id": "ch_1", "amount": 500, "refunds": {**refunds, "has_more": True}})
    assert paged.refunds is None
    assert charge_record({"id": "ch_1", "amount": 500}).refunds is None


def test_refund_and_customer():
    assert (
        refund_record({"id": "re_1", "amount": 5, "status": "failed", "created": 1, "charge": {"id": "ch_1"}}).charge_id
        == "ch_1"
    )
    assert customer_record({"id": "cus_1", "email": None, "metadata": {"uid": "u1"}}).uid == "u1"


def test_dispute_event_and_portal_session():
    dispute = dispute_record(
        {
            "id": "dp_1",
            "charge": {"id": "ch_1", "object": "charge"},
            "amount": 500,
            "currency": "usd",
            "status": "needs_response",
            "reason": "fraudulent",
            "created": 9,
            "payment_intent": "pi_1",
        }
    )
    assert (dispute.id, dispute.charge_id, dispute.amount, dispute.status, dispute.payment_intent_id) == (
        "dp_1",
        "ch_1",
        500,
        "needs_response",
        "pi_1",
    )
    event = event_record(
        {
            "id": "evt_1",
            "type": "customer.subscription.deleted",
            "created": 11,
            "data": {"object": {"id": "sub_1", "customer": "cus_1"}},
        }
    )
    assert (event.type, event.created, event.object_id, event.customer_id) == (
        "customer.subscription.deleted",
        11,
        "sub_1",
        "cus_1",
    )
    assert event_record({"id": "evt_2", "type": "x", "created": 1, "data": {"object": {"id": "o"}}}).customer_id == ""
    portal = portal_session_record({"id": "bps_1", "url": "https://billing.stripe.com/p/session/x", "customer": "c"})
    assert (portal.id, portal.url) == ("bps_1", "https://billing.stripe.com/p/session/x")
