"""Subscription allowances over the fakes (fakes.py): the catalogue's tokens_per_period / rollover_max, what
a paid subscription invoice grants (the exact GrantTokens arguments), invoice.paid, reconciliation, and the
reading of Stripe's invoice JSON."""

from __future__ import annotations

import json
import time

import pydantic
import pytest
import stripe

from billing_service import convert
from billing_service.billing import Billing
from billing_service.catalogue import build_catalogue
from billing_service.domain import keys
from billing_service.domain.allowance import Allowance, InvoiceLine, allowance_from_lines
from billing_service.domain.catalogue import Catalogue, CatalogueEntry, PriceMode
from billing_service.domain.errors import AllowanceOutOfRange, Unattributable
from billing_service.domain.outcomes import WebhookAction
from billing_service.domain.purchase import LineItem
from billing_service.domain.reconciliation import ItemOutcome, Kind, Tally
from billing_service.error_mapping import to_rpc_error
from billing_service.settings import BillingSettings
from billing_service.stripe_records import CustomerRecord, InvoiceRecord, SubscriptionRecord, invoice_record
from billing_service.webhooks import WebhookHandler
from tests.unit.billing.fakes import FakeProfile, FakeStripe
from tokens import contract_rules as limits

SECRET = "whsec_unit"
START, END = 1_800_000_000, 1_802_592_000  # one 30-day period
CATALOGUE = Catalogue(
    [
        CatalogueEntry("price_pack", PriceMode.PAYMENT, 5, "5 tokens", product_id="prod_pack"),
        CatalogueEntry("price_monthly", PriceMode.SUBSCRIPTION, 0, "Monthly", tokens_per_period=100, rollover_max=30),
        CatalogueEntry("price_addon", PriceMode.SUBSCRIPTION, 0, "Add-on", tokens_per_period=10),
        CatalogueEntry("price_plain", PriceMode.SUBSCRIPTION, 0, "Access only"),
    ]
)


def _line(price_id: str = "price_monthly", quantity: int = 1, start: int = START, end: int = END, **kw: bool):
    return InvoiceLine(price_id, quantity, start, end, **kw)


def _invoice(
    invoice_id: str = "in_1",
    *lines: InvoiceLine,
    status: str = "paid",
    subscription_id: str = "sub_1",
    created: int | None = None,
) -> InvoiceRecord:
    return InvoiceRecord(
        invoice_id,
        status,
        customer_id="cus_1",
        subscription_id=subscription_id,
        billing_reason="subscription_cycle",
        created=int(time.time()) if created is None else created,
        lines=lines or (_line(),),
    )


@pytest.fixture
def fakes() -> tuple[FakeStripe, FakeProfile, Billing]:
    stripe_fake, profile = FakeStripe(), FakeProfile()
    stripe_fake.subscriptions["sub_1"] = SubscriptionRecord("sub_1", "active", "cus_1", metadata_uid="u1")
    profile.add("u1")
    return stripe_fake, profile, Billing(BillingSettings(_env_file=None), CATALOGUE, stripe_fake, profile)


def _signed(event_type: str, object_id: str, event_id: str = "evt_1") -> tuple[bytes, str]:
    payload = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            # The payload claims things Stripe does not say: it must not matter.
            "data": {"object": {"id": object_id, "object": "invoice", "status": "paid", "amount_paid": 10**9}},
        }
    )
    ts = int(time.time())
    return payload.encode(), f"t={ts},v1={stripe.WebhookSignature._compute_signature(f'{ts}.{payload}', SECRET)}"


# --- the domain ----------------------------------------------------------------------------------------


def test_allowance_is_tokens_per_period_times_quantity_for_the_lines_period():
    assert allowance_from_lines(CATALOGUE, "in_1", [_line(quantity=2)]) == Allowance(
        200, 60, START, END, "price_monthly"
    )
    both = allowance_from_lines(CATALOGUE, "in_1", [_line(), _line("price_addon", 3)])
    assert both == Allowance(130, 30, START, END, "price_monthly")


