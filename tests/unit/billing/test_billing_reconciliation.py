"""Reconciliation and the billing portal over the fakes (fakes.py), and reconciliation's pure rules."""

from __future__ import annotations

import time
from dataclasses import replace

import grpc
import pytest
import stripe

from billing_service.billing import Billing
from billing_service.domain.catalogue import Catalogue, CatalogueEntry, PriceMode
from billing_service.domain.errors import InvalidArgument, NoStripeCustomer
from billing_service.domain.purchase import LineItem
from billing_service.domain.reconciliation import (
    ItemOutcome,
    Kind,
    ReconciliationReport,
    Tally,
    is_dispute_event,
    is_paid_payment_session,
    unique_in_order,
    window_start,
)
from billing_service.error_mapping import to_rpc_error
from billing_service.settings import BillingSettings
from billing_service.stripe_records import EventRecord, SubscriptionRecord, event_record
from billing_service.use_cases.reconciliation import Reconciliation
from tests.unit.billing.fakes import FakeProfile, FakeStripe

CATALOGUE = Catalogue(
    [
        CatalogueEntry("price_pack", PriceMode.PAYMENT, 5, "5 tokens"),
        CatalogueEntry("price_monthly", PriceMode.SUBSCRIPTION, 0, "Monthly"),
    ]
)
NOW = int(time.time())


@pytest.fixture
def fakes() -> tuple[FakeStripe, FakeProfile, Billing]:
    stripe_fake, profile = FakeStripe(), FakeProfile()
    return stripe_fake, profile, Billing(BillingSettings(_env_file=None), CATALOGUE, stripe_fake, profile)


async def _paid(stripe_fake: FakeStripe, billing: Billing, uid: str, quantity: int = 1) -> tuple[str, str]:
    created = await billing.checkout.create_session(
        uid=uid,
        price_id="price_pack",
        mode=None,
        quantity=quantity,
        success_url="",
        cancel_url="",
        request_id="",
        email="",
    )
    charge = stripe_fake.pay(created.session_id, (LineItem("price_pack", quantity),), amount=500 * quantity)
    return created.session_id, charge.id


# --- pure rules --------------------------------------------------------------------------------------------


def test_window_is_the_last_n_hours_within_the_events_api_retention():
    assert window_start(100_000.9, 2) == 100_000 - 7200
    for bad in (0, 721):
        with pytest.raises(ValueError):
            window_start(NOW, bad)


def test_only_paid_payment_sessions_are_reconciled():
    assert is_paid_payment_session("payment", "paid")
    assert is_paid_payment_session("payment", "no_payment_required")
    assert not is_paid_payment_session("payment", "unpaid")
    assert not is_paid_payment_session("subscription", "paid")


def test_an_event_names_the_charge_of_its_refund_or_dispute_when_its_payload_has_it():
    dispute = {
        "id": "evt_1",
        "type": "charge.dispute.closed",
        "created": 5,
        "data": {"object": {"id": "dp_1", "charge": "ch_1"}},
    }
    assert (event_record(dispute).object_id, event_record(dispute).charge_id) == ("dp_1", "ch_1")
    expanded = {"id": "evt_2", "type": "refund.failed", "data": {"object": {"id": "re_1", "charge": {"id": "ch_2"}}}}
    assert event_record(expanded).charge_id == "ch_2"
    assert event_record({"id": "evt_3", "data": {"object": {"id": "re_2"}}}).charge_id == ""
    assert is_dispute_event("charge.dispute.funds_reinstated")
    assert not is_dispute_event("charge.refund.updated")


def test_unique_in_order():
    assert unique_in_order(["ch_2", "ch_1", "ch_2", "", "ch_3"]) == ["ch_2", "ch_1", "ch_3"]


