"""Billing's domain rules as pure functions: no server, no Stripe, no profile service."""

from __future__ import annotations

import pytest

from billing_service.domain import keys, validation
from billing_service.domain.catalogue import Catalogue, CatalogueEntry, PriceMode
from billing_service.domain.checkout import checkout_line
from billing_service.domain.entitlements import SubscriptionState, from_subscription, from_subscriptions
from billing_service.domain.errors import InvalidArgument
from billing_service.domain.outcomes import (
    FulfilmentOutcome,
    WebhookAction,
    needs_intent_status,
    subscription_session_outcome,
    unpaid_session_outcome,
)
from billing_service.domain.purchase import LineItem, claimed_by_only, purchase_from_line_items, session_owner
from billing_service.domain.refunds import RefundLine, refund_shares
from tokens import contract_rules as limits

PACK = CatalogueEntry("price_pack", PriceMode.PAYMENT, 5, "5 tokens", product_id="prod_pack")
BIG = CatalogueEntry("price_big", PriceMode.PAYMENT, 50, "50 tokens", product_id="prod_big")
MONTHLY = CatalogueEntry("price_monthly", PriceMode.SUBSCRIPTION, 0, "Monthly", product_id="prod_sub")
CATALOGUE = Catalogue([PACK, BIG, MONTHLY])


# --- catalogue and checkout -------------------------------------------------------------------------


def test_catalogue_refuses_a_price_listed_twice():
    with pytest.raises(ValueError, match="twice"):
        Catalogue([PACK, PACK])


def test_only_payment_prices_buy_tokens():
    assert CATALOGUE.tokens_per_unit("price_pack") == 5
    assert CATALOGUE.tokens_per_unit("price_monthly") == 0
    assert CATALOGUE.tokens_per_unit("price_unknown") == 0


def test_with_amounts_fills_only_missing_amounts():
    priced = Catalogue([PACK, CatalogueEntry("p2", PriceMode.PAYMENT, 1, "x", unit_amount=99, currency="eur")])
    filled = priced.with_amounts({"price_pack": (500, "usd"), "p2": (1, "usd")})
    assert [(e.unit_amount, e.currency) for e in filled.entries] == [(500, "usd"), (99, "eur")]
    assert priced.prices_without_amount() == ["price_pack"]


def test_checkout_line_defaults_mode_and_quantity():
    line = checkout_line(CATALOGUE, "price_pack", None, 0)
    assert (line.price, line.quantity) == (PACK, 1)


@pytest.mark.parametrize(
    ("price_id", "mode", "quantity", "field", "reason"),
    [
        ("", None, 1, "price_id", "INVALID_FIELD"),
        ("price_nope", None, 1, "price_id", "UNKNOWN_PRICE"),
        ("price_pack", PriceMode.SUBSCRIPTION, 1, "mode", "MODE_MISMATCH"),
        ("price_monthly", None, 2, "quantity", "INVALID_FIELD"),
        ("price_pack", None, limits.CHECKOUT_QUANTITY_MAX + 1, "quantity", "INVALID_FIELD"),
        ("price_pack", None, -1, "quantity", "INVALID_FIELD"),
    ],
)
def test_checkout_line_refuses_with_the_field_named(price_id, mode, quantity, field, reason):
    with pytest.raises(InvalidArgument) as caught:
        checkout_line(CATALOGUE, price_id, mode, quantity)
    assert (caught.value.field, caught.value.reason) == (field, reason)


def test_redirect_url_must_be_under_an_allowed_origin():
    allowed = ["http://127.0.0.1:8080"]
    assert validation.redirect_url("http://127.0.0.1:8080/ok", "success_url", allowed)
    with pytest.raises(InvalidArgument) as caught:
        validation.redirect_url("http://127.0.0.1:8081/ok", "success_url", allowed)
    assert caught.value.reason == "REDIRECT_NOT_ALLOWED"
    assert validation.with_session_placeholder("http://h/x?a=1") == "http://h/x?a=1&session_id={CHECKOUT_SESSION_ID}"


# --- purchase ----------------------------------------------------------------------------------------


def test_purchase_is_tokens_per_unit_times_quantity_over_sold_items():
    items = [
        LineItem("price_pack", 3),
        LineItem("price_unknown", 7),
        LineItem("price_monthly", 1),
        LineItem("price_big", 2, "prod_from_stripe"),
        LineItem("price_pack", 0),
    ]
    purchase = purchase_from_line_items(CATALOGUE, items)
    # The first item that bought tokens is the source; its product falls back to the catalogue's.
    assert (purchase.tokens, purchase.price_id, purchase.product_id) == (3 * 5 + 2 * 50, "price_pack", "prod_pack")


def test_purchase_prefers_the_product_stripe_reports():
    purchase = purchase_from_line_items(CATALOGUE, [LineItem("price_big", 1, "prod_stripe")])
    assert purchase.product_id == "prod_stripe"


def test_purchase_of_nothing_sold_is_zero():
    assert purchase_from_line_items(CATALOGUE, [LineItem("price_other", 4)]).tokens == 0