def test_lines_without_an_allowance_grant_nothing():
    lines = [_line("price_plain"), _line("price_pack"), _line("price_unknown"), _line(quantity=0)]
    assert allowance_from_lines(CATALOGUE, "in_1", lines) is None
    # A mid-period change's prorations are not a new period: no allowance for them.
    assert allowance_from_lines(CATALOGUE, "in_1", [_line(proration=True)]) is None
    assert allowance_from_lines(CATALOGUE, "in_1", [_line(proration=True), _line("price_addon")]) == Allowance(
        10, 0, START, END, "price_addon"
    )


def test_an_allowance_that_cannot_be_one_grant_is_an_error_naming_the_invoice():
    with pytest.raises(AllowanceOutOfRange, match="in_9: its subscription lines bill for different periods"):
        allowance_from_lines(CATALOGUE, "in_9", [_line(), _line("price_addon", start=START + 1)])
    with pytest.raises(AllowanceOutOfRange, match="does not end after it starts"):
        allowance_from_lines(CATALOGUE, "in_9", [_line(end=START)])
    big = Catalogue([CatalogueEntry("p", PriceMode.SUBSCRIPTION, 0, "Big", tokens_per_period=limits.MAX_TOKEN_AMOUNT)])
    with pytest.raises(AllowanceOutOfRange, match="exceeds") as raised:
        allowance_from_lines(big, "in_9", [_line("p", quantity=2)])
    spec = to_rpc_error(raised.value)
    assert spec is not None and (spec.code.name, spec.reason) == ("FAILED_PRECONDITION", "ALLOWANCE_OUT_OF_RANGE")


def test_catalogue_reports_allowances_of_subscription_prices_only():
    assert CATALOGUE.allowance_per_unit("price_monthly") == (100, 30)
    assert CATALOGUE.allowance_per_unit("price_pack") == (0, 0)
    assert CATALOGUE.allowance_per_unit("price_unknown") == (0, 0)
    assert CATALOGUE.grants_allowances
    assert not Catalogue([CatalogueEntry("price_plain", PriceMode.SUBSCRIPTION, 0, "Plain")]).grants_allowances
    # Packs still buy tokens per unit; an allowance is not a purchase.
    assert CATALOGUE.tokens_per_unit("price_monthly") == 0


# --- configuration -------------------------------------------------------------------------------------


def _settings(**values: object) -> BillingSettings:
    return BillingSettings(_env_file=None, **values)  # type: ignore[arg-type]


def test_subscription_allowance_settings_build_the_catalogue_and_list_prices():
    catalogue = build_catalogue(
        _settings(stripe_subscription_tokens_per_period=1000, stripe_subscription_rollover_max=250)
    )
    entry = catalogue.get("price_subscription_monthly")
    assert entry is not None and (entry.tokens_per_period, entry.rollover_max) == (1000, 250)
    price = convert.price_to_pb(entry)
    assert (price.tokens_per_period, price.rollover_max, price.tokens_per_unit) == (1000, 250, 0)
    # Off by default: a subscription grants access only.
    default = build_catalogue(_settings()).get("price_subscription_monthly")
    assert default is not None and (default.tokens_per_period, default.rollover_max) == (0, 0)
    assert not build_catalogue(_settings()).grants_allowances


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"stripe_subscription_tokens_per_period": -1}, "stripe_subscription_tokens_per_period"),
        ({"stripe_subscription_tokens_per_period": limits.MAX_TOKEN_AMOUNT + 1}, "tokens_per_period"),
        ({"stripe_subscription_rollover_max": -1}, "stripe_subscription_rollover_max"),
        (
            {"stripe_subscription_tokens_per_period": 10, "stripe_subscription_rollover_max": 11},
            r"STRIPE_SUBSCRIPTION_ROLLOVER_MAX must not exceed STRIPE_SUBSCRIPTION_TOKENS_PER_PERIOD \(10\)",
        ),
    ],
)
def test_bad_allowance_settings_are_refused_naming_the_setting(values, named):
    with pytest.raises(pydantic.ValidationError, match=named):
        _settings(**values)


