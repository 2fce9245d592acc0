"""Scenario 3: the Stripe stand-in answers 500, times out, or drops the connection on chosen requests.
Checkout creation either succeeds through the SDK's retries or fails with a clear UNAVAILABLE, and never
leaves a duplicate customer or session; a client retry with the same request id yields the one session.
Fulfilment during a fault answers non-2xx to the webhook, and a later delivery grants exactly once."""

from __future__ import annotations

import grpc
import pytest

from devtools.stripe_standin import StandinControl, StandinSettings, run_standin
from profile_service.audit import run_audit
from profile_service.store.sqlite_store import SqliteStore
from service_kit.rich_errors import details_of
from tests.reliability.report import ScenarioResult, record
from tests.support.billing_server import STANDIN_WEBHOOK_SECRET, billing_test_settings, run_billing_service
from tests.support.profile_server import run_profile_service
from tokens.billing.v1 import billing_service_pb2 as bpb
from tokens.profile.v1 import profile_service_pb2 as ppb

MODES = ["500", "timeout", "drop"]
RESULT = ScenarioResult("stripe stand-in faults")
record(RESULT)


@pytest.fixture
async def billing_stack(tmp_path):
    async with (
        run_profile_service(SqliteStore(tmp_path / "p.sqlite3")) as profile,
        run_standin(
            StandinSettings(webhook_url="", webhook_secret=STANDIN_WEBHOOK_SECRET, fault_timeout_s=3)
        ) as standin_url,
    ):
        # One network retry and a 1 s timeout: a single fault is absorbed, three are not.
        settings = billing_test_settings(stripe_max_network_retries=1, stripe_timeout_s=1.0)
        async with (
            run_billing_service(settings, profile_target=profile.target, standin_url=standin_url) as billing,
            StandinControl(standin_url) as control,
        ):
            yield profile, billing, control


def checkout(uid: str, request_id: str) -> bpb.CreateCheckoutSessionRequest:
    return bpb.CreateCheckoutSessionRequest(
        uid=uid,
        price_id="price_onetime_5_tokens",
        mode=bpb.PRICE_MODE_PAYMENT,
        quantity=1,
        request_id=request_id,
        email=f"{uid}@example.com",
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path", ["POST /v1/customers", "POST /v1/checkout/sessions"])
async def test_checkout_creation_under_faults_never_duplicates(billing_stack, mode, path):
    profile, billing, control = billing_stack
    uid = f"buyer-{mode}-{path.rsplit('/', 1)[-1]}"
    # Three faults in a row outlast the SDK's retry: the caller gets a clear, retryable error.
    await control.add_fault(path, mode, times=3, after_effect=True)
    RESULT.faults += 3
    with pytest.raises(grpc.RpcError) as info:
        await billing.stub.CreateCheckoutSession(checkout(uid, "req-1"), timeout=30)
    details = details_of(info.value)
    assert details.code == grpc.StatusCode.UNAVAILABLE, details
    assert details.message
    await control.clear_faults()
    # The client retries with the same request id: exactly one customer and one session result.
    first = await billing.stub.CreateCheckoutSession(checkout(uid, "req-1"), timeout=30)
    again = await billing.stub.CreateCheckoutSession(checkout(uid, "req-1"), timeout=30)
    RESULT.operations += 3
    assert first.session_id == again.session_id
    counts = (await control.state())["counts"]
    RESULT.duplicated += max(0, counts["customers"] - 1) + max(0, counts["checkout_sessions"] - 1)
    assert (counts["customers"], counts["checkout_sessions"]) == (1, 1), counts
    linked = (await profile.stub.GetProfile(ppb.GetProfileRequest(uid=uid))).profile.stripe_customer_id
    assert linked.startswith("cus_")


@pytest.mark.parametrize("mode", MODES)
async def test_single_fault_is_absorbed_by_the_sdk_retry(billing_stack, mode):
    _profile, billing, control = billing_stack
    await control.add_fault("POST /v1/checkout/sessions", mode, times=1, after_effect=True)
    RESULT.faults += 1
    created = await billing.stub.CreateCheckoutSession(checkout(f"absorb-{mode}", "r"), timeout=30)
    RESULT.operations += 1
    assert created.session_id.startswith("cs_")
    assert (await control.state())["counts"]["checkout_sessions"] == 1


@pytest.mark.parametrize("mode", MODES)
async def test_fulfilment_fault_is_non_2xx_then_later_delivery_grants_once(billing_stack, mode, tmp_path):
    profile, billing, control = billing_stack
    uid = f"payer-{mode}"
    created = await billing.stub.CreateCheckoutSession(checkout(uid, "r"), timeout=30)
    await control.complete_session(created.session_id, "paid", wait=False)
    event_id = next(e["id"] for e in await control.events() if e["type"] == "checkout.session.completed")
    await control.add_fault(f"GET /v1/checkout/sessions/{created.session_id}", mode, times=3)
    RESULT.faults += 3
    signed = await control.signed_event(event_id)
    request = bpb.HandleStripeWebhookRequest(
        payload=signed["payload"].encode(), signature_header=signed["signature_header"]
    )
    with pytest.raises(grpc.RpcError) as info:
        await billing.stub.HandleStripeWebhook(request, timeout=30)
    assert details_of(info.value).code == grpc.StatusCode.UNAVAILABLE
    assert (await profile.stub.GetProfile(ppb.GetProfileRequest(uid=uid))).profile.tokens == 0
    await control.clear_faults()
    for _ in range(3):  # Stripe redelivers; later deliveries must not grant again
        signed = await control.signed_event(event_id)
        reply = await billing.stub.HandleStripeWebhook(
            bpb.HandleStripeWebhookRequest(
                payload=signed["payload"].encode(), signature_header=signed["signature_header"]
            ),
            timeout=30,
        )
        assert reply.event_type == "checkout.session.completed"
    RESULT.operations += 4
    tokens = (await profile.stub.GetProfile(ppb.GetProfileRequest(uid=uid))).profile.tokens
    RESULT.lost += max(0, 5 - tokens) // 5
    RESULT.duplicated += max(0, tokens - 5) // 5
    assert tokens == 5
    assert await run_audit(profile.store) == 0