def test_session_owner_and_claims():
    assert session_owner("u1", "u2") == "u1"
    assert session_owner("", "u2") == "u2"
    assert claimed_by_only("u1", "u1", "u1")
    assert claimed_by_only("", "u1", "u1")
    assert not claimed_by_only("u1", "u2", "u1")
    assert not claimed_by_only("", "", "u1")


# --- outcomes ----------------------------------------------------------------------------------------


def test_unpaid_outcomes():
    assert unpaid_session_outcome("expired", None) is FulfilmentOutcome.FAILED
    assert unpaid_session_outcome("complete", "requires_payment_method") is FulfilmentOutcome.FAILED
    assert unpaid_session_outcome("complete", "canceled") is FulfilmentOutcome.FAILED
    assert unpaid_session_outcome("complete", "processing") is FulfilmentOutcome.PENDING
    assert unpaid_session_outcome("open", None) is FulfilmentOutcome.PENDING
    assert needs_intent_status("complete", "pi_1") and not needs_intent_status("open", "pi_1")
    assert not needs_intent_status("complete", "")


def test_subscription_session_outcomes():
    assert subscription_session_outcome("complete") is FulfilmentOutcome.SUBSCRIPTION
    assert subscription_session_outcome("expired") is FulfilmentOutcome.FAILED


def test_every_fulfilment_outcome_has_a_webhook_action():
    assert {o.webhook_action for o in FulfilmentOutcome} == {
        WebhookAction.FULFILLED,
        WebhookAction.PENDING,
        WebhookAction.FAILED,
        WebhookAction.SUBSCRIPTION_CHECKOUT,
    }


# --- refunds -----------------------------------------------------------------------------------------


def test_full_refund_takes_everything():
    assert [s.tokens for s in refund_shares(10, 1000, [RefundLine("re_1", 1000, "succeeded", 5)])] == [10]


def test_partial_refunds_add_up_to_the_total_share():
    # Newest first, as Stripe lists them: three thirds of 1000 cents on 10 tokens.
    refunds = [
        RefundLine("re_3", 334, "succeeded", 30),
        RefundLine("re_2", 333, "succeeded", 20),
        RefundLine("re_1", 333, "succeeded", 10),
    ]
    shares = refund_shares(10, 1000, refunds)
    assert [(s.refund_id, s.tokens) for s in shares] == [("re_1", 3), ("re_2", 3), ("re_3", 4)]


def test_refunds_in_the_same_second_keep_stripes_order():
    refunds = [RefundLine("re_b", 500, "succeeded", 10), RefundLine("re_a", 250, "succeeded", 10)]
    assert [(s.refund_id, s.tokens) for s in refund_shares(5, 1000, refunds)] == [("re_a", 1), ("re_b", 2)]


def test_failed_refunds_take_nothing_and_pending_ones_count():
    refunds = [
        RefundLine("re_failed", 1000, "failed", 30),
        RefundLine("re_pending", 500, "pending", 20),
    ]
    assert [(s.refund_id, s.tokens) for s in refund_shares(10, 1000, refunds)] == [("re_pending", 5)]


def test_refunds_beyond_the_charge_take_nothing_more():
    refunds = [RefundLine("re_2", 600, "succeeded", 2), RefundLine("re_1", 600, "succeeded", 1)]
    assert sum(s.tokens for s in refund_shares(10, 1000, refunds)) == 10


def test_nothing_granted_nothing_taken():
    assert refund_shares(0, 1000, [RefundLine("re_1", 1000, "succeeded", 1)]) == []
    assert refund_shares(10, 0, [RefundLine("re_1", 1000, "succeeded", 1)]) == []


# --- entitlements and keys -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "access"),
    [("active", True), ("trialing", True), ("past_due", False), ("canceled", False), ("incomplete", False)],
)
def test_access_from_subscription_status(status, access):
    entitlements = from_subscription(status, 1700000000)
    assert (entitlements.has_access, entitlements.subscription_status) == (access, status)
    assert from_subscription(status, 0).current_period_end is None


def test_entitlements_from_all_subscriptions():
    assert from_subscriptions([]) == from_subscription("", None)
    both = [SubscriptionState("canceled", 300, 3), SubscriptionState("active", 100, 1)]
    assert from_subscriptions(both) == from_subscription("active", 100)
    assert from_subscriptions([SubscriptionState("past_due", 5), SubscriptionState("trialing", 9)]).has_access
    # Same status: the one whose period ends last, then the newest.
    two_active = [SubscriptionState("active", 100, 2), SubscriptionState("active", 200, 1)]
    assert from_subscriptions(two_active).current_period_end == 200
    lapsed = [SubscriptionState("canceled", 100, 1), SubscriptionState("past_due", 50, 2)]
    assert from_subscriptions(lapsed) == from_subscription("past_due", 50)
    assert from_subscriptions([SubscriptionState("someday_new", 1)]).subscription_status == "someday_new"


def test_auto_checkout_key_is_stable_within_a_minute_only():
    args = ("u1", "price_pack", "payment", 1, "http://s", "http://c")
    assert keys.checkout_session_auto(*args, 120.0) == keys.checkout_session_auto(*args, 179.9)
    assert keys.checkout_session_auto(*args, 120.0) != keys.checkout_session_auto(*args, 180.0)
    assert keys.checkout_session_for_request("u1", "r") != keys.checkout_session_for_request("u2", "r")