def test_report_tallies_per_kind_and_fails_when_anything_failed():
    report = ReconciliationReport(since=0, since_hours=72)
    report.add(Kind.CHECKOUT, "cs_1", ItemOutcome.APPLIED)
    report.add(Kind.CHECKOUT, "cs_2", ItemOutcome.ALREADY_APPLIED)
    report.add(Kind.REFUND, "re_1", ItemOutcome.NOTHING_TO_APPLY)
    inquiry = "charge ch_1, 500 usd, warning_needs_response (fraudulent): nothing to apply"
    report.add(Kind.DISPUTE, "dp_1", ItemOutcome.NOTHING_TO_APPLY, inquiry)
    assert report.tally(Kind.CHECKOUT) == Tally(found=2, applied=1, already_applied=1)
    assert (report.applied, report.exit_code) == (1, 0)
    lines = report.lines()
    assert lines[0] == "reconcile: Stripe objects created since 1970-01-01T00:00:00Z (last 72 h)"
    assert "checkout sessions (paid, payment mode): found 2, applied 1, already applied 1" in lines[1]
    assert "disputes: found 1, applied 0, already applied 0, nothing to apply 1, failed 0" in lines
    assert f"  dispute dp_1: {inquiry}" in lines
    assert not any("reported only" in line for line in lines)
    assert lines[-1] == "result: ok: applied 1, failed 0"

    report.add(Kind.REFUND, "re_2", ItemOutcome.FAILED, "RpcCallError UNAVAILABLE: down")
    report.add(Kind.DISPUTE, "dp_2", ItemOutcome.FAILED, "charge ch_2: RpcCallError UNAVAILABLE: down")
    assert report.exit_code == 1
    lines = report.lines()
    assert "  FAILED refunds re_2: RpcCallError UNAVAILABLE: down" in lines
    assert "  FAILED disputes dp_2: charge ch_2: RpcCallError UNAVAILABLE: down" in lines
    assert not any(line.startswith("  dispute dp_2") for line in lines)  # a failure is listed once, as one
    assert lines[-1] == "result: FAILED: applied 1, failed 2"


# --- reconciliation over the fakes ---------------------------------------------------------------------


async def test_paid_sessions_are_granted_once_and_a_second_run_changes_nothing(fakes):
    stripe_fake, profile, billing = fakes
    sessions = [(await _paid(stripe_fake, billing, "u1", quantity=q))[0] for q in (1, 2)]
    open_session = await billing.checkout.create_session(
        uid="u2", price_id="price_pack", mode=None, quantity=1, success_url="", cancel_url="", request_id="", email=""
    )
    await billing.fulfilment.fulfil(sessions[0])  # the webhook did arrive for this one

    first = await billing.reconciliation.run(72)
    assert first.tally(Kind.CHECKOUT) == Tally(found=2, applied=1, already_applied=1)
    assert profile.profiles["u1"].tokens == 15
    assert open_session.session_id not in {r.object_id for r in first.results}

    entries = dict(profile.entries)
    second = await billing.reconciliation.run(72)
    assert second.tally(Kind.CHECKOUT) == Tally(found=2, already_applied=2)
    assert (second.applied, profile.entries, profile.profiles["u1"].tokens) == (0, entries, 15)


async def test_sessions_outside_the_window_are_not_listed(fakes):
    stripe_fake, profile, billing = fakes
    session_id, _ = await _paid(stripe_fake, billing, "u1")
    stripe_fake.sessions[session_id] = replace(stripe_fake.sessions[session_id], created=NOW - 3 * 3600)
    assert (await billing.reconciliation.run(2)).tally(Kind.CHECKOUT).found == 0
    assert (await billing.reconciliation.run(4)).tally(Kind.CHECKOUT).applied == 1


async def test_refunds_are_clawed_back_once_and_failed_ones_take_nothing(fakes):
    stripe_fake, profile, billing = fakes
    _, charge_id = await _paid(stripe_fake, billing, "u1", quantity=2)  # 10 tokens for 1000
    done = stripe_fake.refund(charge_id, 500, created=NOW - 60)
    bounced = stripe_fake.refund(charge_id, 100, created=NOW - 30, status="failed")

    first = await billing.reconciliation.run(72)
    outcomes = {r.object_id: r.outcome for r in first.results if r.kind is Kind.REFUND}
    assert outcomes == {done.id: ItemOutcome.APPLIED, bounced.id: ItemOutcome.NOTHING_TO_APPLY}
    assert profile.profiles["u1"].tokens == 5  # granted by reconcile too (the session is in the window)
    again = await billing.reconciliation.run(72)
    assert again.tally(Kind.REFUND) == Tally(found=2, already_applied=1, nothing_to_apply=1)
    assert profile.profiles["u1"].tokens == 5


