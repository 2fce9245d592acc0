"""Checkout Sessions through the SDK: creation rules, expansion, listing, expiry, completion."""

from __future__ import annotations

import time

import pytest
import stripe

from devtools.stripe_standin import StandinControlError

from .conftest import Standin

SUCCESS = "https://app.example/success?session_id={CHECKOUT_SESSION_ID}"


def payment_params(**extra: object) -> stripe.params.checkout.SessionCreateParams:
    params: dict[str, object] = {
        "mode": "payment",
        "line_items": [{"price": "price_onetime_5_tokens", "quantity": 2}],
        "success_url": SUCCESS,
        "cancel_url": "https://app.example/cancel",
        "client_reference_id": "u-7",
        "metadata": {"uid": "u-7"},
        "payment_intent_data": {"metadata": {"uid": "u-7"}},
    }
    params.update(extra)
    return params  # type: ignore[return-value]


async def test_create_and_retrieve_with_expanded_line_items(standin: Standin) -> None:
    before = int(time.time())
    session = await standin.client.v1.checkout.sessions.create_async(payment_params())
    assert session.id.startswith("cs_test_")
    assert (session.status, session.payment_status, session.mode) == ("open", "unpaid", "payment")
    assert session.url == f"{standin.url}/checkout/{session.id}"
    assert session.amount_total == 1000 and session.currency == "usd"
    assert session.payment_intent is None  # created when the customer pays
    assert before + 24 * 3600 <= session.expires_at <= int(time.time()) + 24 * 3600
    assert "line_items" not in session.to_dict()  # only when expanded

    got = (await standin.client.v1.checkout.sessions.retrieve_async(session.id, {"expand": ["line_items"]})).to_dict()
    items = got["line_items"]
    assert items["object"] == "list" and items["has_more"] is False
    assert items["url"] == f"/v1/checkout/sessions/{session.id}/line_items"
    (item,) = items["data"]
    assert item["object"] == "item" and item["id"].startswith("li_")
    assert item["quantity"] == 2 and item["amount_total"] == 1000
    assert item["price"]["id"] == "price_onetime_5_tokens" and item["price"]["object"] == "price"
    assert item["description"] == "5 tokens"
    assert got["metadata"] == {"uid": "u-7"} and got["client_reference_id"] == "u-7"

    listed = await standin.client.v1.checkout.sessions.line_items.list_async(session.id)
    assert [li.id for li in listed.data] == [item["id"]]


async def test_unknown_price_is_resource_missing_on_the_line_item(standin: Standin) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        await standin.client.v1.checkout.sessions.create_async(
            payment_params(line_items=[{"price": "price_nope", "quantity": 1}])
        )
    assert info.value.code == "resource_missing"
    assert info.value.param == "line_items[0][price]"
    assert info.value.http_status == 400


@pytest.mark.parametrize(
    ("mode", "price", "extra"),
    [
        ("payment", "price_subscription_monthly", {}),
        ("subscription", "price_onetime_5_tokens", {}),
    ],
)
async def test_mode_must_match_price_type(standin: Standin, mode: str, price: str, extra: dict) -> None:
    with pytest.raises(stripe.InvalidRequestError):
        await standin.client.v1.checkout.sessions.create_async(
            {"mode": mode, "line_items": [{"price": price, "quantity": 1}], "success_url": SUCCESS}  # type: ignore[typeddict-item]
        )


async def test_success_url_is_required(standin: Standin) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        await standin.client.v1.checkout.sessions.create_async(
            {"mode": "payment", "line_items": [{"price": "price_onetime_5_tokens", "quantity": 1}]}
        )
    assert info.value.param == "success_url"


async def test_expire_only_when_open_and_emits_event(standin: Standin) -> None:
    sessions = standin.client.v1.checkout.sessions
    session = await sessions.create_async(payment_params())
    expired = await sessions.expire_async(session.id)
    assert expired.status == "expired" and expired.url is None
    with pytest.raises(stripe.InvalidRequestError):
        await sessions.expire_async(session.id)
    types = [e["type"] for e in await standin.ctl.events()]
    assert types == ["checkout.session.expired"]


async def test_sessions_expire_on_their_own_after_24h(standin: Standin) -> None:
    session = await standin.client.v1.checkout.sessions.create_async(payment_params())
    await standin.ctl.advance_clock(24 * 3600)
    again = await standin.client.v1.checkout.sessions.retrieve_async(session.id)
    assert again.status == "expired"
    with pytest.raises(StandinControlError):
        await standin.ctl.complete_session(session.id)