def test_catalogue_json_carries_allowances():
    items = [
        {"price_id": "price_pack", "mode": "payment", "tokens_per_unit": 5},
        {"price_id": "price_pro", "mode": "subscription", "tokens_per_period": 500, "rollover_max": 100},
    ]
    catalogue = build_catalogue(_settings(billing_catalogue=json.dumps(items)))
    assert catalogue.allowance_per_unit("price_pro") == (500, 100)
    assert catalogue.allowance_per_unit("price_pack") == (0, 0)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            {"price_id": "p", "mode": "payment", "tokens_per_unit": 5, "tokens_per_period": 5},
            r"BILLING_CATALOGUE\[0\].tokens_per_period and rollover_max must be 0 for a payment price",
        ),
        (
            {"price_id": "p", "mode": "subscription", "tokens_per_period": 10, "rollover_max": 11},
            r"BILLING_CATALOGUE\[0\].rollover_max must be 0..tokens_per_period \(10\)",
        ),
        (
            {"price_id": "p", "mode": "subscription", "tokens_per_period": -1},
            r"BILLING_CATALOGUE\[0\].tokens_per_period must be 0..1000000",
        ),
    ],
)
def test_bad_allowances_in_the_catalogue_json_are_refused(item, message):
    with pytest.raises(ValueError, match=message):
        build_catalogue(_settings(billing_catalogue=json.dumps([item])))


# --- invoice.paid --------------------------------------------------------------------------------------


async def test_invoice_paid_grants_the_allowance_with_exactly_these_arguments(fakes):
    stripe_fake, profile, billing = fakes
    stripe_fake.invoices["in_1"] = _invoice("in_1", _line(quantity=2))
    reply = await WebhookHandler(billing, SECRET, 300).handle(*_signed("invoice.paid", "in_1"))
    assert reply.action == "allowance"
    assert profile.allowance_calls == [
        {
            "uid": "u1",
            "amount": 200,
            "idempotency_key": "invoice:in_1",
            "source": {"invoice_id": "in_1", "subscription_id": "sub_1", "price_id": "price_monthly"},
            "effective_at": START,
            "expires_at": END,
            "rollover_max": 60,
        }
    ]
    assert profile.profiles["u1"].tokens == 200
    assert keys.invoice_allowance("in_1") == "invoice:in_1"


async def test_redelivered_and_concurrent_invoice_paid_grant_once(fakes):
    stripe_fake, profile, billing = fakes
    stripe_fake.invoices["in_1"] = _invoice()
    handler = WebhookHandler(billing, SECRET, 300)
    first = await billing.allowances.grant_for_invoice("in_1")
    assert (first.tokens_granted, first.already_applied) == (100, False)
    again = await billing.allowances.grant_for_invoice("in_1")
    assert (again.action, again.tokens_granted, again.already_applied) == (WebhookAction.ALLOWANCE, 100, True)
    for n in range(3):
        assert (await handler.handle(*_signed("invoice.paid", "in_1", f"evt_{n}"))).action == "allowance"
    assert profile.profiles["u1"].tokens == 100
    assert [k for (_, k) in profile.entries] == ["invoice:in_1"]