async def test_one_failure_is_reported_and_the_others_still_apply(fakes):
    stripe_fake, profile, billing = fakes
    first, _ = await _paid(stripe_fake, billing, "u1")
    second, _ = await _paid(stripe_fake, billing, "u2")
    del profile.profiles["u1"]  # the grant to u1 fails (NOT_FOUND from the profile service)
    profile.add("u2")
    report = await billing.reconciliation.run(72)
    by_id = {r.object_id: r for r in report.results}
    assert by_id[first].outcome is ItemOutcome.FAILED and "PROFILE_NOT_FOUND" in by_id[first].detail
    assert by_id[second].outcome is ItemOutcome.APPLIED
    assert report.exit_code == 1


async def test_a_listing_that_fails_is_a_failure_not_zero_found(fakes):
    stripe_fake, _, billing = fakes

    async def unreachable(created_gte: int) -> list:
        raise stripe.APIConnectionError("down")

    stripe_fake.list_refunds_since = unreachable  # type: ignore[method-assign]
    report = await billing.reconciliation.run(72)
    assert [kind for kind, _ in report.listing_failures] == [Kind.REFUND]
    assert (report.tally(Kind.REFUND).found, report.failed, report.exit_code) == (0, 1, 1)
    assert "  FAILED listing refunds: APIConnectionError: down" in report.lines()
    assert report.lines()[-1] == "result: FAILED: applied 0, failed 1"


def _outcomes(report: ReconciliationReport, kind: Kind) -> dict[str, ItemOutcome]:
    return {r.object_id: r.outcome for r in report.results if r.kind is kind}


async def test_a_dispute_is_taken_once_and_given_back_once_when_won(fakes):
    stripe_fake, profile, billing = fakes
    _, charge_id = await _paid(stripe_fake, billing, "u1", quantity=2)  # 10 tokens
    await _paid(stripe_fake, billing, "u1")  # 5 more, not disputed
    await billing.reconciliation.run(72)
    dispute = stripe_fake.dispute(charge_id, created=NOW)

    taken = await billing.reconciliation.run(72)
    assert taken.tally(Kind.DISPUTE) == Tally(found=1, applied=1)
    (line,) = [line for line in taken.lines() if line.startswith(f"  dispute {dispute.id}")]
    assert line == f"  dispute {dispute.id}: charge {charge_id}, 1000 usd, needs_response (fraudulent): took 10 tokens"
    assert (taken.applied, profile.profiles["u1"].tokens) == (1, 5)
    assert profile.entries[("u1", f"dispute:{dispute.id}")].amount == -10
    again = await billing.reconciliation.run(72)
    assert (again.tally(Kind.DISPUTE), again.applied) == (Tally(found=1, already_applied=1), 0)
    assert profile.profiles["u1"].tokens == 5

    stripe_fake.set_status(dispute.id, "won")  # the status alone gives back (no funds_reinstated event seen)
    won = await billing.reconciliation.run(72)
    assert (won.tally(Kind.DISPUTE), won.applied) == (Tally(found=1, applied=1), 1)
    assert any(line.endswith("won (fraudulent): gave back 10 tokens") for line in won.lines())
    assert profile.profiles["u1"].tokens == 15
    assert profile.entries[("u1", f"dispute-reinstated:{dispute.id}")].amount == 10
    entries = dict(profile.entries)
    again = await billing.reconciliation.run(72)
    assert (again.tally(Kind.DISPUTE), again.applied, profile.entries) == (
        Tally(found=1, already_applied=1),
        0,
        entries,
    )


