"""A Stripe customer that disappeared (deleted in the Dashboard, a stand-in restarted) is replaced once, even
when several checkouts of the user find it missing at the same time."""

from __future__ import annotations

import asyncio

from tests.billing.conftest import MONTHLY, Standin, checkout, get_profile, new_user
from tests.support.billing_server import RunningBilling
from tests.support.profile_server import RunningProfile


async def test_racing_checkouts_replace_a_missing_customer_once(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    await checkout(billing, uid)
    old_customer = (await get_profile(sqlite_profile, uid)).stripe_customer_id
    await standin.sdk.v1.customers.delete_async(old_customer)
    before = (await standin.state())["counts"]["customers"]

    replies = await asyncio.gather(*(checkout(billing, uid, request_id=f"after-{i}") for i in range(5)))
    new_customer = (await get_profile(sqlite_profile, uid)).stripe_customer_id
    assert new_customer not in ("", old_customer)
    assert (await standin.state())["counts"]["customers"] == before + 1
    customers = {(await standin.sdk.v1.checkout.sessions.retrieve_async(r.session_id)).customer for r in replies}
    assert customers == {new_customer}
    replacement = (await standin.sdk.v1.customers.retrieve_async(new_customer)).to_dict()
    assert replacement["metadata"] == {"uid": uid}


async def test_a_subscription_checkout_recovers_a_missing_customer_too(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    await checkout(billing, uid)
    old_customer = (await get_profile(sqlite_profile, uid)).stripe_customer_id
    await standin.sdk.v1.customers.delete_async(old_customer)
    reply = await checkout(billing, uid, price_id=MONTHLY)
    session = await standin.sdk.v1.checkout.sessions.retrieve_async(reply.session_id)
    assert session.customer == (await get_profile(sqlite_profile, uid)).stripe_customer_id != old_customer
