"""Billing's use cases over fakes of the Stripe adapter and the profile service (fakes.py)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace

import grpc
import pytest
import stripe

from billing_service.billing import Billing
from billing_service.domain.catalogue import Catalogue, CatalogueEntry, PriceMode
from billing_service.domain.errors import AlreadySubscribed, InvalidWebhook, NotYourSession, Unattributable
from billing_service.domain.outcomes import FulfilmentOutcome, WebhookAction
from billing_service.domain.purchase import LineItem
from billing_service.error_mapping import to_rpc_error
from billing_service.profile_client import ProfileCallError
from billing_service.settings import BillingSettings
from billing_service.stripe_records import (
    ChargeRecord,
    CheckoutSessionRecord,
    PaymentIntentRecord,
    PriceRecord,
    SubscriptionRecord,
)
from billing_service.webhooks import WebhookHandler
from service_kit.rich_errors import ErrorDetails
from tests.unit.billing.fakes import FakeProfile, FakeStripe

SECRET = "whsec_unit"
CATALOGUE = Catalogue(
    [
        CatalogueEntry("price_pack", PriceMode.PAYMENT, 5, "5 tokens", product_id="prod_pack"),
        CatalogueEntry("price_monthly", PriceMode.SUBSCRIPTION, 0, "Monthly"),
    ]
)
PACK_X2 = (LineItem("price_pack", 2),)


@pytest.fixture
def fakes() -> tuple[FakeStripe, FakeProfile, Billing]:
    stripe_fake, profile = FakeStripe(), FakeProfile()
    settings = BillingSettings(_env_file=None)
    return stripe_fake, profile, Billing(settings, CATALOGUE, stripe_fake, profile)


async def _paid_session(stripe_fake: FakeStripe, billing: Billing, uid: str, amount: int = 1000) -> tuple[str, str]:
    created = await billing.checkout.create_session(
        uid=uid, price_id="price_pack", mode=None, quantity=2, success_url="", cancel_url="", request_id="", email=""
    )
    charge = stripe_fake.pay(created.session_id, PACK_X2, amount)
    return created.session_id, charge.id


# --- checkout ------------------------------------------------------------------------------------------


async def test_checkout_creates_links_and_reuses_one_customer(fakes):
    stripe_fake, profile, billing = fakes
    first = await billing.checkout.create_session(
        uid="u1", price_id="price_pack", mode=None, quantity=2, success_url="", cancel_url="", request_id="r1", email=""
    )
    second = await billing.checkout.create_session(
        uid="u1", price_id="price_pack", mode=None, quantity=2, success_url="", cancel_url="", request_id="r2", email=""
    )
    assert first.session_id != second.session_id
    assert len(stripe_fake.customers) == 1
    (customer_id,) = stripe_fake.customers
    assert profile.profiles["u1"].stripe_customer_id == customer_id
    request = stripe_fake.created_sessions[0]
    assert (request.customer_id, request.uid, request.quantity, request.mode) == (customer_id, "u1", 2, "payment")
    assert request.success_url.endswith("session_id={CHECKOUT_SESSION_ID}")


async def test_checkout_with_the_same_request_id_is_one_session(fakes):
    _, _, billing = fakes
    args = dict(uid="u1", price_id="price_pack", mode=None, quantity=1, success_url="", cancel_url="", email="")
    a = await billing.checkout.create_session(**args, request_id="same")
    b = await billing.checkout.create_session(**args, request_id="same")
    assert a == b


async def test_customer_key_reused_with_another_email_falls_back_to_a_parameter_key(fakes):
    stripe_fake, profile, billing = fakes
    # An earlier request created a customer for u1 with another email, but never linked it.
    await stripe_fake.create_customer("u1", "old@example.com", "customer-for-uid:u1")
    profile.add("u1")
    customer_id = await billing.customers.ensure_customer("u1", "new@example.com")
    assert stripe_fake.customers[customer_id].email == "new@example.com"
    assert profile.profiles["u1"].stripe_customer_id == customer_id


async def test_customer_linked_by_a_racing_request_wins(fakes):
    _, profile, billing = fakes
    profile.add("u1")
    original = profile.link_stripe_customer

    async def link_after_someone_else(uid: str, customer_id: str):
        await original(uid, "cus_other")
        return await original(uid, customer_id)

    profile.link_stripe_customer = link_after_someone_else  # type: ignore[method-assign]
    assert await billing.customers.ensure_customer("u1", "") == "cus_other"


async def test_profile_outage_at_checkout_surfaces_the_profile_error(fakes):
    _, profile, billing = fakes

    async def unavailable(uid: str):
        raise ProfileCallError("profile", "GetProfile", _details(grpc.StatusCode.UNAVAILABLE))

    profile.get_profile = unavailable  # type: ignore[method-assign]
    with pytest.raises(ProfileCallError):
        await billing.customers.ensure_customer("u1", "")


def _details(code: grpc.StatusCode):
    return ErrorDetails(code, code.name, code.name, None)


# --- fulfilment ------------------------------------------------------------------------------------------


async def test_paid_session_is_granted_once(fakes):
    stripe_fake, profile, billing = fakes
    session_id, _ = await _paid_session(stripe_fake, billing, "u1")
    first = await billing.fulfilment.fulfil(session_id)
    again = await billing.fulfilment.fulfil_for_caller(session_id, "u1")
    assert (first.outcome, first.tokens_granted, first.balance, first.already_applied) == (
        FulfilmentOutcome.FULFILLED,
        10,
        10,
        False,
    )
    assert (again.tokens_granted, again.balance, again.already_applied) == (10, 10, True)
    assert profile.profiles["u1"].tokens == 10


async def test_unpaid_sessions_are_pending_or_failed(fakes):
    stripe_fake, _, billing = fakes
    created = await billing.checkout.create_session(
        uid="u1", price_id="price_pack", mode=None, quantity=1, success_url="", cancel_url="", request_id="", email=""
    )
    assert (await billing.fulfilment.fulfil(created.session_id)).outcome is FulfilmentOutcome.PENDING
    assert not any(c.startswith("retrieve_payment_intent") for c in stripe_fake.calls)

    stripe_fake.sessions[created.session_id] = CheckoutSessionRecord(
        created.session_id, "", "payment", "complete", "unpaid", "u1", "u1", payment_intent_id="pi_async"
    )
    stripe_fake.intents["pi_async"] = PaymentIntentRecord("pi_async", "processing")
    assert (await billing.fulfilment.fulfil(created.session_id)).outcome is FulfilmentOutcome.PENDING
    stripe_fake.intents["pi_async"] = PaymentIntentRecord("pi_async", "requires_payment_method")
    assert (await billing.fulfilment.fulfil(created.session_id)).outcome is FulfilmentOutcome.FAILED


async def test_fulfil_refuses_another_users_session_and_unattributed_ones(fakes):
    stripe_fake, profile, billing = fakes
    session_id, _ = await _paid_session(stripe_fake, billing, "u1")
    with pytest.raises(NotYourSession):
        await billing.fulfilment.fulfil(session_id, "u2")
    stripe_fake.sessions["cs_anon"] = CheckoutSessionRecord(
        "cs_anon", "", "payment", "complete", "paid", line_items=PACK_X2
    )
    with pytest.raises(Unattributable):
        await billing.fulfilment.fulfil("cs_anon")
    assert profile.profiles["u1"].tokens == 0


async def test_subscription_session_grants_no_tokens(fakes):
    stripe_fake, profile, billing = fakes
    stripe_fake.sessions["cs_sub"] = CheckoutSessionRecord(
        "cs_sub", "", "subscription", "complete", "paid", "u1", "u1", line_items=(LineItem("price_monthly", 1),)
    )
    profile.add("u1")
    result = await billing.fulfilment.fulfil_for_caller("cs_sub", "u1")
    assert (result.outcome, result.tokens_granted, result.balance) == (FulfilmentOutcome.SUBSCRIPTION, 0, 0)


# --- refunds -----------------------------------------------------------------------------------------------


async def test_partial_refunds_claw_back_proportionally_once(fakes):
    stripe_fake, profile, billing = fakes
    session_id, charge_id = await _paid_session(stripe_fake, billing, "u1", amount=1000)
    await billing.fulfilment.fulfil(session_id)
    stripe_fake.refund(charge_id, 300, created=10)
    assert await billing.refunds.claw_back(charge_id) is WebhookAction.REFUND
    assert profile.profiles["u1"].tokens == 7
    stripe_fake.refund(charge_id, 700, created=20)
    await billing.refunds.claw_back(charge_id)
    await billing.refunds.claw_back(charge_id)  # redelivered
    assert profile.profiles["u1"].tokens == 0


async def test_refund_before_the_grant_grants_first_then_takes_back(fakes):
    stripe_fake, profile, billing = fakes
    _, charge_id = await _paid_session(stripe_fake, billing, "u1", amount=1000)
    stripe_fake.refund(charge_id, 1000, created=10)
    await billing.refunds.claw_back(charge_id)
    assert profile.profiles["u1"].tokens == 0
    assert {key for _, key in profile.entries} == {"checkout:cs_1", "refund:re_ch_1_1"}


async def test_refund_of_a_charge_outside_checkout_is_ignored(fakes):
    stripe_fake, _, billing = fakes
    stripe_fake.charges["ch_x"] = ChargeRecord("ch_x", 100, "usd", "pi_unknown", refunds=())
    assert await billing.refunds.claw_back("ch_x") is WebhookAction.IGNORED


async def test_refunds_are_listed_when_the_charge_does_not_carry_them(fakes):
    stripe_fake, profile, billing = fakes
    session_id, charge_id = await _paid_session(stripe_fake, billing, "u1", amount=1000)
    stripe_fake.refund(charge_id, 500, created=10)
    stripe_fake.charges[charge_id] = replace(stripe_fake.charges[charge_id], refunds=None)
    await billing.refunds.claw_back(charge_id)
    assert f"list_refunds {charge_id}" in stripe_fake.calls
    assert profile.profiles["u1"].tokens == 5


async def test_refund_shortfall_is_clamped(fakes):
    stripe_fake, profile, billing = fakes
    session_id, charge_id = await _paid_session(stripe_fake, billing, "u1", amount=1000)
    await billing.fulfilment.fulfil(session_id)
    profile.profiles["u1"].tokens = 3  # spent 7
    stripe_fake.refund(charge_id, 1000, created=10)
    await billing.refunds.claw_back(charge_id)
    assert profile.profiles["u1"].tokens == 0
    assert profile.entries[("u1", "refund:re_ch_1_1")].shortfall == 7


# --- subscriptions and prices ----------------------------------------------------------------------------


async def test_subscription_sync_uses_the_customers_uid_when_the_subscription_has_none(fakes):
    stripe_fake, profile, billing = fakes
    customer = await stripe_fake.create_customer("u1", "", "k")
    profile.add("u1")
    stripe_fake.subscriptions["sub_1"] = SubscriptionRecord("sub_1", "active", customer.id, "", 1_800_000_000)
    assert await billing.subscriptions.sync("sub_1") == ("u1", True)
    assert (profile.profiles["u1"].has_access, profile.profiles["u1"].current_period_end.seconds) == (
        True,
        1_800_000_000,
    )
    stripe_fake.subscriptions["sub_2"] = SubscriptionRecord("sub_2", "active", "", "", None)
    with pytest.raises(Unattributable):
        await billing.subscriptions.sync("sub_2")


async def test_access_comes_from_all_the_customers_subscriptions(fakes):
    stripe_fake, profile, billing = fakes
    profile.add("u1")
    stripe_fake.subscriptions["sub_1"] = SubscriptionRecord("sub_1", "active", "cus_1", "u1", 100)
    stripe_fake.subscriptions["sub_2"] = SubscriptionRecord("sub_2", "canceled", "cus_1", "u1", 200)
    stripe_fake.subscriptions["sub_other"] = SubscriptionRecord("sub_other", "active", "cus_2", "u2", 300)
    # An event about the canceled one: the other subscription still gives access.
    await billing.subscriptions.sync("sub_2")
    assert (profile.profiles["u1"].has_access, profile.profiles["u1"].subscription_status) == (True, "active")
    assert profile.profiles["u1"].current_period_end.seconds == 100
    stripe_fake.subscriptions["sub_1"] = SubscriptionRecord("sub_1", "past_due", "cus_1", "u1", 100)
    await billing.subscriptions.sync("sub_1")
    assert (profile.profiles["u1"].has_access, profile.profiles["u1"].subscription_status) == (False, "past_due")


async def test_entitlements_are_stamped_with_billings_read_time(fakes):
    stripe_fake, profile, billing = fakes
    profile.add("u1")
    stripe_fake.subscriptions["sub_1"] = SubscriptionRecord("sub_1", "active", "cus_1", "u1")
    billing.subscriptions._clock = lambda: 1000.5
    await billing.subscriptions.sync("sub_1")
    assert profile.entitlements_as_of["u1"] == 1000
    # A read made earlier (a slower handler) no longer overwrites it.
    billing.subscriptions._clock = lambda: 999.0
    assert await billing.subscriptions.sync("sub_1") == ("u1", False)


async def test_prices_take_unconfigured_amounts_from_stripe_once(fakes):
    stripe_fake, _, billing = fakes
    stripe_fake.prices["price_pack"] = PriceRecord("price_pack", 500, "usd")
    stripe_fake.prices["price_monthly"] = PriceRecord("price_monthly", 1500, "usd")
    entries = await billing.prices.list_prices()
    assert [(e.price_id, e.unit_amount) for e in entries] == [("price_pack", 500), ("price_monthly", 1500)]
    stripe_fake.prices.clear()
    assert [e.unit_amount for e in await billing.prices.list_prices()] == [500, 1500]


async def test_prices_fall_back_to_configured_values_when_stripe_fails(fakes):
    _, _, billing = fakes
    assert [e.unit_amount for e in await billing.prices.list_prices()] == [0, 0]


# --- webhooks --------------------------------------------------------------------------------------------


def _signed(event: dict, timestamp: int | None = None) -> tuple[bytes, str]:
    payload = json.dumps(event)
    ts = int(time.time()) if timestamp is None else timestamp
    signature = stripe.WebhookSignature._compute_signature(f"{ts}.{payload}", SECRET)
    return payload.encode(), f"t={ts},v1={signature}"


async def test_webhook_dispatches_a_verified_event(fakes):
    stripe_fake, profile, billing = fakes
    session_id, _ = await _paid_session(stripe_fake, billing, "u1")
    handler = WebhookHandler(billing, SECRET, 300)
    event = {
        "id": "evt_1",
        "object": "event",
        "type": "checkout.session.completed",
        "created": 1,
        "data": {"object": {"id": session_id, "object": "checkout.session"}},
    }
    result = await handler.handle(*_signed(event))
    assert (result.event_id, result.action) == ("evt_1", "fulfilled")
    assert profile.profiles["u1"].tokens == 10
    event["type"] = "customer.created"
    assert (await handler.handle(*_signed(event))).action == "ignored"


async def test_webhook_with_a_bad_signature_changes_nothing(fakes):
    _, _, billing = fakes
    handler = WebhookHandler(billing, SECRET, 300)
    payload, header = _signed({"id": "evt_1", "type": "x", "created": 1, "data": {"object": {}}})
    with pytest.raises(InvalidWebhook) as caught:
        await handler.handle(payload + b" ", header)
    assert (caught.value.field, caught.value.reason) == ("signature_header", "INVALID_SIGNATURE")
    with pytest.raises(InvalidWebhook) as caught:
        await handler.handle(*_signed({"id": "evt_1", "type": "x"}))
    assert caught.value.reason == "MALFORMED_PAYLOAD"


async def test_webhook_signed_in_the_future_is_refused(fakes):
    stripe_fake, profile, billing = fakes
    session_id, _ = await _paid_session(stripe_fake, billing, "u1")
    handler = WebhookHandler(billing, SECRET, 300)
    event = {"id": "evt_1", "type": "checkout.session.completed", "created": 1, "data": {"object": {"id": session_id}}}
    with pytest.raises(InvalidWebhook) as caught:
        await handler.handle(*_signed(event, timestamp=int(time.time()) + 301))
    assert (caught.value.field, caught.value.reason) == ("signature_header", "INVALID_SIGNATURE")
    assert profile.profiles["u1"].tokens == 0
    assert (await handler.handle(*_signed(event, timestamp=int(time.time()) + 30))).action == "fulfilled"


# --- one subscription at a time ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "refused"),
    [("active", True), ("trialing", True), ("past_due", True), ("canceled", False), ("incomplete_expired", False)],
)
async def test_second_subscription_checkout_is_refused_while_one_runs(fakes, status, refused):
    stripe_fake, profile, billing = fakes
    profile.add("u1", customer_id="cus_1")
    stripe_fake.subscriptions["sub_1"] = SubscriptionRecord("sub_1", status, "cus_1", "u1")
    args = dict(uid="u1", mode=None, quantity=1, success_url="", cancel_url="", request_id="", email="")
    if refused:
        with pytest.raises(AlreadySubscribed) as caught:
            await billing.checkout.create_session(price_id="price_monthly", **args)
        assert caught.value.reason == "ALREADY_SUBSCRIBED"
        assert stripe_fake.created_sessions == []
    else:
        await billing.checkout.create_session(price_id="price_monthly", **args)
    # Token packs stay on sale either way.
    assert (await billing.checkout.create_session(price_id="price_pack", **args)).session_id


def test_already_subscribed_is_failed_precondition():
    spec = to_rpc_error(AlreadySubscribed("active"))
    assert spec is not None
    assert (spec.code, spec.reason, spec.field) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "ALREADY_SUBSCRIBED",
        "price_id",
    )


async def test_reads_in_the_same_second_are_written_in_read_order(fakes):
    """Two handlers for one user within one second (the stamp's resolution): the slower first read must
    not overwrite the newer second one."""
    stripe_fake, profile, billing = fakes
    profile.add("u1")
    stripe_fake.subscriptions["sub_1"] = SubscriptionRecord("sub_1", "active", "cus_1", "u1")
    billing.subscriptions._clock = lambda: 1000.0
    list_subscriptions = stripe_fake.list_subscriptions
    first_read = asyncio.Event()

    async def slow_first_read(customer_id: str) -> list[SubscriptionRecord]:
        found = await list_subscriptions(customer_id)
        if not first_read.is_set():
            # Right after the first read, the subscription is canceled at Stripe; that handler is slow.
            stripe_fake.subscriptions["sub_1"] = replace(stripe_fake.subscriptions["sub_1"], status="canceled")
            first_read.set()
            await asyncio.sleep(0.05)
        return found

    stripe_fake.list_subscriptions = slow_first_read  # type: ignore[method-assign]

    async def second_handler() -> tuple[str, bool]:
        await first_read.wait()
        return await billing.subscriptions.sync("sub_1")

    await asyncio.gather(billing.subscriptions.sync("sub_1"), second_handler())
    assert (profile.profiles["u1"].has_access, profile.profiles["u1"].subscription_status) == (False, "canceled")
