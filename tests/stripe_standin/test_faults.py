"""Fault injection: what the SDK sees when Stripe errors, hangs, or the connection drops."""

from __future__ import annotations

import httpx
import pytest
import stripe

from .conftest import API_KEY, Standin

CUSTOMER: stripe.params.CustomerCreateParams = {"email": "f@example.com", "metadata": {"uid": "u-f"}}


async def customers(standin: Standin) -> int:
    return (await standin.ctl.state())["counts"]["customers"]


async def test_500_fault_raises_api_error_and_creates_nothing(standin: Standin) -> None:
    await standin.ctl.add_fault("POST /v1/customers", "500")
    with pytest.raises(stripe.APIError) as info:
        await standin.client.v1.customers.create_async(CUSTOMER)
    assert info.value.http_status == 500
    assert await customers(standin) == 0
    # `times` was 1: the next request goes through.
    await standin.client.v1.customers.create_async(CUSTOMER)
    assert await customers(standin) == 1


async def test_drop_fault_raises_api_connection_error(standin: Standin) -> None:
    await standin.ctl.add_fault("POST /v1/checkout/sessions", "drop")
    with pytest.raises(stripe.APIConnectionError):
        await standin.client.v1.checkout.sessions.create_async(
            {
                "mode": "payment",
                "line_items": [{"price": "price_onetime_5_tokens", "quantity": 1}],
                "success_url": "https://app.example/ok",
            }
        )
    assert (await standin.ctl.state())["counts"]["checkout_sessions"] == 0


async def test_drop_is_a_connection_error_for_plain_httpx(standin: Standin) -> None:
    await standin.ctl.add_fault("GET /v1/prices", "drop")
    async with httpx.AsyncClient(base_url=standin.url, headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/v1/prices")
        assert (await http.get("/v1/prices")).status_code == 200


async def test_after_effect_then_retry_with_same_key_gives_one_object(standin: Standin) -> None:
    await standin.ctl.add_fault("POST /v1/customers", "drop", after_effect=True)
    opts: stripe.RequestOptions = {"idempotency_key": "create-u-f"}
    with pytest.raises(stripe.APIConnectionError):
        await standin.client.v1.customers.create_async(CUSTOMER, options=opts)
    assert await customers(standin) == 1  # it happened, though the client never heard

    retried = await standin.client.v1.customers.create_async(CUSTOMER, options=opts)
    assert await customers(standin) == 1
    listed = await standin.client.v1.customers.list_async()
    assert [c.id for c in listed.data] == [retried.id]


async def test_sdk_automatic_retry_reuses_its_key_after_a_lost_500(standin: Standin) -> None:
    await standin.ctl.add_fault("POST /v1/customers", "500", after_effect=True)
    client = standin.sdk(max_network_retries=1)
    created = await client.v1.customers.create_async(CUSTOMER)  # no key given: the SDK generates one
    assert created.id.startswith("cus_")
    assert await customers(standin) == 1


async def test_timeout_fault_makes_the_client_time_out(standin: Standin) -> None:
    await standin.ctl.add_fault("POST /v1/customers", "timeout", seconds=5)
    client = standin.sdk(max_network_retries=0, http_client=stripe.HTTPXClient(timeout=0.3))
    with pytest.raises(stripe.APIConnectionError):
        await client.v1.customers.create_async(CUSTOMER)
    assert await customers(standin) == 0


async def test_faults_match_method_and_prefix_and_can_be_cleared(standin: Standin) -> None:
    await standin.ctl.add_fault("POST /v1/checkout/sessions", "500", times=5)
    # Another method on the same path is not affected.
    await standin.client.v1.checkout.sessions.list_async()
    await standin.ctl.clear_faults()
    assert (await standin.ctl.state())["faults"] == []
    await standin.client.v1.checkout.sessions.create_async(
        {
            "mode": "payment",
            "line_items": [{"price": "price_onetime_5_tokens", "quantity": 1}],
            "success_url": "https://app.example/ok",
        }
    )
