"""GetLedgerEntry, SHORTFALL_POLICY (carry: debt settled by the next grants; forgive: clamp and record) and
LinkStripeCustomer's compare-and-set replacement, over real gRPC on every store (see conftest.py)."""

from __future__ import annotations

import asyncio
import io
import sqlite3

import grpc
import pytest

from profile_service.audit import run_audit
from profile_service.domain.ledger import ShortfallPolicy
from profile_service.settings import ProfileSettings
from profile_service.store.sqlite_store import SqliteStore
from tests.support.grpc_errors import raises_rpc
from tests.support.profile_server import run_profile_service
from tokens.profile.v1 import profile_service_pb2 as pb

PURCHASE = pb.TOKEN_ENTRY_TYPE_PURCHASE


async def create(profile, uid):
    await profile.stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email="u@example.com"))


async def grant(profile, uid, amount, key, type_=PURCHASE):
    return await profile.stub.GrantTokens(
        pb.GrantTokensRequest(uid=uid, amount=amount, type=type_, idempotency_key=key, source={"k": key})
    )


async def spend(profile, uid, amount, key):
    return await profile.stub.SpendTokens(pb.SpendTokensRequest(uid=uid, amount=amount, idempotency_key=key))


async def revoke(profile, uid, amount, key):
    return await profile.stub.RevokeTokens(pb.RevokeTokensRequest(uid=uid, amount=amount, idempotency_key=key))


async def get(profile, uid) -> pb.UserProfile:
    return (await profile.stub.GetProfile(pb.GetProfileRequest(uid=uid))).profile


async def audit_ok(profile) -> bool:
    out = io.StringIO()
    code = await run_audit(profile.store, out=out)
    assert code == 0, out.getvalue()
    return True


async def test_get_ledger_entry_answers_what_the_key_did(profile, uid):
    await create(profile, uid)
    granted = await grant(profile, uid, 5, "checkout:cs_1")
    await spend(profile, uid, 4, "spend-1")
    revoked = await revoke(profile, uid, 5, "refund:re_1")

    got = (await profile.stub.GetLedgerEntry(pb.GetLedgerEntryRequest(uid=uid, idempotency_key="checkout:cs_1"))).entry
    assert got == granted.entry
    got = (await profile.stub.GetLedgerEntry(pb.GetLedgerEntryRequest(uid=uid, idempotency_key="refund:re_1"))).entry
    assert got == revoked.entry
    assert (got.amount, got.shortfall, got.debt_added) == (-1, 4, 4)


async def test_get_ledger_entry_not_found_names_the_reason(profile, uid):
    await create(profile, uid)
    async with raises_rpc(grpc.StatusCode.NOT_FOUND, reason="ENTRY_NOT_FOUND", field="idempotency_key"):
        await profile.stub.GetLedgerEntry(pb.GetLedgerEntryRequest(uid=uid, idempotency_key="checkout:nope"))
    # Another user's key is not this user's entry.
    await grant(profile, uid, 5, "mine")
    await create(profile, uid + "-other")
    async with raises_rpc(grpc.StatusCode.NOT_FOUND, reason="ENTRY_NOT_FOUND"):
        await profile.stub.GetLedgerEntry(pb.GetLedgerEntryRequest(uid=uid + "-other", idempotency_key="mine"))
    async with raises_rpc(grpc.StatusCode.NOT_FOUND, reason="PROFILE_NOT_FOUND"):
        await profile.stub.GetLedgerEntry(pb.GetLedgerEntryRequest(uid=uid + "-nobody", idempotency_key="mine"))
    async with raises_rpc(grpc.StatusCode.INVALID_ARGUMENT, field="idempotency_key"):
        await profile.stub.GetLedgerEntry(pb.GetLedgerEntryRequest(uid=uid, idempotency_key=""))


async def test_carry_buy_spend_refund_buy_again_pays_the_debt_first(profile, uid):
    await create(profile, uid)
    await grant(profile, uid, 5, "buy-1")
    await spend(profile, uid, 3, "spend-1")
    refund = await revoke(profile, uid, 5, "refund-1")
    assert (refund.balance, refund.shortfall, refund.entry.amount, refund.entry.debt_added) == (0, 3, -2, 3)
    assert ((await get(profile, uid)).tokens, (await get(profile, uid)).debt) == (0, 3)
    assert await audit_ok(profile)
    async with raises_rpc(grpc.StatusCode.FAILED_PRECONDITION, reason="INSUFFICIENT_TOKENS"):
        await spend(profile, uid, 1, "spend-2")

    second = await grant(profile, uid, 5, "buy-2")
    assert (second.balance, second.entry.amount, second.entry.debt_settled) == (2, 2, 3)
    me = await get(profile, uid)
    assert (me.tokens, me.debt) == (2, 0)
    # A replay answers the first result, debt included.
    again = await grant(profile, uid, 5, "buy-2")
    assert again.already_applied and again.entry == second.entry
    assert await audit_ok(profile)


