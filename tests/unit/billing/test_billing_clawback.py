"""domain/clawback.py: what the refunds and disputes of one charge take and give back (pure, no Stripe, no
profile service), and the same rules through the use cases over fakes."""

from __future__ import annotations

import json
import time

import pytest
import stripe

from billing_service.billing import Billing
from billing_service.domain.catalogue import Catalogue, CatalogueEntry, PriceMode
from billing_service.domain.clawback import DisputeState, Recorded, RefundState, Step, plan_charge
from billing_service.domain.outcomes import WebhookAction
from billing_service.domain.purchase import LineItem
from billing_service.domain.refunds import RefundLine
from billing_service.settings import BillingSettings
from billing_service.webhooks import WebhookHandler
from tests.unit.billing.fakes import FakeProfile, FakeStripe


def refund(rid: str, amount: int, created: int, status: str = "succeeded", rec: Recorded | None = None):
    return RefundState(RefundLine(rid, amount, status, created), rec)


def dispute(did: str, status: str = "needs_response", amount: int = 1000, rec: Recorded | None = None, **kw):
    return DisputeState(did, status, amount, 50, rec, **kw)


def taken(tokens: int, cost: int | None = None, reversed: bool = False) -> Recorded:
    return Recorded(tokens, tokens if cost is None else cost, reversed)


def kinds(steps: list[Step]) -> list[tuple[str, str, int]]:
    return [(s.kind.value, s.object_id, s.tokens) for s in steps]


def test_partial_refunds_take_their_running_share_and_never_more_than_granted():
    refunds = [refund("re_3", 334, 3), refund("re_2", 333, 2), refund("re_1", 333, 1)]  # newest first
    steps = plan_charge(10, 1000, refunds, [])
    assert kinds(steps) == [("take_refund", "re_1", 3), ("take_refund", "re_2", 3), ("take_refund", "re_3", 4)]
    assert [s.key for s in steps] == ["refund:re_1", "refund:re_2", "refund:re_3"]


def test_recorded_refunds_are_not_recomputed():
    # re_1 was recorded as 4 (other arithmetic at the time): the next refund nets against that.
    refunds = [refund("re_2", 500, 2), refund("re_1", 500, 1, rec=taken(4))]
    assert kinds(plan_charge(10, 1000, refunds, [])) == [("take_refund", "re_2", 6)]
    assert plan_charge(10, 1000, [refund("re_1", 1000, 1, rec=taken(10))], []) == []


def test_a_failed_refund_gives_back_what_it_cost():
    # Took 2 and carried 3 as debt: the reversal gives back 5 (the debt is settled first by the grant).
    refunds = [refund("re_1", 1000, 1, status="failed", rec=Recorded(5, 5))]
    assert kinds(plan_charge(5, 1000, refunds, [])) == [("reverse_refund", "re_1", 5)]
    assert plan_charge(5, 1000, [refund("re_1", 1000, 1, "failed", Recorded(5, 5, reversed=True))], []) == []
    # Forgiven shortfall: only what was taken comes back.
    assert kinds(plan_charge(5, 1000, [refund("re_1", 1000, 1, "failed", Recorded(5, 2))], [])) == [
        ("reverse_refund", "re_1", 2)
    ]
    # Failed before it was recorded: nothing to do.
    assert plan_charge(5, 1000, [refund("re_1", 1000, 1, status="failed")], []) == []


def test_a_dispute_takes_what_refunds_did_not():
    refunds = [refund("re_1", 300, 1, rec=taken(3))]
    assert kinds(plan_charge(10, 1000, refunds, [dispute("dp_1")])) == [("take_dispute", "dp_1", 7)]
    # The refund not yet recorded: it is taken first, and the dispute still only the rest.
    refunds = [refund("re_1", 300, 1)]
    assert kinds(plan_charge(10, 1000, refunds, [dispute("dp_1")])) == [
        ("take_refund", "re_1", 3),
        ("take_dispute", "dp_1", 7),
    ]