async def test_a_lost_dispute_stays_taken_and_an_inquiry_takes_nothing(fakes):
    stripe_fake, profile, billing = fakes
    _, lost_charge = await _paid(stripe_fake, billing, "u1")  # 5 tokens
    _, inquiry_charge = await _paid(stripe_fake, billing, "u1", quantity=2)  # 10 tokens
    lost = stripe_fake.dispute(lost_charge, status="lost", created=NOW)
    inquiry = stripe_fake.dispute(inquiry_charge, status="warning_needs_response", created=NOW)
    report = await billing.reconciliation.run(72)
    assert _outcomes(report, Kind.DISPUTE) == {lost.id: ItemOutcome.APPLIED, inquiry.id: ItemOutcome.NOTHING_TO_APPLY}
    assert profile.profiles["u1"].tokens == 10
    assert (await billing.reconciliation.run(72)).tally(Kind.DISPUTE) == Tally(
        found=2, already_applied=1, nothing_to_apply=1
    )


async def test_a_refund_and_a_dispute_of_one_charge_are_each_counted_and_never_take_twice(fakes):
    stripe_fake, profile, billing = fakes
    _, charge_id = await _paid(stripe_fake, billing, "u1", quantity=2)  # 10 tokens for 1000
    refund = stripe_fake.refund(charge_id, 300, created=NOW - 60)  # takes 3
    dispute = stripe_fake.dispute(charge_id, created=NOW)  # the rest: 7
    report = await billing.reconciliation.run(72)  # one claw-back of the charge does both
    assert _outcomes(report, Kind.REFUND) == {refund.id: ItemOutcome.APPLIED}
    assert _outcomes(report, Kind.DISPUTE) == {dispute.id: ItemOutcome.APPLIED}
    assert (report.applied, profile.profiles["u1"].tokens) == (3, 0)  # the grant, the refund, the dispute
    assert (
        profile.entries[("u1", f"refund:{refund.id}")].amount,
        profile.entries[("u1", f"dispute:{dispute.id}")].amount,
    ) == (-3, -7)

    stripe_fake.set_status(dispute.id, "won")
    report = await billing.reconciliation.run(72)
    assert _outcomes(report, Kind.REFUND) == {refund.id: ItemOutcome.ALREADY_APPLIED}
    assert _outcomes(report, Kind.DISPUTE) == {dispute.id: ItemOutcome.APPLIED}
    assert profile.profiles["u1"].tokens == 7  # the refund still holds its 3


async def test_a_refund_that_failed_later_is_given_back_once(fakes):
    stripe_fake, profile, billing = fakes
    _, charge_id = await _paid(stripe_fake, billing, "u1", quantity=2)
    refund = stripe_fake.refund(charge_id, 500, created=NOW - 60)
    await billing.reconciliation.run(72)
    assert profile.profiles["u1"].tokens == 5

    stripe_fake.set_status(refund.id, "failed")
    report = await billing.reconciliation.run(72)
    assert report.tally(Kind.REFUND) == Tally(found=1, applied=1)
    assert (report.applied, profile.profiles["u1"].tokens) == (1, 10)
    assert profile.entries[("u1", f"refund-reversal:{refund.id}")].amount == 5
    again = await billing.reconciliation.run(72)
    assert (again.tally(Kind.REFUND), again.applied, profile.profiles["u1"].tokens) == (
        Tally(found=1, already_applied=1),
        0,
        10,
    )


async def test_a_charge_whose_claw_back_fails_fails_its_refunds_and_dispute_only(fakes):
    stripe_fake, profile, billing = fakes
    _, broken = await _paid(stripe_fake, billing, "u1")
    _, fine = await _paid(stripe_fake, billing, "u2")
    profile.add("u2")
    refund = stripe_fake.refund(broken, 500, created=NOW - 60)
    dispute = stripe_fake.dispute(broken, created=NOW)
    other = stripe_fake.dispute(fine, created=NOW)
    await billing.reconciliation.run(72)  # grants first
    del stripe_fake.charges[broken]  # its charge cannot be read now
    report = await billing.reconciliation.run(72)
    assert _outcomes(report, Kind.REFUND) == {refund.id: ItemOutcome.FAILED}
    assert _outcomes(report, Kind.DISPUTE)[dispute.id] is ItemOutcome.FAILED
    assert _outcomes(report, Kind.DISPUTE)[other.id] is not ItemOutcome.FAILED
    assert profile.profiles["u2"].tokens == 0
    assert report.exit_code == 1


