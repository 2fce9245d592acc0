"""charge.refunded: take back what that payment granted (in proportion to the amount refunded), one ledger
entry per refund keyed by the refund id, never below zero, and the ledger still audits clean."""

from __future__ import annotations

import io

from profile_service.audit import run_audit
from tests.billing.conftest import Standin, checkout, deliver, get_profile, history, new_user
from tests.support.billing_server import RunningBilling, WebhookRelay
from tests.support.profile_server import RunningProfile
from tokens.profile.v1 import profile_service_pb2 as ppb


async def _audit_ok(profile: RunningProfile) -> bool:
    return await run_audit(profile.store, out=io.StringIO()) == 0


async def _buy(billing: RunningBilling, standin: Standin, uid: str, quantity: int = 1) -> dict:
    session = await checkout(billing, uid, quantity=quantity)
    return await standin.ctl.complete_session(session.session_id, "paid")


async def test_full_refund_takes_back_what_the_payment_granted(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    first = await _buy(billing, standin, uid)
    await _buy(billing, standin, uid, quantity=2)
    assert (await get_profile(sqlite_profile, uid)).tokens == 15

    done = await standin.ctl.refund_charge(first["charge"])
    assert ("charge.refunded", 200) in relay.deliveries
    assert (await get_profile(sqlite_profile, uid)).tokens == 10
    newest = (await history(sqlite_profile, uid))[0]
    assert (newest.amount, newest.type, newest.idempotency_key) == (
        -5,
        ppb.TOKEN_ENTRY_TYPE_REFUND,
        f"refund:{done['refund']['id']}",
    )
    assert newest.source["charge_id"] == first["charge"]
    assert first["session"]["id"] in newest.reason
    assert await _audit_ok(sqlite_profile)

    # Redelivering the refund event changes nothing.
    (event,) = await standin.events("charge.refunded", id=first["charge"])
    payload, signature = await standin.signed(event["id"])
    assert (await deliver(billing, payload, signature)).action == "refund"
    assert (await get_profile(sqlite_profile, uid)).tokens == 10
    assert len(await history(sqlite_profile, uid)) == 3


async def test_partial_refunds_are_proportional_and_add_up_to_the_grant(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    bought = await _buy(billing, standin, uid, quantity=2)  # 10 tokens for 1000 cents
    assert (await get_profile(sqlite_profile, uid)).tokens == 10

    balances = []
    for amount in (500, 250, 125, 125):
        await standin.ctl.refund_charge(bought["charge"], amount)
        balances.append((await get_profile(sqlite_profile, uid)).tokens)
    # Cumulative refunded 500/750/875/1000 of 1000 -> floor(10 * share) taken: 5, 7, 8, 10.
    assert balances == [5, 3, 2, 0]
    refunds = [e for e in await history(sqlite_profile, uid) if e.type == ppb.TOKEN_ENTRY_TYPE_REFUND]
    assert [e.amount for e in reversed(refunds)] == [-5, -2, -1, -2]
    assert await _audit_ok(sqlite_profile)


async def test_refund_after_spending_never_goes_below_zero_and_records_the_shortfall(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    bought = await _buy(billing, standin, uid)
    await sqlite_profile.stub.SpendTokens(ppb.SpendTokensRequest(uid=uid, amount=3, idempotency_key="spend-1"))

    await standin.ctl.refund_charge(bought["charge"])
    profile = await get_profile(sqlite_profile, uid)
    assert profile.tokens == 0
    newest = (await history(sqlite_profile, uid))[0]
    assert newest.type == ppb.TOKEN_ENTRY_TYPE_REFUND
    assert newest.amount == -2  # 5 asked, 2 there: 3 short
    assert newest.source["requested_tokens"] == "5"
    assert "takes back 5" in newest.reason and "shortfall" in newest.reason
    assert await _audit_ok(sqlite_profile)


async def test_refund_arriving_before_the_checkout_event_still_nets_to_zero(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    """Delivery order is not guaranteed: the refund handler makes sure the grant exists first."""
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid)
    bought = await standin.ctl.complete_session(session.session_id, "paid", wait=False)
    await standin.ctl.refund_charge(bought["charge"], wait=False)
    (refunded,) = await standin.events("charge.refunded", id=bought["charge"])
    (completed,) = await standin.events("checkout.session.completed", id=session.session_id)
    for event in (refunded, completed):
        payload, signature = await standin.signed(event["id"])
        await deliver(billing, payload, signature)
    assert (await get_profile(sqlite_profile, uid)).tokens == 0
    assert sorted(e.amount for e in await history(sqlite_profile, uid)) == [-5, 5]
    assert await _audit_ok(sqlite_profile)


async def test_a_refund_takes_back_its_purchases_tokens_not_promotional_ones(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    promo = await sqlite_profile.stub.GrantTokens(
        ppb.GrantTokensRequest(uid=uid, amount=20, type=ppb.TOKEN_ENTRY_TYPE_PROMOTIONAL, idempotency_key="welcome")
    )
    bought = await _buy(billing, standin, uid)
    grant_entry = next(e for e in await history(sqlite_profile, uid) if e.type == ppb.TOKEN_ENTRY_TYPE_PURCHASE)

    await standin.ctl.refund_charge(bought["charge"])
    newest = (await history(sqlite_profile, uid))[0]
    # The spending order alone would take promotional tokens first; the refund names the purchase's grant.
    assert newest.type == ppb.TOKEN_ENTRY_TYPE_REFUND
    assert [(a.grant_id, a.amount) for a in newest.allocations] == [(grant_entry.entry_id, 5)]
    assert promo.entry.entry_id != grant_entry.entry_id
    assert (await get_profile(sqlite_profile, uid)).tokens == 20
    assert await _audit_ok(sqlite_profile)
