"""Subscription allowances end to end: a subscription checkout paid on the stand-in sends invoice.paid and
billing grants the period's allowance (key invoice:{id}, type ALLOWANCE, its own grant); a renewal grants
the next period's; a pack bought in between is its own grant that no renewal touches; redeliveries and
reconciliation grant nothing twice. Real billing and profile services over gRPC, the stand-in, the real
stripe SDK.

What these tests read back is what billing sent (amount, type, key, source, and the expiry the profile
service stores). How grants expire and roll over is the profile service's part of issue 13 (helper J):
the assertions on `expires_at` need it and are marked "J:" below."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import pytest

from billing_service.reconcile import run_reconcile
from devtools.stripe_standin.objects import add_interval
from tests.billing.conftest import (
    API_KEY,
    MONTHLY,
    ONE_TIME,
    WEBHOOK_SECRET,
    Standin,
    checkout,
    deliver,
    get_profile,
    history,
    new_user,
)
from tests.support.billing_server import RunningBilling, WebhookRelay, billing_test_settings, run_billing_service
from tests.support.profile_server import RunningProfile
from tokens.billing.v1 import billing_service_pb2 as bpb
from tokens.profile.v1 import profile_service_pb2 as ppb

TOKENS_PER_PERIOD = 100
ROLLOVER_MAX = 20


def _settings(**overrides: object):
    return billing_test_settings(
        stripe_secret_key=API_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_subscription_tokens_per_period=TOKENS_PER_PERIOD,
        stripe_subscription_rollover_max=ROLLOVER_MAX,
        **overrides,
    )


@pytest.fixture
async def billing(standin: Standin, sqlite_profile: RunningProfile) -> AsyncIterator[RunningBilling]:
    """Billing with an allowance on the subscription price (replaces conftest's `billing`, so `relay`
    delivers to this one)."""
    async with run_billing_service(_settings(), sqlite_profile.target, standin.url) as running:
        yield running


async def _entry(profile: RunningProfile, uid: str, key: str) -> ppb.TokenTransaction:
    reply = await profile.stub.GetLedgerEntry(ppb.GetLedgerEntryRequest(uid=uid, idempotency_key=key))
    return reply.entry


async def _subscribe(billing: RunningBilling, standin: Standin, uid: str) -> dict:
    session = await checkout(billing, uid, price_id=MONTHLY)
    done = await standin.ctl.complete_session(session.session_id, "paid")
    assert all(d["status"] == "delivered" for d in done["deliveries"]), done["deliveries"]
    return done


async def _line_period(standin: Standin, invoice_id: str) -> tuple[int, int]:
    invoice = await standin.sdk.v1.invoices.retrieve_async(invoice_id)
    period = invoice.lines.data[0].period
    return period.start, period.end


async def test_list_prices_shows_the_allowance(billing: RunningBilling):
    prices = {p.price_id: p for p in (await billing.stub.ListPrices(bpb.ListPricesRequest())).prices}
    assert (prices[MONTHLY].tokens_per_period, prices[MONTHLY].rollover_max) == (TOKENS_PER_PERIOD, ROLLOVER_MAX)
    assert (prices[ONE_TIME].tokens_per_period, prices[ONE_TIME].rollover_max) == (0, 0)


async def test_each_paid_period_grants_its_allowance_and_bought_packs_stay_untouched(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    done = await _subscribe(billing, standin, uid)
    first_invoice = done["session"]["invoice"]
    assert ("invoice.paid", 200) in relay.deliveries

    first = await _entry(sqlite_profile, uid, f"invoice:{first_invoice}")
    assert (first.amount, first.type) == (TOKENS_PER_PERIOD, ppb.TOKEN_ENTRY_TYPE_ALLOWANCE)
    assert dict(first.source) == {
        "invoice_id": first_invoice,
        "subscription_id": done["subscription"],
        "price_id": MONTHLY,
    }
    start, end = await _line_period(standin, first_invoice)
    assert first.expires_at.seconds == end  # J: the profile service stores the grant's expiry
    assert (await get_profile(sqlite_profile, uid)).tokens == TOKENS_PER_PERIOD

    # A pack bought during the period: its own grant.
    pack_session = await checkout(billing, uid, price_id=ONE_TIME, quantity=2)
    await standin.ctl.complete_session(pack_session.session_id, "paid")
    pack = await _entry(sqlite_profile, uid, f"checkout:{pack_session.session_id}")
    assert (pack.amount, pack.type) == (10, ppb.TOKEN_ENTRY_TYPE_PURCHASE)
    assert (await get_profile(sqlite_profile, uid)).tokens == TOKENS_PER_PERIOD + 10

    renewed = await standin.ctl.renew_subscription(done["subscription"])
    assert all(d["status"] == "delivered" for d in renewed["deliveries"]), renewed["deliveries"]
    second_invoice = renewed["invoice"]["id"]
    second = await _entry(sqlite_profile, uid, f"invoice:{second_invoice}")
    assert (second.amount, second.type) == (TOKENS_PER_PERIOD, ppb.TOKEN_ENTRY_TYPE_ALLOWANCE)
    assert dict(second.source) == {
        "invoice_id": second_invoice,
        "subscription_id": done["subscription"],
        "price_id": MONTHLY,
    }
    next_start, next_end = await _line_period(standin, second_invoice)
    # Renewed before the period's end, so the next period starts now (the stand-in's renew).
    assert start <= next_start < end and next_end == add_interval(next_start, "month")
    assert second.expires_at.seconds == next_end  # J: expiry stored

    # The renewal added a grant; it neither overwrote nor took from the pack (nor the first allowance).
    assert await _entry(sqlite_profile, uid, f"checkout:{pack_session.session_id}") == pack
    assert await _entry(sqlite_profile, uid, f"invoice:{first_invoice}") == first
    entries = await history(sqlite_profile, uid)
    assert [e.idempotency_key for e in entries] == [
        f"invoice:{second_invoice}",
        f"checkout:{pack_session.session_id}",
        f"invoice:{first_invoice}",
    ]
    assert (await get_profile(sqlite_profile, uid)).tokens == 2 * TOKENS_PER_PERIOD + 10


async def test_redelivered_invoice_paid_grants_once(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    done = await _subscribe(billing, standin, uid)
    (paid_event,) = await standin.events("invoice.paid")
    for _ in range(3):
        redelivered = await standin.ctl.redeliver(paid_event["id"])
        assert [d["status"] for d in redelivered["deliveries"]] == ["delivered"]
    assert relay.deliveries.count(("invoice.paid", 200)) == 4
    entries = await history(sqlite_profile, uid)
    assert [e.idempotency_key for e in entries] == [f"invoice:{done['session']['invoice']}"]
    assert (await get_profile(sqlite_profile, uid)).tokens == TOKENS_PER_PERIOD


async def test_concurrent_deliveries_of_one_invoice_grant_once(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid, price_id=MONTHLY)
    done = await standin.ctl.complete_session(session.session_id, "paid", wait=False)
    (paid_event,) = await standin.events("invoice.paid")
    payload, signature = await standin.signed(paid_event["id"])
    replies = await asyncio.gather(*(deliver(billing, payload, signature) for _ in range(20)))
    assert {r.action for r in replies} == {"allowance"}
    entries = await history(sqlite_profile, uid)
    assert [(e.idempotency_key, e.amount) for e in entries] == [
        (f"invoice:{done['session']['invoice']}", TOKENS_PER_PERIOD)
    ]
    assert (await get_profile(sqlite_profile, uid)).tokens == TOKENS_PER_PERIOD


async def test_reconcile_grants_allowances_whose_webhook_was_lost(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    """No webhook is delivered at all (no relay): reconciliation finds the paid invoices."""
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid, price_id=MONTHLY)
    done = await standin.ctl.complete_session(session.session_id, "paid", wait=False)
    renewed = await standin.ctl.renew_subscription(done["subscription"], wait=False)
    assert (await get_profile(sqlite_profile, uid)).tokens == 0

    settings = _settings(stripe_api_base=standin.url, profile_target=sqlite_profile.target)
    for expected in ("found 2, applied 2, already applied 0", "found 2, applied 0, already applied 2"):
        out = io.StringIO()
        assert await run_reconcile(settings, 72, out) == 0, out.getvalue()
        (line,) = [line for line in out.getvalue().splitlines() if line.startswith("subscription invoices")]
        assert expected in line, line
    keys = [e.idempotency_key for e in await history(sqlite_profile, uid)]
    assert sorted(keys) == sorted([f"invoice:{done['session']['invoice']}", f"invoice:{renewed['invoice']['id']}"])
    assert (await get_profile(sqlite_profile, uid)).tokens == 2 * TOKENS_PER_PERIOD
