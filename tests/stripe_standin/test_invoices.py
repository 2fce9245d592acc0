"""Subscription invoices through the real stripe SDK: the first one paid when the checkout completes, one
per renewal (POST /_standin/subscriptions/{id}/renew), each sending a verifiable invoice.paid; listing with
Stripe's filters and parameter checks; lines; a state file keeps them."""

from __future__ import annotations

from pathlib import Path

import pytest
import stripe

from devtools.stripe_standin import StandinControl, StandinControlError, StandinSettings, run_standin
from devtools.stripe_standin.objects import add_interval

from .conftest import API_KEY, SECRET, Standin, WebhookReceiver

SUBSCRIPTION: stripe.params.checkout.SessionCreateParams = {
    "mode": "subscription",
    "line_items": [{"price": "price_subscription_monthly", "quantity": 1}],
    "success_url": "https://app.example/ok",
    "customer_email": "sub@example.com",
    "subscription_data": {"metadata": {"uid": "u-9"}},
}


async def _subscribe(standin: Standin, outcome: str = "paid") -> dict:
    session = await standin.client.v1.checkout.sessions.create_async(SUBSCRIPTION)
    return await standin.ctl.complete_session(session.id, outcome, wait=False)


def _line_period(invoice: stripe.Invoice) -> tuple[int, int]:
    period = invoice.lines.data[0].period
    return period.start, period.end


async def test_subscription_checkout_pays_the_first_invoice_and_sends_invoice_paid(
    standin: Standin, receiver: WebhookReceiver
) -> None:
    session = await standin.client.v1.checkout.sessions.create_async(SUBSCRIPTION)
    done = await standin.ctl.complete_session(session.id, wait=True)
    assert [d["status"] for d in done["deliveries"]] == ["delivered"] * 3
    events = receiver.events()
    assert [e.type for e in events] == ["customer.subscription.created", "invoice.paid", "checkout.session.completed"]
    paid_event = events[1]
    assert paid_event.data.object["object"] == "invoice"

    invoice = await standin.client.v1.invoices.retrieve_async(paid_event.data.object["id"])
    sub = await standin.client.v1.subscriptions.retrieve_async(done["subscription"])
    assert (invoice.status, invoice.billing_reason, invoice.collection_method) == (
        "paid",
        "subscription_create",
        "charge_automatically",
    )
    price = await standin.client.v1.prices.retrieve_async("price_subscription_monthly")
    assert invoice.amount_paid == invoice.amount_due == invoice.total == price.unit_amount
    assert invoice.amount_remaining == 0 and invoice.currency == price.currency
    assert invoice.status_transitions.paid_at and invoice.customer == sub.customer
    assert invoice.parent is not None and invoice.parent.type == "subscription_details"
    assert invoice.parent.subscription_details.subscription == sub.id
    assert invoice.parent.subscription_details.metadata.to_dict() == {"uid": "u-9"}
    (line,) = invoice.lines.data
    item = sub["items"].data[0]
    assert line.pricing.price_details.price == "price_subscription_monthly" and line.quantity == 1
    assert (line.period.start, line.period.end) == (item.current_period_start, item.current_period_end)
    assert line.parent.subscription_item_details.subscription_item == item.id
    assert line.parent.subscription_item_details.proration is False
    assert sub.latest_invoice == invoice.id
    assert (await standin.client.v1.checkout.sessions.retrieve_async(session.id)).invoice == invoice.id