async def test_subscription_changes_refresh_each_customer_once_and_only_when_different(fakes):
    stripe_fake, profile, billing = fakes
    profile.add("u1")
    stripe_fake.subscriptions["sub_1"] = SubscriptionRecord("sub_1", "canceled", "cus_1", "u1", 100)
    stripe_fake.subscriptions["sub_2"] = SubscriptionRecord("sub_2", "active", "cus_1", "u1", 200)
    stripe_fake.events = [
        EventRecord("evt_2", "customer.subscription.deleted", NOW - 10, "sub_1", "cus_1"),
        EventRecord("evt_1", "customer.subscription.created", NOW - 20, "sub_2", "cus_1"),
    ]
    report = await billing.reconciliation.run(72)
    assert report.tally(Kind.SUBSCRIPTION) == Tally(found=1, applied=1)
    assert (profile.profiles["u1"].has_access, profile.profiles["u1"].subscription_status) == (True, "active")
    as_of = profile.entitlements_as_of["u1"]
    again = await billing.reconciliation.run(72)
    assert again.tally(Kind.SUBSCRIPTION) == Tally(found=1, already_applied=1)
    assert profile.entitlements_as_of["u1"] == as_of  # nothing written


LATER = NOW + 100 * 3600  # past a 72 h window that starts after anything made at NOW


class _Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


def _reconciliation(stripe_fake: FakeStripe, billing: Billing, clock: _Clock) -> Reconciliation:
    return Reconciliation(
        stripe_fake,
        billing.fulfilment,
        billing.refunds,
        billing.disputes,
        billing.subscriptions,
        billing.allowances,
        clock=clock,
    )


async def test_a_dispute_won_after_its_creation_left_the_window_is_given_back_once_through_its_events(fakes):
    stripe_fake, profile, billing = fakes
    clock = _Clock()
    reconciliation = _reconciliation(stripe_fake, billing, clock)
    _, charge_id = await _paid(stripe_fake, billing, "u1", quantity=2)  # 10 tokens
    await _paid(stripe_fake, billing, "u1")  # 5 more, not disputed
    dispute = stripe_fake.dispute(charge_id, created=NOW)
    stripe_fake.event("charge.dispute.created", dispute, NOW)
    stripe_fake.event("charge.dispute.funds_withdrawn", dispute, NOW)
    taken = await reconciliation.run(72)
    assert taken.tally(Kind.DISPUTE) == Tally(found=1, applied=1)  # listed and in events: once
    assert profile.profiles["u1"].tokens == 5

    clock.now = LATER  # weeks later, the dispute is won; its creation and first events are out of the window
    stripe_fake.set_status(dispute.id, "won")
    missed = await reconciliation.run(72)
    assert (missed.tally(Kind.DISPUTE), profile.profiles["u1"].tokens) == (Tally(), 5)  # nothing says it changed
    stripe_fake.event("charge.dispute.closed", replace(dispute, status="won"), LATER - 60)
    won = await reconciliation.run(72)
    assert (won.tally(Kind.DISPUTE), won.applied) == (Tally(found=1, applied=1), 1)
    (line,) = [line for line in won.lines() if line.startswith(f"  dispute {dispute.id}")]
    assert line == f"  dispute {dispute.id}: charge {charge_id}: gave back 10 tokens"
    assert profile.profiles["u1"].tokens == 15
    assert profile.entries[("u1", f"dispute-reinstated:{dispute.id}")].amount == 10
    entries = dict(profile.entries)
    again = await reconciliation.run(72)
    assert (again.tally(Kind.DISPUTE), again.applied, profile.entries) == (
        Tally(found=1, already_applied=1),
        0,
        entries,
    )


async def test_a_funds_reinstated_event_gives_back_what_the_dispute_took_whatever_its_status(fakes):
    stripe_fake, profile, billing = fakes
    clock = _Clock()
    reconciliation = _reconciliation(stripe_fake, billing, clock)
    _, charge_id = await _paid(stripe_fake, billing, "u1")  # 5 tokens
    dispute = stripe_fake.dispute(charge_id, status="under_review", created=NOW)
    await reconciliation.run(72)
    assert profile.profiles["u1"].tokens == 0

    clock.now = LATER
    stripe_fake.event("charge.dispute.funds_reinstated", dispute, LATER - 60, names_charge=False)
    report = await reconciliation.run(72)
    assert report.tally(Kind.DISPUTE) == Tally(found=1, applied=1)
    assert profile.profiles["u1"].tokens == 5  # as the funds_reinstated webhook would have done
    assert (await reconciliation.run(72)).applied == 0