async def test_concurrent_grants_settle_the_debt_exactly_once(profile, uid):
    await create(profile, uid)
    await revoke(profile, uid, 10, "refund-1")
    replies = await asyncio.gather(*(grant(profile, uid, 3, f"g-{i}") for i in range(6)))
    assert sum(r.entry.debt_settled for r in replies) == 10
    assert sum(r.entry.amount for r in replies) == 8
    me = await get(profile, uid)
    assert (me.tokens, me.debt) == (8, 0)
    assert await audit_ok(profile)


@pytest.fixture
async def forgiving(make_store):
    settings = ProfileSettings(_env_file=None, shortfall_policy=ShortfallPolicy.FORGIVE)
    async with run_profile_service(make_store(), settings) as running:
        yield running


async def test_forgive_clamps_at_zero_and_the_next_grant_is_whole(forgiving, uid):
    await create(forgiving, uid)
    await grant(forgiving, uid, 5, "buy-1")
    await spend(forgiving, uid, 3, "spend-1")
    refund = await revoke(forgiving, uid, 5, "refund-1")
    assert (refund.balance, refund.shortfall, refund.entry.debt_added) == (0, 3, 0)
    assert (await get(forgiving, uid)).debt == 0
    second = await grant(forgiving, uid, 5, "buy-2")
    assert (second.balance, second.entry.debt_settled) == (5, 0)
    assert await audit_ok(forgiving)


def test_shortfall_policy_setting_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("SHORTFALL_POLICY", "forgive")
    assert ProfileSettings(_env_file=None).shortfall_policy is ShortfallPolicy.FORGIVE
    monkeypatch.setenv("SHORTFALL_POLICY", "ignore")
    with pytest.raises(ValueError, match="shortfall_policy"):
        ProfileSettings(_env_file=None)


async def test_link_replaces_only_the_named_customer(profile, uid):
    await create(profile, uid)
    link = profile.stub.LinkStripeCustomer
    assert (await link(pb.LinkStripeCustomerRequest(uid=uid, customer_id="cus_old"))).customer_id == "cus_old"
    # Without replaces_customer_id the first link stays.
    kept = await link(pb.LinkStripeCustomerRequest(uid=uid, customer_id="cus_x"))
    assert (kept.customer_id, kept.linked) == ("cus_old", False)
    # Racing replacements of the same old id: exactly one wins, every caller gets the winner.
    replies = await asyncio.gather(
        *(
            link(pb.LinkStripeCustomerRequest(uid=uid, customer_id=f"cus_new{i}", replaces_customer_id="cus_old"))
            for i in range(5)
        )
    )
    winners = [r for r in replies if r.linked]
    assert len(winners) == 1
    assert {r.customer_id for r in replies} == {winners[0].customer_id}
    assert (await get(profile, uid)).stripe_customer_id == winners[0].customer_id
    async with raises_rpc(grpc.StatusCode.INVALID_ARGUMENT, field="replaces_customer_id"):
        await link(pb.LinkStripeCustomerRequest(uid=uid, customer_id="cus_y", replaces_customer_id="x" * 500))


async def test_an_sqlite_file_from_before_debt_gets_the_new_columns(tmp_path, uid):
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE users (uid TEXT PRIMARY KEY, email TEXT NOT NULL, created_at TEXT NOT NULL,
          last_login TEXT NOT NULL, stripe_customer_id TEXT NOT NULL DEFAULT '', has_access INTEGER NOT NULL DEFAULT 0,
          one_time_purchase INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0 CHECK (tokens >= 0),
          purchase_date TEXT, product_id TEXT NOT NULL DEFAULT '', price_id TEXT NOT NULL DEFAULT '',
          subscription_status TEXT NOT NULL DEFAULT '', current_period_end TEXT,
          display_name TEXT NOT NULL DEFAULT '', entitlements_as_of TEXT, ledger_seq INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE token_history (uid TEXT NOT NULL REFERENCES users(uid), seq INTEGER NOT NULL,
          entry_id TEXT NOT NULL UNIQUE, amount INTEGER NOT NULL, type TEXT NOT NULL, timestamp TEXT NOT NULL,
          balance_after INTEGER NOT NULL CHECK (balance_after >= 0), idempotency_key TEXT NOT NULL,
          fingerprint TEXT NOT NULL, source TEXT NOT NULL, reason TEXT NOT NULL,
          shortfall INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (uid, seq), UNIQUE (uid, idempotency_key));
        """
    )
    old.execute(
        "INSERT INTO users (uid, email, created_at, last_login) VALUES (?, 'a@b.c', ?, ?)",
        (uid, "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00"),
    )
    old.commit()
    old.close()
    async with run_profile_service(SqliteStore(path)) as running:
        await revoke(running, uid, 2, "r")
        await grant(running, uid, 5, "g")
        me = await get(running, uid)
        assert (me.tokens, me.debt) == (3, 0)
        assert await audit_ok(running)