async def test_renew_moves_the_period_and_pays_a_new_invoice(standin: Standin, receiver: WebhookReceiver) -> None:
    done = await _subscribe(standin)
    sub = await standin.client.v1.subscriptions.retrieve_async(done["subscription"])
    first_end = sub["items"].data[0].current_period_end
    # At the period end (the stand-in's clock moved there): the next period follows back to back.
    now = (await standin.ctl.state())["now"]
    await standin.ctl.advance_clock(first_end - now + 3600)

    renewed = await standin.ctl.renew_subscription(sub.id)
    assert [d["status"] for d in renewed["deliveries"]] == ["delivered", "delivered"]
    assert [e.type for e in receiver.events()][-2:] == ["customer.subscription.updated", "invoice.paid"]
    updated = receiver.events()[-2]
    assert updated.data.previous_attributes["current_period_start"] == sub["current_period_start"]

    after = await standin.client.v1.subscriptions.retrieve_async(sub.id)
    item = after["items"].data[0]
    assert (item.current_period_start, item.current_period_end) == (first_end, add_interval(first_end, "month"))
    assert (after["current_period_start"], after["current_period_end"]) == (first_end, item.current_period_end)
    invoice = await standin.client.v1.invoices.retrieve_async(renewed["invoice"]["id"])
    assert (invoice.status, invoice.billing_reason) == ("paid", "subscription_cycle")
    assert _line_period(invoice) == (first_end, item.current_period_end)
    assert after.latest_invoice == invoice.id
    assert receiver.events()[-1].data.object["id"] == invoice.id

    # Renewed before its end: the current period ends now and the next one starts now.
    again = await standin.ctl.renew_subscription(sub.id, wait=False)
    now = (await standin.ctl.state())["now"]
    assert now - 5 <= again["subscription"]["current_period_start"] <= now < item.current_period_end
    again_item = again["subscription"]["items"]["data"][0]
    assert again_item["current_period_end"] == add_interval(again_item["current_period_start"], "month")
    assert _line_period(await standin.client.v1.invoices.retrieve_async(again["invoice"]["id"])) == (
        again_item["current_period_start"],
        again_item["current_period_end"],
    )
    listed = await standin.client.v1.invoices.list_async({"subscription": sub.id})
    assert [i.id for i in listed.data] == [again["invoice"]["id"], invoice.id, done["session"]["invoice"]]
    assert [i.billing_reason for i in listed.data] == [
        "subscription_cycle",
        "subscription_cycle",
        "subscription_create",
    ]


async def test_invoices_list_with_filters_and_pages(standin: Standin) -> None:
    first = await _subscribe(standin)
    await standin.ctl.advance_clock(60)
    second = await _subscribe(standin)
    await standin.ctl.advance_clock(60)
    renewed = await standin.ctl.renew_subscription(first["subscription"], wait=False)
    invoices = standin.client.v1.invoices

    everything = await invoices.list_async({"limit": 100})
    assert len(everything.data) == 3 and everything.data[0].id == renewed["invoice"]["id"]  # newest first
    by_sub = await invoices.list_async({"subscription": second["subscription"]})
    assert [i.parent.subscription_details.subscription for i in by_sub.data] == [second["subscription"]]
    customer = (await standin.client.v1.subscriptions.retrieve_async(first["subscription"])).customer
    assert len((await invoices.list_async({"customer": customer})).data) == 2
    assert len((await invoices.list_async({"status": "paid"})).data) == 3
    assert (await invoices.list_async({"status": "open"})).data == []

    renewal_created = renewed["invoice"]["created"]
    recent = await invoices.list_async({"created": {"gte": renewal_created}})
    assert [i.id for i in recent.data] == [renewed["invoice"]["id"]]
    older = await invoices.list_async({"created": {"lt": renewal_created}})
    assert len(older.data) == 2

    page = await invoices.list_async({"limit": 2})
    assert page.has_more is True
    rest = await invoices.list_async({"limit": 2, "starting_after": page.data[-1].id})
    assert [i.id for i in page.data + rest.data] == [i.id for i in everything.data]

    lines = await invoices.line_items.list_async(renewed["invoice"]["id"])
    assert [line.id for line in lines.data] == [renewed["invoice"]["lines"]["data"][0]["id"]]
    expanded = await invoices.retrieve_async(
        renewed["invoice"]["id"], {"expand": ["customer", "parent.subscription_details.subscription"]}
    )
    assert isinstance(expanded.customer, stripe.Customer)
    assert isinstance(expanded.parent.subscription_details.subscription, stripe.Subscription)


