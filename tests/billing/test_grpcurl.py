"""The real grpcurl binary sees BillingService through reflection and calls ListPrices."""

from __future__ import annotations

import json

import pytest

from tests.profile.test_grpcurl import GRPCURL, grpcurl


@pytest.mark.skipif(GRPCURL is None, reason="grpcurl binary not installed (make install provides it)")
async def test_grpcurl_lists_billing_and_calls_list_prices(billing):
    services = (await grpcurl(billing.target, "list")).split()
    assert "tokens.billing.v1.BillingService" in services and "grpc.health.v1.Health" in services
    described = await grpcurl(billing.target, "describe", "tokens.billing.v1.BillingService")
    assert "rpc HandleStripeWebhook" in described
    prices = json.loads(await grpcurl(billing.target, "tokens.billing.v1.BillingService/ListPrices"))["prices"]
    one_time = next(p for p in prices if p["price_id"] == "price_onetime_5_tokens")
    assert one_time["tokens_per_unit"] == "5" and one_time["mode"] == "PRICE_MODE_PAYMENT"
