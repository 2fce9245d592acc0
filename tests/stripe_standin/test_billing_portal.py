"""The billing portal: a session through the SDK, and its page, where the customer can cancel."""

from __future__ import annotations

import httpx
import pytest
import stripe

from .conftest import Standin, WebhookReceiver

SUBSCRIPTION: stripe.params.checkout.SessionCreateParams = {
    "mode": "subscription",
    "line_items": [{"price": "price_subscription_monthly", "quantity": 1}],
    "success_url": "https://app.example/ok",
    "subscription_data": {"metadata": {"uid": "u-1"}},
}


async def test_portal_page_cancels_the_customers_subscription(standin: Standin, receiver: WebhookReceiver) -> None:
    customer = await standin.client.v1.customers.create_async({"metadata": {"uid": "u-1"}})
    session = await standin.client.v1.checkout.sessions.create_async({**SUBSCRIPTION, "customer": customer.id})
    sub_id = (await standin.ctl.complete_session(session.id, wait=True))["subscription"]

    portal = await standin.client.v1.billing_portal.sessions.create_async(
        {"customer": customer.id, "return_url": "https://app.example/account"}
    )
    assert portal.id.startswith("bps_") and portal.object == "billing_portal.session"
    assert (portal.customer, portal.return_url, portal.livemode) == (customer.id, "https://app.example/account", False)
    assert portal.url == f"{standin.url}/portal/{portal.id}"

    async with httpx.AsyncClient(trust_env=False) as http:
        page = await http.get(portal.url)
        assert page.status_code == 200
        assert f'id="{sub_id}"' in page.text and 'href="https://app.example/account"' in page.text
        done = await http.post(f"{standin.url}/portal/{portal.id}/subscriptions/{sub_id}/cancel")
        assert done.status_code == 303 and done.headers["location"] == f"/portal/{portal.id}"
        after = await http.get(portal.url)
        assert "Cancel subscription" not in after.text and "canceled" in after.text

    assert (await standin.client.v1.subscriptions.retrieve_async(sub_id)).status == "canceled"
    deleted = [e for e in receiver.events() if e.type == "customer.subscription.deleted"]
    assert [e.data.object["id"] for e in deleted] == [sub_id]


async def test_portal_needs_a_known_customer(standin: Standin) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        await standin.client.v1.billing_portal.sessions.create_async({"customer": "cus_nope"})
    assert (info.value.code, info.value.param) == ("resource_missing", "customer")
    with pytest.raises(stripe.InvalidRequestError) as info:
        await standin.client.v1.billing_portal.sessions.create_async({})  # type: ignore[typeddict-item]
    assert info.value.param == "customer"


async def test_portal_cannot_cancel_another_customers_subscription(standin: Standin) -> None:
    mine = await standin.client.v1.customers.create_async({})
    theirs = await standin.client.v1.customers.create_async({})
    session = await standin.client.v1.checkout.sessions.create_async({**SUBSCRIPTION, "customer": theirs.id})
    sub_id = (await standin.ctl.complete_session(session.id, wait=True))["subscription"]
    portal = await standin.client.v1.billing_portal.sessions.create_async({"customer": mine.id})
    async with httpx.AsyncClient(trust_env=False) as http:
        refused = await http.post(f"{standin.url}/portal/{portal.id}/subscriptions/{sub_id}/cancel")
        assert refused.status_code == 404
        assert (await http.get(f"{standin.url}/portal/bps_nope")).status_code == 404
    assert (await standin.client.v1.subscriptions.retrieve_async(sub_id)).status == "active"
