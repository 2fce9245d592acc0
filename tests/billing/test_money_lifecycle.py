"""After the purchase: refunds take back what the purchase's ledger entry granted (whatever the catalogue says
today), a refund that fails gives back what it took, disputes take and give back once, refunds and disputes
of one charge never take the same tokens twice, and a shortfall is carried as debt that the next purchase
settles first. Real billing and profile services over gRPC, the stand-in, the real stripe SDK; the stand-in
delivers its webhooks through the relay (a gateway stand-in) unless a test delivers them itself."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator

from profile_service.audit import run_audit
from tests.billing.conftest import (
    API_KEY,
    MONTHLY,
    WEBHOOK_SECRET,
    Standin,
    checkout,
    deliver,
    get_profile,
    history,
    new_user,
)
from tests.support.billing_server import (
    RunningBilling,
    WebhookRelay,
    billing_test_settings,
    run_billing_service,
    run_webhook_relay,
)
from tests.support.profile_server import RunningProfile
from tokens.billing.v1 import billing_service_pb2 as bpb
from tokens.profile.v1 import profile_service_pb2 as ppb


async def _audit_ok(profile: RunningProfile) -> bool:
    out = io.StringIO()
    assert await run_audit(profile.store, out=out) == 0, out.getvalue()
    return True


async def _buy(billing: RunningBilling, standin: Standin, uid: str, quantity: int = 1) -> dict:
    session = await checkout(billing, uid, quantity=quantity)
    return await standin.ctl.complete_session(session.session_id, "paid")


async def _tokens(profile: RunningProfile, uid: str) -> int:
    return (await get_profile(profile, uid)).tokens


async def _entry(profile: RunningProfile, uid: str, key: str) -> ppb.TokenTransaction:
    return (await profile.stub.GetLedgerEntry(ppb.GetLedgerEntryRequest(uid=uid, idempotency_key=key))).entry


async def _keys(profile: RunningProfile, uid: str) -> list[str]:
    return [e.idempotency_key for e in reversed(await history(profile, uid))]


@contextlib.asynccontextmanager
async def _billing_restarted(
    standin: Standin, profile: RunningProfile, **settings: object
) -> AsyncIterator[tuple[RunningBilling, WebhookRelay]]:
    """Billing restarted with other settings (a changed catalogue), the stand-in delivering to it."""
    config = billing_test_settings(stripe_secret_key=API_KEY, stripe_webhook_secret=WEBHOOK_SECRET, **settings)
    async with contextlib.AsyncExitStack() as stack:
        restarted = await stack.enter_async_context(run_billing_service(config, profile.target, standin.url))
        relay = await stack.enter_async_context(run_webhook_relay(restarted.stub))
        await standin.ctl.configure(webhook_url=relay.url)
        try:
            yield restarted, relay
        finally:
            await standin.ctl.configure(webhook_url="")


# --- refunds read what the purchase granted -----------------------------------------------------------------


async def test_refund_after_the_pack_size_changed_takes_exactly_what_was_granted(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    bought = await _buy(billing, standin, uid, quantity=2)  # 2 x 5 tokens
    assert await _tokens(sqlite_profile, uid) == 10

    async with _billing_restarted(standin, sqlite_profile, stripe_onetime_tokens=6) as (restarted, relay6):
        # The success page's check of the old session: what was granted, not a 409.
        check = await restarted.stub.FulfillCheckoutSession(
            bpb.FulfillCheckoutSessionRequest(session_id=bought["session"]["id"], uid=uid)
        )
        assert (check.status, check.tokens_granted, check.balance) == (bpb.FULFILLMENT_STATUS_FULFILLED, 10, 10)
        await standin.ctl.refund_charge(bought["charge"], 500)  # half
        assert ("charge.refunded", 200) in relay6.deliveries
        assert await _tokens(sqlite_profile, uid) == 5
        await standin.ctl.refund_charge(bought["charge"])  # the rest
        assert await _tokens(sqlite_profile, uid) == 0
    refunds = [e for e in await history(sqlite_profile, uid) if e.type == ppb.TOKEN_ENTRY_TYPE_REFUND]
    assert sorted(e.amount for e in refunds) == [-5, -5]
    assert await _audit_ok(sqlite_profile)


async def test_refund_after_the_price_was_retired_takes_exactly_what_was_granted(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    bought = await _buy(billing, standin, uid, quantity=2)
    assert await _tokens(sqlite_profile, uid) == 10
    only_subscription = json.dumps([{"price_id": MONTHLY, "mode": "subscription", "display_name": "Monthly"}])
    async with _billing_restarted(standin, sqlite_profile, billing_catalogue=only_subscription) as (_, relay2):
        done = await standin.ctl.refund_charge(bought["charge"])
        assert ("charge.refunded", 200) in relay2.deliveries
        assert await _tokens(sqlite_profile, uid) == 0
    entry = await _entry(sqlite_profile, uid, f"refund:{done['refund']['id']}")
    assert (entry.amount, entry.shortfall) == (-10, 0)


# --- refunds that fail --------------------------------------------------------------------------------------


async def test_a_refund_that_fails_gives_back_exactly_what_it_took(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    bought = await _buy(billing, standin, uid, quantity=2)
    refunded = await standin.ctl.refund_charge(bought["charge"], 500)
    assert await _tokens(sqlite_profile, uid) == 5
    refund_id = refunded["refund"]["id"]

    await standin.ctl.fail_refund(refund_id)
    assert await _tokens(sqlite_profile, uid) == 10
    given = await _entry(sqlite_profile, uid, f"refund-reversal:{refund_id}")
    assert (given.amount, given.type, given.source["reverses"]) == (
        5,
        ppb.TOKEN_ENTRY_TYPE_REFUND_REVERSAL,
        f"refund:{refund_id}",
    )
    # Every failure event, redelivered: given back once (each reports what was done).
    for event_type in ("charge.refund.updated", "refund.updated", "refund.failed"):
        assert (event_type, 200) in relay.deliveries
        (event,) = await standin.events(event_type, id=refund_id)
        assert (await deliver(billing, *(await standin.signed(event["id"])))).action == "refund_reversed"
    assert await _tokens(sqlite_profile, uid) == 10
    assert (await _keys(sqlite_profile, uid)).count(f"refund-reversal:{refund_id}") == 1
    # A later refund of the charge is still its proportional share.
    await standin.ctl.refund_charge(bought["charge"], 250)
    assert await _tokens(sqlite_profile, uid) == 8
    assert await _audit_ok(sqlite_profile)


async def test_a_failed_refund_after_spending_gives_back_the_tokens_and_the_debt(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    bought = await _buy(billing, standin, uid)
    await sqlite_profile.stub.SpendTokens(ppb.SpendTokensRequest(uid=uid, amount=3, idempotency_key="spend-1"))
    refunded = await standin.ctl.refund_charge(bought["charge"])
    me = await get_profile(sqlite_profile, uid)
    assert (me.tokens, me.debt) == (0, 3)  # took 2, carried 3

    await standin.ctl.fail_refund(refunded["refund"]["id"])
    me = await get_profile(sqlite_profile, uid)
    assert (me.tokens, me.debt) == (2, 0)  # as if the refund never happened
    assert await _audit_ok(sqlite_profile)


# --- disputes -----------------------------------------------------------------------------------------------


async def test_a_dispute_won_after_the_funds_were_withdrawn_puts_the_balance_back(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    bought = await _buy(billing, standin, uid, quantity=2)
    await _buy(billing, standin, uid)  # another purchase, not disputed
    assert await _tokens(sqlite_profile, uid) == 15

    opened = await standin.ctl.dispute_charge(bought["charge"])
    dispute_id = opened["dispute"]["id"]
    assert ("charge.dispute.created", 200) in relay.deliveries
    assert ("charge.dispute.funds_withdrawn", 200) in relay.deliveries
    assert await _tokens(sqlite_profile, uid) == 5
    assert (await _keys(sqlite_profile, uid)).count(f"dispute:{dispute_id}") == 1

    await standin.ctl.close_dispute(dispute_id, "won")
    assert ("charge.dispute.funds_reinstated", 200) in relay.deliveries
    assert await _tokens(sqlite_profile, uid) == 15
    # Every dispute event again, newest first: nothing more changes; each reports the dispute's state.
    actions = {}
    for event in reversed(await standin.events()):
        if event["type"].startswith("charge.dispute."):
            actions[event["type"]] = (await deliver(billing, *(await standin.signed(event["id"])))).action
    assert set(actions.values()) == {"dispute_reinstated"}
    assert await _tokens(sqlite_profile, uid) == 15
    keys = await _keys(sqlite_profile, uid)
    assert (keys.count(f"dispute:{dispute_id}"), keys.count(f"dispute-reinstated:{dispute_id}")) == (1, 1)
    assert (await _entry(sqlite_profile, uid, f"dispute-reinstated:{dispute_id}")).amount == 10
    assert await _audit_ok(sqlite_profile)


async def test_a_lost_dispute_stays_taken(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    bought = await _buy(billing, standin, uid)
    opened = await standin.ctl.dispute_charge(bought["charge"])
    await standin.ctl.close_dispute(opened["dispute"]["id"], "lost")
    assert ("charge.dispute.closed", 200) in relay.deliveries
    assert await _tokens(sqlite_profile, uid) == 0
    (closed,) = await standin.events("charge.dispute.closed")
    assert (await deliver(billing, *(await standin.signed(closed["id"])))).action == "dispute"
    assert not any(k.startswith("dispute-reinstated:") for k in await _keys(sqlite_profile, uid))


async def test_a_lost_dispute_whose_earlier_events_were_lost_is_still_taken(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid)
    bought = await standin.ctl.complete_session(session.session_id, "paid", wait=False)
    opened = await standin.ctl.dispute_charge(bought["charge"], wait=False)
    await standin.ctl.close_dispute(opened["dispute"]["id"], "lost", wait=False)
    (closed,) = await standin.events("charge.dispute.closed")
    reply = await deliver(billing, *(await standin.signed(closed["id"])))  # the only event that arrives
    assert reply.action == "dispute"
    # The purchase was granted first (fulfilment from the refund path), then taken.
    assert await _tokens(sqlite_profile, uid) == 0
    assert sorted(e.amount for e in await history(sqlite_profile, uid)) == [-5, 5]


async def test_a_refund_and_a_dispute_of_one_charge_never_take_twice(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    bought = await _buy(billing, standin, uid, quantity=2)  # 10 tokens, 1000 cents
    await _buy(billing, standin, uid)  # 5 more, not involved
    await standin.ctl.refund_charge(bought["charge"], 300)  # takes 3
    assert await _tokens(sqlite_profile, uid) == 12
    opened = await standin.ctl.dispute_charge(bought["charge"])  # the bank disputes the whole charge
    assert await _tokens(sqlite_profile, uid) == 5  # the dispute took the 7 refunds had not
    assert (await _entry(sqlite_profile, uid, f"dispute:{opened['dispute']['id']}")).amount == -7
    await standin.ctl.close_dispute(opened["dispute"]["id"], "won")
    assert await _tokens(sqlite_profile, uid) == 12  # the refund still holds its 3
    assert await _audit_ok(sqlite_profile)


async def test_a_dispute_delivered_before_the_refund_event_still_nets_to_the_grant(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid, quantity=2)
    bought = await standin.ctl.complete_session(session.session_id, "paid", wait=False)
    await standin.ctl.refund_charge(bought["charge"], 500, wait=False)
    await standin.ctl.dispute_charge(bought["charge"], wait=False)
    events = await standin.events()
    # Newest first: dispute, refund, then the checkout.
    for event in reversed(events):
        await deliver(billing, *(await standin.signed(event["id"])))
    assert await _tokens(sqlite_profile, uid) == 0
    amounts = sorted(e.amount for e in await history(sqlite_profile, uid))
    assert amounts == [-5, -5, 10]
    assert await _audit_ok(sqlite_profile)


# --- shortfall carried as debt ------------------------------------------------------------------------------


async def test_buy_spend_refund_buy_again_pays_the_debt_first(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    first = await _buy(billing, standin, uid)
    await sqlite_profile.stub.SpendTokens(ppb.SpendTokensRequest(uid=uid, amount=5, idempotency_key="spend-all"))
    await standin.ctl.refund_charge(first["charge"])
    me = await get_profile(sqlite_profile, uid)
    assert (me.tokens, me.debt) == (0, 5)

    session = await checkout(billing, uid, quantity=2)
    await standin.ctl.complete_session(session.session_id, "paid")
    me = await get_profile(sqlite_profile, uid)
    assert (me.tokens, me.debt) == (5, 0)  # 10 bought: 5 paid the debt
    grant = await _entry(sqlite_profile, uid, f"checkout:{session.session_id}")
    assert (grant.amount, grant.debt_settled) == (5, 5)
    # The success page reports what the purchase granted, and the balance.
    check = await billing.stub.FulfillCheckoutSession(
        bpb.FulfillCheckoutSessionRequest(session_id=session.session_id, uid=uid)
    )
    assert (check.tokens_granted, check.balance) == (10, 5)
    assert await _audit_ok(sqlite_profile)


async def test_a_refund_of_a_purchase_that_paid_debt_takes_the_whole_grant(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    first = await _buy(billing, standin, uid)
    await sqlite_profile.stub.SpendTokens(ppb.SpendTokensRequest(uid=uid, amount=5, idempotency_key="spend-all"))
    await standin.ctl.refund_charge(first["charge"])  # debt 5
    second = await _buy(billing, standin, uid, quantity=2)  # 5 to debt, 5 to the balance
    await standin.ctl.refund_charge(second["charge"])  # the whole grant of 10: 5 taken, 5 owed again
    me = await get_profile(sqlite_profile, uid)
    assert (me.tokens, me.debt) == (0, 5)
    assert await _audit_ok(sqlite_profile)


async def test_concurrent_refund_and_dispute_events_take_the_grant_once(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid, quantity=2)
    bought = await standin.ctl.complete_session(session.session_id, "paid", wait=False)
    await deliver(billing, *(await standin.signed((await standin.events("checkout.session.completed"))[0]["id"])))
    await standin.ctl.refund_charge(bought["charge"], 400, wait=False)
    await standin.ctl.dispute_charge(bought["charge"], wait=False)
    signed = [
        await standin.signed(e["id"]) for e in await standin.events() if e["type"] != "checkout.session.completed"
    ]
    await asyncio.gather(*(deliver(billing, *s) for s in signed * 3))
    assert await _tokens(sqlite_profile, uid) == 0
    assert sorted(e.amount for e in await history(sqlite_profile, uid)) == [-6, -4, 10]
    assert await _audit_ok(sqlite_profile)