async def test_each_period_is_its_own_grant_and_bought_packs_are_untouched(fakes):
    stripe_fake, profile, billing = fakes
    stripe_fake.invoices["in_1"] = _invoice("in_1")
    await billing.allowances.grant_for_invoice("in_1")
    created = await billing.checkout.create_session(
        uid="u1", price_id="price_pack", mode=None, quantity=2, success_url="", cancel_url="", request_id="", email=""
    )
    stripe_fake.pay(created.session_id, (LineItem("price_pack", 2),))
    await billing.fulfilment.fulfil(created.session_id)
    pack = profile.entries[("u1", keys.checkout_grant(created.session_id))]
    pack_before = (pack.amount, pack.params)

    stripe_fake.invoices["in_2"] = _invoice("in_2", _line(start=END, end=END + 2_592_000))
    renewal = await billing.allowances.grant_for_invoice("in_2")
    assert (renewal.tokens_granted, renewal.already_applied) == (100, False)
    assert [(c["idempotency_key"], c["effective_at"], c["expires_at"]) for c in profile.allowance_calls] == [
        ("invoice:in_1", START, END),
        ("invoice:in_2", END, END + 2_592_000),
    ]
    assert (pack.amount, pack.params) == pack_before == (10, pack_before[1])
    assert profile.profiles["u1"].tokens == 100 + 10 + 100


async def test_the_uid_comes_from_the_customer_when_the_subscription_has_none(fakes):
    stripe_fake, profile, billing = fakes
    stripe_fake.subscriptions["sub_2"] = SubscriptionRecord("sub_2", "active", "cus_2")
    stripe_fake.customers["cus_2"] = CustomerRecord("cus_2", "", "u1")
    stripe_fake.invoices["in_2"] = _invoice("in_2", subscription_id="sub_2")
    result = await billing.allowances.grant_for_invoice("in_2")
    assert (result.uid, result.tokens_granted) == ("u1", 100)

    stripe_fake.subscriptions["sub_3"] = SubscriptionRecord("sub_3", "active", "")
    stripe_fake.invoices["in_3"] = InvoiceRecord("in_3", "paid", "", "sub_3", lines=(_line(),))
    with pytest.raises(Unattributable):
        await billing.allowances.grant_for_invoice("in_3")
    assert [c["idempotency_key"] for c in profile.allowance_calls] == ["invoice:in_2"]


@pytest.mark.parametrize(
    ("invoice", "action"),
    [
        (_invoice(status="open"), WebhookAction.IGNORED),
        (_invoice(status="void"), WebhookAction.IGNORED),
        (_invoice(subscription_id=""), WebhookAction.IGNORED),  # a one-off invoice
        (_invoice("in_1", _line("price_plain")), WebhookAction.ALLOWANCE_NONE),
        (_invoice("in_1", _line(proration=True)), WebhookAction.ALLOWANCE_NONE),
    ],
    ids=["open", "void", "not-a-subscription", "no-allowance-price", "proration-only"],
)
async def test_invoices_that_grant_nothing(fakes, invoice, action):
    stripe_fake, profile, billing = fakes
    stripe_fake.invoices["in_1"] = invoice
    reply = await WebhookHandler(billing, SECRET, 300).handle(*_signed("invoice.paid", "in_1"))
    assert reply.action == action
    assert profile.allowance_calls == [] and profile.profiles["u1"].tokens == 0


async def test_without_allowances_in_the_catalogue_stripe_is_not_asked():
    stripe_fake, profile = FakeStripe(), FakeProfile()
    plain = Catalogue([CatalogueEntry("price_monthly", PriceMode.SUBSCRIPTION, 0, "Monthly")])
    billing = Billing(BillingSettings(_env_file=None), plain, stripe_fake, profile)
    reply = await WebhookHandler(billing, SECRET, 300).handle(*_signed("invoice.paid", "in_1"))
    assert reply.action == "ignored"
    report = await billing.reconciliation.run(72)
    assert stripe_fake.calls == ["list_complete_checkout_sessions"]
    assert report.tally(Kind.INVOICE) == Tally()


async def test_an_allowance_changed_since_the_grant_answers_the_first_grant(fakes):
    stripe_fake, profile, billing = fakes
    stripe_fake.invoices["in_1"] = _invoice()
    await billing.allowances.grant_for_invoice("in_1")
    changed = Catalogue([CatalogueEntry("price_monthly", PriceMode.SUBSCRIPTION, 0, "M", tokens_per_period=500)])
    later = Billing(BillingSettings(_env_file=None), changed, stripe_fake, profile)
    result = await later.allowances.grant_for_invoice("in_1")
    assert (result.action, result.tokens_granted, result.already_applied) == (WebhookAction.ALLOWANCE, 100, True)
    assert profile.profiles["u1"].tokens == 100


