"""Idempotency-Key semantics: replay, conflicts, scoping, races."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import stripe

from .conftest import API_KEY, Standin


async def test_concurrent_creates_with_one_key_make_one_customer(standin: Standin) -> None:
    opts: stripe.RequestOptions = {"idempotency_key": "signup-u-42"}
    params: stripe.params.CustomerCreateParams = {"email": "u42@example.com", "metadata": {"uid": "u-42"}}
    first, second = await asyncio.gather(
        standin.client.v1.customers.create_async(params, options=opts),
        standin.client.v1.customers.create_async(params, options=opts),
    )
    assert first.id == second.id
    assert (await standin.ctl.state())["counts"]["customers"] == 1


async def test_same_key_with_different_params_is_an_idempotency_error(standin: Standin) -> None:
    opts: stripe.RequestOptions = {"idempotency_key": "key-reused"}
    await standin.client.v1.customers.create_async({"email": "a@example.com"}, options=opts)
    with pytest.raises(stripe.IdempotencyError) as info:
        await standin.client.v1.customers.create_async({"email": "b@example.com"}, options=opts)
    assert "same parameters" in str(info.value.user_message)
    assert (await standin.ctl.state())["counts"]["customers"] == 1


async def test_replay_returns_the_first_response_with_replayed_header(standin: Standin) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "raw-key-1"}
    body = {"email": "raw@example.com", "metadata[uid]": "u-raw"}
    async with httpx.AsyncClient(base_url=standin.url, headers=headers) as http:
        first = await http.post("/v1/customers", data=body)
        again = await http.post("/v1/customers", data=body)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.headers["original-request"] == first.headers["request-id"]


async def test_keys_are_scoped_per_api_key(standin: Standin) -> None:
    opts: stripe.RequestOptions = {"idempotency_key": "shared-key"}
    a = await standin.sdk("sk_test_account_a").v1.customers.create_async({"email": "x@example.com"}, options=opts)
    b = await standin.sdk("sk_test_account_b").v1.customers.create_async({"email": "x@example.com"}, options=opts)
    assert a.id != b.id


async def test_failed_validation_is_not_stored(standin: Standin) -> None:
    opts: stripe.RequestOptions = {"idempotency_key": "fix-and-retry"}
    with pytest.raises(stripe.InvalidRequestError):
        await standin.client.v1.customers.create_async({"email": "not-an-email"}, options=opts)
    fixed = await standin.client.v1.customers.create_async({"email": "ok@example.com"}, options=opts)
    assert fixed.email == "ok@example.com"


async def test_key_longer_than_255_is_rejected(standin: Standin) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        await standin.client.v1.customers.create_async({}, options={"idempotency_key": "k" * 256})
    assert info.value.http_status == 400
    ok = await standin.client.v1.customers.create_async({}, options={"idempotency_key": "k" * 255})
    assert ok.id.startswith("cus_")


async def test_same_key_on_another_endpoint_is_an_idempotency_error(standin: Standin) -> None:
    opts: stripe.RequestOptions = {"idempotency_key": "one-endpoint-only"}
    await standin.client.v1.customers.create_async({}, options=opts)
    with pytest.raises(stripe.IdempotencyError):
        await standin.client.v1.refunds.create_async({"charge": "ch_x"}, options=opts)
