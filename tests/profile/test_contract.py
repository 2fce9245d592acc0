"""The ProfileService contract, run against every store (see conftest.py)."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2

from profile_service.audit import run_audit
from tests.support.grpc_errors import raises_rpc
from tokens.profile.v1 import profile_service_pb2 as pb

PURCHASE = pb.TOKEN_ENTRY_TYPE_PURCHASE
INVALID = grpc.StatusCode.INVALID_ARGUMENT


async def create(profile, uid, email="user@example.com"):
    return await profile.stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email=email))


async def grant(profile, uid, amount=5, key="k1", type_=PURCHASE, source=None):
    return await profile.stub.GrantTokens(
        pb.GrantTokensRequest(uid=uid, amount=amount, type=type_, idempotency_key=key, source=source or {})
    )


async def balance(profile, uid) -> int:
    return (await profile.stub.GetProfile(pb.GetProfileRequest(uid=uid))).profile.tokens


async def history(profile, uid, page_size=100, page_token=""):
    return await profile.stub.ListTokenHistory(
        pb.ListTokenHistoryRequest(uid=uid, page_size=page_size, page_token=page_token)
    )


async def test_new_profile_starts_empty_and_create_is_idempotent(profile, uid):
    first = await create(profile, uid, "a@example.com")
    assert first.created
    assert first.profile.tokens == 0 and not first.profile.has_access and not first.profile.one_time_purchase
    assert first.profile.created_at.seconds > 0
    again = await create(profile, uid, "other@example.com")
    assert not again.created
    assert again.profile.email == "a@example.com"


async def test_get_missing_profile_is_not_found(profile, uid):
    async with raises_rpc(grpc.StatusCode.NOT_FOUND, "PROFILE_NOT_FOUND"):
        await profile.stub.GetProfile(pb.GetProfileRequest(uid=uid))


async def test_grant_then_replay_returns_first_result(profile, uid):
    await create(profile, uid)
    first = await grant(profile, uid, 5, "checkout:cs_1", source={"checkout_session_id": "cs_1"})
    assert (first.balance, first.already_applied) == (5, False)
    assert first.entry.amount == 5 and first.entry.balance_after == 5
    await grant(profile, uid, 7, "promo-1", type_=pb.TOKEN_ENTRY_TYPE_PROMOTIONAL)
    replay = await grant(profile, uid, 5, "checkout:cs_1", source={"checkout_session_id": "cs_1"})
    assert replay.already_applied
    assert replay.entry == first.entry
    assert replay.balance == 5  # the first result, not today's balance
    assert await balance(profile, uid) == 12


async def test_key_reused_with_other_parameters_is_refused(profile, uid):
    await create(profile, uid)
    await grant(profile, uid, 5, "k")
    async with raises_rpc(grpc.StatusCode.ALREADY_EXISTS, "IDEMPOTENCY_KEY_REUSED", "idempotency_key"):
        await grant(profile, uid, 6, "k")
    assert await balance(profile, uid) == 5


async def test_identical_purchases_are_two_entries(profile, uid):
    await create(profile, uid)
    await grant(profile, uid, 5, "checkout:a")
    await grant(profile, uid, 5, "checkout:b")
    entries = (await history(profile, uid)).entries
    assert [e.amount for e in entries] == [5, 5]
    assert await balance(profile, uid) == 10


async def test_purchase_grant_records_purchase_fields(profile, uid):
    await create(profile, uid)
    await grant(profile, uid, 5, "checkout:cs", source={"price_id": "price_x", "product_id": "prod_x"})
    got = (await profile.stub.GetProfile(pb.GetProfileRequest(uid=uid))).profile
    assert got.one_time_purchase and got.price_id == "price_x" and got.product_id == "prod_x"
    assert got.purchase_date.seconds > 0


async def test_spend_short_balance_fails_and_writes_nothing(profile, uid):
    await create(profile, uid)
    await grant(profile, uid, 3, "g")
    async with raises_rpc(grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_TOKENS", "amount"):
        await profile.stub.SpendTokens(pb.SpendTokensRequest(uid=uid, amount=4, idempotency_key="s"))
    assert await balance(profile, uid) == 3
    assert len((await history(profile, uid)).entries) == 1
    spent = await profile.stub.SpendTokens(pb.SpendTokensRequest(uid=uid, amount=3, idempotency_key="s", reason="x"))
    assert (spent.balance, spent.entry.amount, spent.entry.type) == (0, -3, pb.TOKEN_ENTRY_TYPE_SPEND)
    replay = await profile.stub.SpendTokens(pb.SpendTokensRequest(uid=uid, amount=3, idempotency_key="s", reason="x"))
    assert replay.already_applied and replay.entry == spent.entry


async def test_revoke_never_goes_below_zero_and_reports_shortfall(profile, uid):
    await create(profile, uid)
    await grant(profile, uid, 5, "g")
    await profile.stub.SpendTokens(pb.SpendTokensRequest(uid=uid, amount=2, idempotency_key="s"))
    revoked = await profile.stub.RevokeTokens(
        pb.RevokeTokensRequest(uid=uid, amount=5, idempotency_key="refund:re_1", reason="refund")
    )
    assert (revoked.balance, revoked.shortfall, revoked.entry.amount) == (0, 2, -3)
    assert revoked.entry.shortfall == 2 and "short by 2" in revoked.entry.reason
    assert revoked.entry.type == pb.TOKEN_ENTRY_TYPE_REFUND
    assert await balance(profile, uid) == 0


async def test_history_is_newest_first_and_pages(profile, uid):
    await create(profile, uid)
    for i in range(5):
        await grant(profile, uid, i + 1, f"k{i}")
    page1 = await history(profile, uid, page_size=2)
    assert [e.amount for e in page1.entries] == [5, 4] and page1.next_page_token
    page2 = await history(profile, uid, page_size=2, page_token=page1.next_page_token)
    assert [e.amount for e in page2.entries] == [3, 2]
    page3 = await history(profile, uid, page_size=2, page_token=page2.next_page_token)
    assert [e.amount for e in page3.entries] == [1] and page3.next_page_token == ""
    ts = [e.timestamp.ToDatetime() for p in (page1, page2, page3) for e in p.entries]
    assert ts == sorted(ts, reverse=True)


async def test_page_token_of_another_user_is_refused(profile, uid):
    await create(profile, uid)
    await create(profile, uid + "-b")
    for i in range(3):
        await grant(profile, uid, 1, f"k{i}")
    token = (await history(profile, uid, page_size=1)).next_page_token
    async with raises_rpc(INVALID, field="page_token"):
        await history(profile, uid + "-b", page_size=1, page_token=token)


async def test_update_profile_edits_only_user_fields(profile, uid):
    await create(profile, uid)
    updated = await profile.stub.UpdateProfile(
        pb.UpdateProfileRequest(
            profile=pb.UserProfile(uid=uid, display_name="Ada", tokens=999),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        )
    )
    assert updated.profile.display_name == "Ada" and updated.profile.tokens == 0


@pytest.mark.parametrize(
    "path",
    [
        "tokens",
        "has_access",
        "one_time_purchase",
        "stripe_customer_id",
        "purchase_date",
        "price_id",
        "product_id",
        "subscription_status",
    ],
)
async def test_update_mask_naming_read_only_field_is_refused(profile, uid, path):
    await create(profile, uid)
    async with raises_rpc(INVALID, "READ_ONLY_FIELD", path) as raised:
        await profile.stub.UpdateProfile(
            pb.UpdateProfileRequest(
                profile=pb.UserProfile(uid=uid, tokens=1_000, has_access=True, one_time_purchase=True),
                update_mask=field_mask_pb2.FieldMask(paths=[path]),
            )
        )
    assert "read-only" in raised.details.message
    got = (await profile.stub.GetProfile(pb.GetProfileRequest(uid=uid))).profile
    assert (got.tokens, got.has_access, got.one_time_purchase) == (0, False, False)


async def test_link_stripe_customer_sets_once(profile, uid):
    await create(profile, uid)
    first = await profile.stub.LinkStripeCustomer(pb.LinkStripeCustomerRequest(uid=uid, customer_id="cus_A"))
    second = await profile.stub.LinkStripeCustomer(pb.LinkStripeCustomerRequest(uid=uid, customer_id="cus_B"))
    assert (first.customer_id, first.linked) == ("cus_A", True)
    assert (second.customer_id, second.linked) == ("cus_A", False)


async def test_entitlements_ignore_older_updates(profile, uid):
    await create(profile, uid)

    def at(seconds):
        return timestamp_pb2.Timestamp(seconds=seconds)

    newer = await profile.stub.SetEntitlements(
        pb.SetEntitlementsRequest(
            uid=uid, has_access=False, subscription_status="canceled", source_event_time=at(2_000_000_000)
        )
    )
    older = await profile.stub.SetEntitlements(
        pb.SetEntitlementsRequest(
            uid=uid, has_access=True, subscription_status="active", source_event_time=at(1_900_000_000)
        )
    )
    assert newer.applied and not older.applied
    got = (await profile.stub.GetProfile(pb.GetProfileRequest(uid=uid))).profile
    assert (got.has_access, got.subscription_status) == (False, "canceled")


async def test_ledger_calls_on_missing_profile_are_not_found(profile, uid):
    async with raises_rpc(grpc.StatusCode.NOT_FOUND, "PROFILE_NOT_FOUND"):
        await grant(profile, uid)
    async with raises_rpc(grpc.StatusCode.NOT_FOUND):
        await history(profile, uid)


async def test_audit_passes_after_mixed_operations(profile, uid):
    await create(profile, uid)
    await grant(profile, uid, 10, "g1")
    await profile.stub.SpendTokens(pb.SpendTokensRequest(uid=uid, amount=4, idempotency_key="s1"))
    await profile.stub.RevokeTokens(pb.RevokeTokensRequest(uid=uid, amount=9, idempotency_key="r1"))
    assert await run_audit(profile.store) == 0


async def test_sqlite_updates_profile_rows_in_place(tmp_path):
    """A ledger write updates the user's row in place (same rowid). Deleting and re-inserting it (INSERT OR
    REPLACE) made SQLite re-check every history row against the foreign key: writes slowed with history."""
    import sqlite3

    from profile_service.store.sqlite_store import SqliteStore
    from tests.support.profile_server import run_profile_service

    db = tmp_path / "rowid.sqlite3"
    async with run_profile_service(SqliteStore(db)) as running:
        await create(running, "u")

        def rowid() -> int:
            with sqlite3.connect(db) as conn:
                return conn.execute("SELECT rowid FROM users WHERE uid = 'u'").fetchone()[0]

        before = rowid()
        for i in range(3):
            await grant(running, "u", 1, f"k{i}")
        assert rowid() == before
        assert await balance(running, "u") == 3