async def test_a_refund_failed_after_its_creation_left_the_window_is_given_back_once_through_its_events(fakes):
    stripe_fake, profile, billing = fakes
    clock = _Clock()
    reconciliation = _reconciliation(stripe_fake, billing, clock)
    _, charge_id = await _paid(stripe_fake, billing, "u1", quantity=2)  # 10 tokens for 1000
    refund = stripe_fake.refund(charge_id, 500, created=NOW - 60)
    await reconciliation.run(72)
    assert profile.profiles["u1"].tokens == 5

    clock.now = LATER
    stripe_fake.set_status(refund.id, "failed")
    assert (await reconciliation.run(72)).tally(Kind.REFUND) == Tally()  # not created in the window
    # Two events of one refund, neither naming its charge: the refund is read once; its charge's claw-back
    # re-reads amounts and statuses.
    stripe_fake.event("charge.refund.updated", refund, LATER - 60, names_charge=False)
    stripe_fake.event("refund.failed", refund, LATER - 60, names_charge=False)
    report = await reconciliation.run(72)
    assert report.tally(Kind.REFUND) == Tally(found=1, applied=1)
    assert (report.applied, profile.profiles["u1"].tokens) == (1, 10)
    assert profile.entries[("u1", f"refund-reversal:{refund.id}")].amount == 5
    again = await reconciliation.run(72)
    assert (again.tally(Kind.REFUND), again.applied, profile.profiles["u1"].tokens) == (
        Tally(found=1, already_applied=1),
        0,
        10,
    )


async def test_an_event_whose_object_cannot_be_read_fails_it_alone(fakes):
    stripe_fake, profile, billing = fakes
    clock = _Clock()
    reconciliation = _reconciliation(stripe_fake, billing, clock)
    _, charge_id = await _paid(stripe_fake, billing, "u1")
    refund = stripe_fake.refund(charge_id, 500, created=NOW)
    await reconciliation.run(72)
    clock.now = LATER
    stripe_fake.set_status(refund.id, "failed")
    stripe_fake.event("refund.failed", refund, LATER - 60, names_charge=False)
    stripe_fake.events.insert(0, EventRecord("evt_gone", "charge.dispute.closed", LATER - 30, "dp_gone"))
    report = await reconciliation.run(72)
    assert _outcomes(report, Kind.DISPUTE) == {"dp_gone": ItemOutcome.FAILED}
    assert _outcomes(report, Kind.REFUND) == {refund.id: ItemOutcome.APPLIED}
    assert (profile.profiles["u1"].tokens, report.exit_code) == (5, 1)


# --- billing portal --------------------------------------------------------------------------------------


async def test_portal_is_for_the_linked_customer_only(fakes):
    stripe_fake, profile, billing = fakes
    await _paid(stripe_fake, billing, "u1")  # links cus_1
    url = await billing.portal.create_session("u1", "http://localhost:8080/account")
    assert url == "https://portal.test/bps_1"
    assert stripe_fake.portal_sessions == [("cus_1", "http://localhost:8080/account")]

    profile.add("u2")
    for uid in ("u2", "nobody"):
        with pytest.raises(NoStripeCustomer):
            await billing.portal.create_session(uid, "http://localhost:8080/account")
    for bad in ("", "https://evil.example/", "ftp://localhost:8080/"):
        with pytest.raises(InvalidArgument) as info:
            await billing.portal.create_session("u1", bad)
        assert info.value.field == "return_url"
    assert len(stripe_fake.portal_sessions) == 1


def test_no_stripe_customer_is_failed_precondition():
    spec = to_rpc_error(NoStripeCustomer())
    assert spec is not None
    assert (spec.code, spec.reason, spec.field) == (grpc.StatusCode.FAILED_PRECONDITION, "NO_STRIPE_CUSTOMER", "uid")
