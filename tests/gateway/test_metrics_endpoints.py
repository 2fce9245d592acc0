"""Every service serves Prometheus metrics on its own METRICS_LISTEN address, never on the public port: after
real calls (a purchase paid at the Stripe stand-in, its webhook, a spend, a revocation) each endpoint has the
gRPC server series and the service's own figures."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from service_kit.metrics import serve_metrics
from tests.gateway.observed_stack import observed_stack
from tests.support.firebase_tokens import FirebaseTestIssuer
from tokens.profile.v1 import profile_service_pb2 as pb

PROFILE = "tokens.profile.v1.ProfileService"
BILLING = "tokens.billing.v1.BillingService"


def value(text: str, series: str) -> float:
    """The sample of `series` (name{labels} exactly as exposed, labels in any order)."""
    name, _, labels = series.partition("{")
    wanted = set(labels.rstrip("}").split(",")) if labels else set()
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if match and match[1] == name and set(filter(None, (match[2] or "").split(","))) == wanted:
            return float(match[3])
    raise AssertionError(f"{series} not exposed:\n{text}")


async def test_each_service_serves_its_metrics_on_its_own_address(tmp_path: Path, firebase: FirebaseTestIssuer, uid):
    async with observed_stack(tmp_path, firebase) as stack:
        # A purchase: checkout through the gateway, paid at the stand-in, whose webhook grants 5 tokens.
        created = await stack.client.post(
            "/v1/checkout-sessions",
            json={"price_id": "price_onetime_5_tokens", "mode": "payment"},
            headers=stack.auth(uid),
        )
        assert created.status_code == 201, created.text
        await stack.standin.complete_session(created.json()["id"], "paid")
        assert (await stack.profile_stub.GetProfile(pb.GetProfileRequest(uid=uid))).profile.tokens == 5
        await stack.profile_stub.SpendTokens(pb.SpendTokensRequest(uid=uid, amount=2, idempotency_key="spend-1"))
        await stack.profile_stub.RevokeTokens(pb.RevokeTokensRequest(uid=uid, amount=1, idempotency_key="revoke-1"))
        refused = await stack.client.post("/v1/stripe/webhook", content=b"{}", headers={"Stripe-Signature": "t=1,v1=0"})
        assert refused.status_code == 400

        # Never on the public port.
        assert (await stack.client.get("/metrics")).status_code == 404

        endpoints = {
            "gateway": serve_metrics("127.0.0.1:0", stack.gateway.app.state.metrics.registry),
            "profile": stack.profile.serve_metrics("127.0.0.1:0"),
            "billing": stack.billing.server.serve_metrics("127.0.0.1:0"),
        }
        try:
            async with httpx.AsyncClient(trust_env=False) as scraper:
                text = {
                    name: (await scraper.get(f"http://127.0.0.1:{endpoint.port}/metrics")).text
                    for name, endpoint in endpoints.items()
                }
        finally:
            endpoints["gateway"].close()

    profile, billing, gateway = text["profile"], text["billing"], text["gateway"]
    # gRPC server series (billing's GrantTokens call included).
    labels = f'grpc_type="unary",grpc_service="{PROFILE}",grpc_method="GrantTokens"'
    assert value(profile, f"grpc_server_started_total{{{labels}}}") == 1
    assert value(profile, f'grpc_server_handled_total{{{labels},grpc_code="OK"}}') == 1
    assert value(profile, f"grpc_server_handling_seconds_count{{{labels}}}") == 1
    spend = f'grpc_type="unary",grpc_service="{PROFILE}",grpc_method="SpendTokens",grpc_code="OK"'
    assert value(profile, f"grpc_server_handled_total{{{spend}}}") == 1
    # Ledger figures: granted, spent, revoked by type; batches and store latency.
    assert value(profile, 'tokens_ledger_amount_total{kind="granted",type="purchase"}') == 5
    assert value(profile, 'tokens_ledger_amount_total{kind="spent",type="spend"}') == 2
    assert value(profile, 'tokens_ledger_amount_total{kind="revoked",type="refund"}') == 1
    assert value(profile, 'tokens_ledger_entries_total{kind="granted",type="purchase"}') == 1
    assert value(profile, "profile_write_queue_depth") == 0
    assert value(profile, "profile_write_batch_size_count") >= 3
    assert value(profile, 'profile_store_transaction_seconds_count{outcome="ok"}') >= 3

    # Billing: its gRPC series, the webhooks by type and outcome, the Stripe calls by outcome.
    webhook = f'grpc_type="unary",grpc_service="{BILLING}",grpc_method="HandleStripeWebhook"'
    assert value(billing, f'grpc_server_handled_total{{{webhook},grpc_code="OK"}}') >= 1
    assert value(billing, f'grpc_server_handled_total{{{webhook},grpc_code="INVALID_ARGUMENT"}}') == 1
    assert value(billing, 'billing_webhooks_total{event_type="checkout.session.completed",outcome="fulfilled"}') == 1
    assert value(billing, 'billing_webhooks_total{event_type="unverified",outcome="error:INVALID_SIGNATURE"}') == 1
    assert value(billing, 'billing_stripe_requests_total{method="POST",path="/v1/checkout/sessions",outcome="ok"}') == 1
    assert (
        value(billing, 'billing_stripe_requests_total{method="GET",path="/v1/checkout/sessions/{id}",outcome="ok"}')
        >= 1
    )
    assert PROFILE not in billing  # each service's registry holds its own series only

    # The gateway: its HTTP series, and the gRPC calls it made.
    assert value(gateway, 'gateway_http_requests_total{method="POST",route="/v1/checkout-sessions",status="201"}') == 1
    assert value(gateway, 'gateway_http_requests_total{method="POST",route="/v1/stripe/webhook",status="200"}') >= 1


def test_every_entry_type_has_a_ledger_kind() -> None:
    from profile_service.domain.model import EntryType
    from profile_service.metrics import entry_kind

    kinds = {entry_type: entry_kind(entry_type) for entry_type in EntryType}
    assert "other" not in kinds.values(), kinds
    assert kinds[EntryType.PURCHASE] == "granted" and kinds[EntryType.SPEND] == "spent"
    assert kinds[EntryType.REFUND] == "revoked" and kinds[EntryType.EXPIRY] == "expired"