async def test_invoice_parameters_are_checked(standin: Standin) -> None:
    invoices = standin.client.v1.invoices
    with pytest.raises(stripe.InvalidRequestError) as info:
        await invoices.list_async({"colour": "blue"})  # type: ignore[typeddict-unknown-key]
    assert (info.value.param, info.value.code) == ("colour", "parameter_unknown")
    with pytest.raises(stripe.InvalidRequestError) as info:
        await invoices.list_async({"created": {"after": 1}})  # type: ignore[typeddict-unknown-key]
    assert info.value.param == "created[after]"
    with pytest.raises(stripe.InvalidRequestError) as info:
        await invoices.retrieve_async("in_missing")
    assert (info.value.http_status, info.value.code) == (404, "resource_missing")
    with pytest.raises(stripe.InvalidRequestError) as info:
        await invoices.retrieve_async("in_missing", {"limit": 3})  # type: ignore[typeddict-unknown-key]
    assert info.value.param == "limit"


async def test_renew_refuses_ended_subscriptions_and_cancels_at_period_end(standin: Standin) -> None:
    done = await _subscribe(standin)
    await standin.client.v1.subscriptions.update_async(done["subscription"], {"cancel_at_period_end": True})
    ended = await standin.ctl.renew_subscription(done["subscription"], wait=False)
    assert ended["invoice"] is None and ended["subscription"]["status"] == "canceled"
    types = [e["type"] for e in await standin.ctl.events()]
    assert types[-1] == "customer.subscription.deleted" and types.count("invoice.paid") == 1

    with pytest.raises(StandinControlError) as info:
        await standin.ctl.renew_subscription(done["subscription"], wait=False)
    assert info.value.status == 400 and "canceled" in info.value.body["error"]["message"]
    with pytest.raises(StandinControlError) as info:
        await standin.ctl.renew_subscription("sub_missing", wait=False)
    assert info.value.status == 404


async def test_async_payment_pays_the_first_invoice_only_when_it_succeeds(standin: Standin) -> None:
    pending = await _subscribe(standin, "async_pending")
    invoice_id = pending["session"]["invoice"]
    assert (await standin.client.v1.invoices.retrieve_async(invoice_id)).status == "open"
    assert "invoice.paid" not in [e["type"] for e in await standin.ctl.events()]
    await standin.ctl.complete_session(pending["session"]["id"], "async_succeeded", wait=False)
    assert (await standin.client.v1.invoices.retrieve_async(invoice_id)).status == "paid"

    failing = await _subscribe(standin, "async_pending")
    await standin.ctl.complete_session(failing["session"]["id"], "async_failed", wait=False)
    assert (await standin.client.v1.invoices.retrieve_async(failing["session"]["invoice"])).status == "void"
    paid_events = [e for e in await standin.ctl.events() if e["type"] == "invoice.paid"]
    assert [e["data"]["object"]["id"] for e in paid_events] == [invoice_id]


async def test_a_subscription_without_payment_has_a_paid_invoice_of_zero(standin: Standin) -> None:
    done = await _subscribe(standin, "no_payment_required")
    invoice = await standin.client.v1.invoices.retrieve_async(done["session"]["invoice"])
    assert (invoice.status, invoice.total, invoice.amount_paid) == ("paid", 0, 0)
    assert invoice.lines.data[0].amount == 0 and invoice.lines.data[0].quantity == 1
    assert "invoice.paid" in [e["type"] for e in await standin.ctl.events()]


async def test_invoices_survive_a_restart(tmp_path: Path) -> None:
    settings = StandinSettings(state_file=str(tmp_path / "state.json"), webhook_secret=SECRET)
    async with run_standin(settings) as url, StandinControl(url) as ctl:
        client = stripe.StripeClient(API_KEY, base_addresses={"api": url}, max_network_retries=0)
        session = await client.v1.checkout.sessions.create_async(SUBSCRIPTION)
        done = await ctl.complete_session(session.id, wait=False)
        renewed = await ctl.renew_subscription(done["subscription"], wait=False)
    async with run_standin(settings) as url, StandinControl(url) as ctl:
        client = stripe.StripeClient(API_KEY, base_addresses={"api": url}, max_network_retries=0)
        got = await client.v1.invoices.retrieve_async(renewed["invoice"]["id"])
        assert got.status == "paid" and (await ctl.state())["counts"]["invoices"] == 2