async def test_complete_paid_sets_payment_intent_and_charge(standin: Standin) -> None:
    customer = await standin.client.v1.customers.create_async({"email": "buyer@example.com"})
    session = await standin.client.v1.checkout.sessions.create_async(payment_params(customer=customer.id))
    result = await standin.ctl.complete_session(session.id, wait=False)
    got = await standin.client.v1.checkout.sessions.retrieve_async(session.id, {"expand": ["payment_intent"]})
    assert (got.status, got.payment_status) == ("complete", "paid")
    pi = got.payment_intent
    assert isinstance(pi, stripe.PaymentIntent)
    assert pi.status == "succeeded" and pi.amount == 1000 and pi.latest_charge == result["charge"]
    assert pi.metadata.to_dict() == {"uid": "u-7"}
    charge = await standin.client.v1.charges.retrieve_async(result["charge"])
    assert (charge.paid, charge.amount, charge.payment_intent, charge.customer) == (True, 1000, pi.id, customer.id)
    assert charge.metadata.to_dict() == {"uid": "u-7"}
    by_pi = await standin.client.v1.checkout.sessions.list_async({"payment_intent": pi.id})
    assert [s.id for s in by_pi.data] == [session.id]
    by_customer = await standin.client.v1.checkout.sessions.list_async({"customer": customer.id})
    assert [s.id for s in by_customer.data] == [session.id]


async def test_subscription_checkout_creates_subscription_and_cancel(standin: Standin) -> None:
    session = await standin.client.v1.checkout.sessions.create_async(
        {
            "mode": "subscription",
            "line_items": [{"price": "price_subscription_monthly", "quantity": 1}],
            "success_url": SUCCESS,
            "customer_email": "sub@example.com",
            "subscription_data": {"metadata": {"uid": "u-9"}},
        }
    )
    result = await standin.ctl.complete_session(session.id, wait=False)
    types = [e["type"] for e in await standin.ctl.events()]
    assert types == ["customer.subscription.created", "invoice.paid", "checkout.session.completed"]

    got = await standin.client.v1.checkout.sessions.retrieve_async(session.id)
    assert got.subscription == result["subscription"] and got.customer  # subscriptions always get a customer
    sub = await standin.client.v1.subscriptions.retrieve_async(result["subscription"])
    assert sub.status == "active" and sub.customer == got.customer
    assert sub.metadata.to_dict() == {"uid": "u-9"}
    item = sub["items"].data[0]
    assert item.price.id == "price_subscription_monthly"
    assert item.current_period_start == sub["current_period_start"]
    assert item.current_period_end == sub["current_period_end"] > item.current_period_start + 27 * 86400

    updated = await standin.client.v1.subscriptions.update_async(sub.id, {"cancel_at_period_end": True})
    assert updated.cancel_at_period_end is True and updated.cancel_at == updated["current_period_end"]
    canceled = await standin.client.v1.subscriptions.cancel_async(sub.id)
    assert canceled.status == "canceled" and canceled.canceled_at
    types = [e["type"] for e in await standin.ctl.events()]
    assert types[-2:] == ["customer.subscription.updated", "customer.subscription.deleted"]
    with pytest.raises(stripe.InvalidRequestError):
        await standin.client.v1.subscriptions.cancel_async(sub.id)


async def test_async_payment_outcomes(standin: Standin) -> None:
    sessions = standin.client.v1.checkout.sessions
    ok = await sessions.create_async(payment_params())
    await standin.ctl.complete_session(ok.id, "async_pending", wait=False)
    pending = await sessions.retrieve_async(ok.id)
    assert (pending.status, pending.payment_status) == ("complete", "unpaid")
    await standin.ctl.complete_session(ok.id, "async_succeeded", wait=False)
    assert (await sessions.retrieve_async(ok.id)).payment_status == "paid"

    bad = await sessions.create_async(payment_params())
    await standin.ctl.complete_session(bad.id, "async_pending", wait=False)
    await standin.ctl.complete_session(bad.id, "async_failed", wait=False)
    assert (await sessions.retrieve_async(bad.id)).payment_status == "unpaid"

    types = [e["type"] for e in await standin.ctl.events()]
    assert types == [
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.completed",
        "checkout.session.async_payment_failed",
    ]
