"""Profiles written by the original app (a `tokens` field, history as an array in the document, no ledger)
are brought onto the ledger by `python -m profile_service migrate`, on every store."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from profile_service.audit import run_audit
from profile_service.migrate import run_migration
from tokens.profile.v1 import profile_service_pb2 as pb

NOW = datetime(2025, 3, 1, tzinfo=UTC)


async def write_legacy_profile(profile, backend: str, uid: str, tokens: int) -> None:
    """What the original create_user_profile + fulfill_order left behind."""
    if backend == "sqlite":
        with sqlite3.connect(profile.store._path) as conn:
            conn.execute(
                "INSERT INTO users (uid, email, created_at, last_login, tokens, one_time_purchase) "
                "VALUES (?, ?, ?, ?, ?, 1)",
                (uid, f"{uid}@example.com", NOW.isoformat(), NOW.isoformat(), tokens),
            )
        return
    from google.cloud import firestore

    client = firestore.AsyncClient(project=profile.store.project)
    await (
        client.collection("users")
        .document(uid)
        .set(
            {
                "email": f"{uid}@example.com",
                "created_at": NOW,
                "last_login": NOW,
                "stripe_customer_id": "cus_legacy",
                "has_access": False,
                "one_time_purchase": True,
                "tokens": tokens,
                "token_history": [{"amount": 5, "type": "purchase", "timestamp": NOW}] * 2,
            }
        )
    )


async def test_migration_adopts_legacy_balances_once(profile, backend, uid):
    await write_legacy_profile(profile, backend, uid, tokens=10)
    await profile.stub.CreateProfile(pb.CreateProfileRequest(uid=uid + "-new", email="n@example.com"))
    # Before: readable, but its balance is not backed by ledger entries.
    assert (await profile.stub.GetProfile(pb.GetProfileRequest(uid=uid))).profile.tokens == 10
    assert await run_audit(profile.store) == 1

    assert await run_migration(profile.store) == 0
    assert await run_audit(profile.store) == 0
    entries = (await profile.stub.ListTokenHistory(pb.ListTokenHistoryRequest(uid=uid))).entries
    assert [(e.amount, e.type, e.balance_after) for e in entries] == [(10, pb.TOKEN_ENTRY_TYPE_ADJUSTMENT, 10)]

    assert await run_migration(profile.store) == 0  # a second run changes nothing
    assert len((await profile.stub.ListTokenHistory(pb.ListTokenHistoryRequest(uid=uid))).entries) == 1
    granted = await profile.stub.GrantTokens(
        pb.GrantTokensRequest(uid=uid, amount=5, type=pb.TOKEN_ENTRY_TYPE_PURCHASE, idempotency_key="checkout:cs_after")
    )
    assert granted.balance == 15 and granted.entry.balance_after == 15
    assert await run_audit(profile.store) == 0


async def test_a_ledger_that_does_not_add_up_is_reported_not_patched(sqlite_profile, uid, tmp_path):
    stub = sqlite_profile.stub
    await stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email="a@example.com"))
    await stub.GrantTokens(
        pb.GrantTokensRequest(uid=uid, amount=5, type=pb.TOKEN_ENTRY_TYPE_PURCHASE, idempotency_key="k")
    )
    with sqlite3.connect(tmp_path / "profile.sqlite3") as conn:
        conn.execute("UPDATE users SET tokens = 9 WHERE uid = ?", (uid,))
    assert await run_migration(sqlite_profile.store) == 1
    assert (await stub.GetProfile(pb.GetProfileRequest(uid=uid))).profile.tokens == 9
    assert len((await stub.ListTokenHistory(pb.ListTokenHistoryRequest(uid=uid))).entries) == 1