def test_a_partial_dispute_takes_its_share():
    assert kinds(plan_charge(10, 1000, [], [dispute("dp_1", amount=250)])) == [("take_dispute", "dp_1", 2)]


def test_a_refund_after_a_dispute_took_everything_takes_nothing():
    disputes = [dispute("dp_1", rec=taken(10))]
    assert plan_charge(10, 1000, [refund("re_1", 500, 1)], disputes) == []


@pytest.mark.parametrize("status", ["needs_response", "under_review", "lost"])
def test_disputes_holding_the_funds_take_once(status: str):
    assert kinds(plan_charge(10, 1000, [], [dispute("dp_1", status)])) == [("take_dispute", "dp_1", 10)]
    assert plan_charge(10, 1000, [], [dispute("dp_1", status, rec=taken(10))]) == []


@pytest.mark.parametrize("status", ["warning_needs_response", "warning_under_review", "warning_closed", "won"])
def test_inquiries_and_won_disputes_take_nothing(status: str):
    assert plan_charge(10, 1000, [], [dispute("dp_1", status)]) == []


def test_a_won_dispute_gives_back_what_it_took_and_frees_the_refunds_share():
    disputes = [dispute("dp_1", "won", rec=taken(10, cost=7))]
    # It cost 7 (3 were forgiven): 7 come back. A refund whose share the dispute had held now takes it.
    steps = plan_charge(10, 1000, [refund("re_1", 500, 1)], disputes)
    assert kinds(steps) == [("reinstate_dispute", "dp_1", 7), ("take_refund", "re_1", 5)]
    assert steps[0].key == "dispute-reinstated:dp_1"
    # Funds reinstated reported before the status says won.
    reinstated = [dispute("dp_1", "under_review", rec=taken(10), funds_reinstated=True)]
    assert kinds(plan_charge(10, 1000, [], reinstated)) == [("reinstate_dispute", "dp_1", 10)]
    done = [dispute("dp_1", "won", rec=taken(10, reversed=True))]
    assert plan_charge(10, 1000, [], done) == []


def test_nothing_granted_nothing_taken():
    assert plan_charge(0, 1000, [refund("re_1", 1000, 1)], [dispute("dp_1")]) == []
    assert plan_charge(10, 0, [refund("re_1", 1000, 1)], []) == []


# --- through the use cases, over fakes ----------------------------------------------------------------------

CATALOGUE = Catalogue([CatalogueEntry("price_pack", PriceMode.PAYMENT, 5, "5 tokens", product_id="prod_pack")])


@pytest.fixture
def fakes() -> tuple[FakeStripe, FakeProfile, Billing]:
    stripe_fake, profile = FakeStripe(), FakeProfile()
    return stripe_fake, profile, Billing(BillingSettings(_env_file=None), CATALOGUE, stripe_fake, profile)


async def _paid(stripe_fake: FakeStripe, billing: Billing, uid: str = "u1") -> tuple[str, str]:
    created = await billing.checkout.create_session(
        uid=uid, price_id="price_pack", mode=None, quantity=2, success_url="", cancel_url="", request_id="", email=""
    )
    charge = stripe_fake.pay(created.session_id, (LineItem("price_pack", 2),), 1000)
    await billing.fulfilment.fulfil(created.session_id)
    return created.session_id, charge.id


async def test_refund_reads_the_grant_from_the_ledger_not_the_catalogue(fakes):
    stripe_fake, profile, billing = fakes
    _, charge_id = await _paid(stripe_fake, billing)
    retired = Billing(BillingSettings(_env_file=None), Catalogue([]), stripe_fake, profile)
    stripe_fake.refund(charge_id, 1000, created=10)
    assert await retired.refunds.claw_back(charge_id) is WebhookAction.REFUND
    assert profile.profiles["u1"].tokens == 0


