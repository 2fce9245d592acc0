"""Customers, prices, auth, errors and parameter checks, through the real stripe SDK."""

from __future__ import annotations

import httpx
import pytest
import stripe

from .conftest import Standin


async def test_customer_create_retrieve_update_and_list_by_email(standin: Standin) -> None:
    c = standin.client.v1.customers
    created = await c.create_async({"email": "ada@example.com", "name": "Ada", "metadata": {"uid": "u-1"}})
    assert created.id.startswith("cus_")
    assert created.object == "customer" and created.livemode is False
    assert created.metadata.to_dict() == {"uid": "u-1"}

    updated = await c.update_async(created.id, {"metadata": {"plan": "pro"}, "name": "Ada L."})
    assert updated.name == "Ada L."
    assert updated.metadata.to_dict() == {"uid": "u-1", "plan": "pro"}  # metadata merges

    unset = await c.update_async(created.id, {"metadata": {"plan": ""}})
    assert unset.metadata.to_dict() == {"uid": "u-1"}  # an empty value removes the key

    await c.create_async({"email": "someone@example.com"})
    found = await c.list_async({"email": "ada@example.com"})
    assert [x.id for x in found.data] == [created.id]
    assert (await c.retrieve_async(created.id)).email == "ada@example.com"


async def test_unknown_parameter_is_rejected_with_param(standin: Standin) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        await standin.client.v1.customers.create_async({"email": "a@example.com", "favourite_colour": "blue"})  # type: ignore[typeddict-unknown-key]
    assert info.value.param == "favourite_colour"
    assert info.value.code == "parameter_unknown"
    assert info.value.http_status == 400


async def test_unknown_nested_parameter_is_rejected(standin: Standin) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        await standin.client.v1.checkout.sessions.create_async(
            {
                "mode": "payment",
                "success_url": "https://app.example/ok",
                "line_items": [{"price": "price_onetime_5_tokens", "quantity": 1, "colour": "red"}],  # type: ignore[typeddict-unknown-key]
            }
        )
    assert info.value.param == "line_items[0][colour]"


async def test_missing_object_is_resource_missing_404(standin: Standin) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        await standin.client.v1.customers.retrieve_async("cus_doesnotexist")
    assert info.value.http_status == 404
    assert info.value.code == "resource_missing"
    assert info.value.param == "id"
    assert "cus_doesnotexist" in str(info.value.user_message)


async def test_auth_requires_a_test_secret_key(standin: Standin) -> None:
    with pytest.raises(stripe.AuthenticationError):
        await standin.sdk("sk_live_nope").v1.customers.list_async()
    async with httpx.AsyncClient(base_url=standin.url) as http:
        resp = await http.get("/v1/customers")
    assert resp.status_code == 401
    assert resp.json()["error"]["type"] == "invalid_request_error"


async def test_unknown_route_is_stripe_shaped_404(standin: Standin) -> None:
    async with httpx.AsyncClient(base_url=standin.url, headers={"Authorization": "Bearer sk_test_x"}) as http:
        resp = await http.get("/v1/nothing_here")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "resource_missing"
    assert resp.headers["request-id"].startswith("req_")


async def test_seeded_prices_and_products(standin: Standin) -> None:
    prices = await standin.client.v1.prices.list_async({"active": True, "limit": 10})
    by_id = {p.id: p for p in prices.data}
    one_time, monthly = by_id["price_onetime_5_tokens"], by_id["price_subscription_monthly"]
    assert (one_time.type, one_time.unit_amount, one_time.currency, one_time.product) == (
        "one_time",
        500,
        "usd",
        "prod_token_pack",
    )
    assert monthly.type == "recurring" and monthly.recurring and monthly.recurring.interval == "month"
    assert monthly.unit_amount == 1500
    product = await standin.client.v1.products.retrieve_async("prod_subscription")
    assert product.object == "product"
    limited = await standin.client.v1.prices.list_async({"limit": 1})
    assert len(limited.data) == 1 and limited.has_more is True


async def test_request_id_header_and_pretty_list_shape(standin: Standin) -> None:
    async with httpx.AsyncClient(base_url=standin.url, headers={"Authorization": "Bearer sk_test_x"}) as http:
        resp = await http.get("/v1/prices", params={"limit": 1})
    assert resp.headers["request-id"].startswith("req_")
    body = resp.json()
    assert body["object"] == "list" and body["url"] == "/v1/prices" and body["has_more"] is True


async def test_customer_search_by_metadata_and_email(standin: Standin) -> None:
    c = standin.client.v1.customers
    ada = await c.create_async({"email": "Ada@Example.com", "metadata": {"uid": "u-ada"}})
    await c.create_async({"email": "bob@example.com", "metadata": {"uid": "u-bob"}})
    found = await c.search_async({"query": "metadata['uid']:'u-ada'"})
    assert [x.id for x in found.data] == [ada.id]
    both = await c.search_async({"query": "email:'ada@example.com' AND metadata['uid']:'u-ada'"})
    assert [x.id for x in both.data] == [ada.id]
    with pytest.raises(stripe.InvalidRequestError) as info:
        await c.search_async({"query": "nonsense"})
    assert info.value.param == "query"


async def test_form_style_expand_and_event_list(standin: Standin) -> None:
    session = await standin.client.v1.checkout.sessions.create_async(
        {
            "mode": "payment",
            "line_items": [{"price": "price_onetime_5_tokens", "quantity": 1}],
            "success_url": "https://app.example/ok",
        }
    )
    async with httpx.AsyncClient(base_url=standin.url, headers={"Authorization": "Bearer sk_test_x"}) as http:
        # `expand[]=` (what browsers/curl send) as well as the SDK's `expand[0]=`.
        resp = await http.get(f"/v1/checkout/sessions/{session.id}?expand[]=line_items")
        assert resp.json()["line_items"]["data"][0]["price"]["id"] == "price_onetime_5_tokens"
        bad = await http.get(f"/v1/checkout/sessions/{session.id}?expand[]=success_url")
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "expand"
    await standin.client.v1.checkout.sessions.expire_async(session.id)
    events = await standin.client.v1.events.list_async({"type": "checkout.session.*"})
    assert [e.type for e in events.data] == ["checkout.session.expired"]