async def test_a_missing_invoice_is_an_error_so_the_webhook_is_redelivered(fakes):
    _, profile, billing = fakes
    with pytest.raises(stripe.InvalidRequestError):
        await WebhookHandler(billing, SECRET, 300).handle(*_signed("invoice.paid", "in_missing"))
    assert profile.allowance_calls == []


# --- reconciliation ------------------------------------------------------------------------------------


async def test_reconcile_grants_paid_subscription_invoices_of_the_window_once(fakes):
    stripe_fake, profile, billing = fakes
    now = int(time.time())
    stripe_fake.invoices["in_old"] = _invoice("in_old", created=now - 100 * 3600)
    stripe_fake.invoices["in_1"] = _invoice("in_1", created=now - 60)
    stripe_fake.invoices["in_open"] = _invoice("in_open", status="open", created=now - 60)
    stripe_fake.invoices["in_oneoff"] = _invoice("in_oneoff", subscription_id="", created=now - 60)
    stripe_fake.invoices["in_plain"] = _invoice("in_plain", _line("price_plain"), created=now - 60)

    first = await billing.reconciliation.run(72)
    assert first.tally(Kind.INVOICE) == Tally(found=2, applied=1, nothing_to_apply=1)
    assert [c["idempotency_key"] for c in profile.allowance_calls] == ["invoice:in_1"]
    assert any(
        line.startswith("subscription invoices (paid, allowances): found 2, applied 1") for line in first.lines()
    )

    second = await billing.reconciliation.run(72)
    assert second.tally(Kind.INVOICE) == Tally(found=2, already_applied=1, nothing_to_apply=1)
    assert profile.profiles["u1"].tokens == 100
    assert [r.outcome for r in second.results if r.object_id == "in_1"] == [ItemOutcome.ALREADY_APPLIED]


# --- reading Stripe's invoices -------------------------------------------------------------------------


def test_invoice_record_reads_the_current_api_shape():
    obj = {
        "id": "in_1",
        "status": "paid",
        "customer": {"id": "cus_1", "object": "customer"},
        "billing_reason": "subscription_cycle",
        "created": 7,
        "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_1"}},
        "lines": {"data": []},
    }
    lines = [
        {
            "id": "il_1",
            "quantity": 2,
            "period": {"start": START, "end": END},
            "pricing": {"type": "price_details", "price_details": {"price": "price_monthly", "product": "prod"}},
            "parent": {"type": "subscription_item_details", "subscription_item_details": {"proration": False}},
        },
        {
            "id": "il_2",
            "quantity": 1,
            "period": {"start": START, "end": END},
            "pricing": {"price_details": {"price": {"id": "price_addon", "object": "price"}}},
            "parent": {"subscription_item_details": {"proration": True}},
        },
    ]
    record = invoice_record(obj, lines)
    assert (record.id, record.status, record.customer_id, record.subscription_id) == ("in_1", "paid", "cus_1", "sub_1")
    assert (record.billing_reason, record.created) == ("subscription_cycle", 7)
    assert record.lines == (
        InvoiceLine("price_monthly", 2, START, END, False),
        InvoiceLine("price_addon", 1, START, END, True),
    )
    assert invoice_record(obj).lines is None


def test_invoice_record_reads_the_older_api_shape():
    obj = {"id": "in_1", "status": "paid", "customer": "cus_1", "subscription": "sub_1"}
    line = {"price": {"id": "price_monthly"}, "quantity": 1, "proration": True, "period": {"start": 1, "end": 2}}
    record = invoice_record(obj, [line])
    assert record.subscription_id == "sub_1"
    assert record.lines == (InvoiceLine("price_monthly", 1, 1, 2, True),)
    assert invoice_record({"id": "in_2", "status": "paid", "parent": None}).subscription_id == ""