async def test_dispute_events_take_once_and_a_win_gives_back(fakes):
    stripe_fake, profile, billing = fakes
    _, charge_id = await _paid(stripe_fake, billing)
    opened = stripe_fake.dispute(charge_id)
    assert await billing.disputes.sync(opened.id) is WebhookAction.DISPUTE
    assert await billing.disputes.sync(opened.id) is WebhookAction.DISPUTE  # funds_withdrawn: same entry
    assert profile.profiles["u1"].tokens == 0
    assert [k for _, k in profile.entries].count(f"dispute:{opened.id}") == 1
    stripe_fake.set_status(opened.id, "won")
    assert await billing.disputes.sync(opened.id, funds_reinstated=True) is WebhookAction.DISPUTE_REINSTATED
    assert await billing.disputes.sync(opened.id) is WebhookAction.DISPUTE_REINSTATED  # closed
    assert profile.profiles["u1"].tokens == 10


async def test_refund_failure_events_give_back_once(fakes):
    stripe_fake, profile, billing = fakes
    _, charge_id = await _paid(stripe_fake, billing)
    made = stripe_fake.refund(charge_id, 500, created=10)
    await billing.refunds.claw_back(charge_id)
    assert profile.profiles["u1"].tokens == 5
    stripe_fake.set_status(made.id, "failed")
    for _ in range(3):  # charge.refund.updated, refund.updated, refund.failed
        assert await billing.refunds.refund_changed(made.id) is WebhookAction.REFUND_REVERSED
    assert profile.profiles["u1"].tokens == 10


async def test_a_missing_customer_is_replaced_once_then_used(fakes):
    stripe_fake, profile, billing = fakes
    profile.add("u1", customer_id="cus_gone")
    calls: list[tuple[str, bool]] = []

    async def call(customer_id: str, replaced: bool) -> str:
        calls.append((customer_id, replaced))
        return await stripe_fake.retrieve_customer(customer_id) and customer_id

    got = await billing.customers.with_customer("u1", "", call)
    assert profile.profiles["u1"].stripe_customer_id == got != "cus_gone"
    assert calls == [("cus_gone", False), (got, True)]


def _signed(event: dict) -> tuple[bytes, str]:
    payload = json.dumps(event)
    ts = int(time.time())
    return payload.encode(), f"t={ts},v1={stripe.WebhookSignature._compute_signature(f'{ts}.{payload}', 'whsec_u')}"


def _event(event_type: str, object_id: str) -> dict:
    return {
        "id": f"evt_{event_type}",
        "object": "event",
        "type": event_type,
        "created": 1,
        "data": {"object": {"id": object_id}},
    }


async def test_webhooks_dispatch_refund_failures_and_every_dispute_event(fakes):
    stripe_fake, profile, billing = fakes
    handler = WebhookHandler(billing, "whsec_u", 300)
    _, charge_id = await _paid(stripe_fake, billing)
    made = stripe_fake.refund(charge_id, 1000, created=10)
    assert (await handler.handle(*_signed(_event("charge.refunded", charge_id)))).action == "refund"
    stripe_fake.set_status(made.id, "failed")
    for event_type in ("charge.refund.updated", "refund.updated", "refund.failed"):
        assert (await handler.handle(*_signed(_event(event_type, made.id)))).action == "refund_reversed"
    assert profile.profiles["u1"].tokens == 10

    opened = stripe_fake.dispute(charge_id)
    for event_type in ("charge.dispute.created", "charge.dispute.funds_withdrawn", "charge.dispute.updated"):
        assert (await handler.handle(*_signed(_event(event_type, opened.id)))).action == "dispute"
    assert profile.profiles["u1"].tokens == 0
    stripe_fake.set_status(opened.id, "won")
    for event_type in ("charge.dispute.funds_reinstated", "charge.dispute.closed"):
        assert (await handler.handle(*_signed(_event(event_type, opened.id)))).action == "dispute_reinstated"
    assert profile.profiles["u1"].tokens == 10
