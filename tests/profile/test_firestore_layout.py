"""Wire-level checks of the Firestore layout, through FirestoreStore directly (no gRPC service).

They run on Google's Firestore emulator (tests/support/firestore_emulator.py; a project of their own per test)
and look at document shapes, queries and create() preconditions."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest
from google.api_core import exceptions as gexc
from google.cloud import firestore

from profile_service.domain import ledger, profiles
from profile_service.domain.errors import IdempotencyKeyReused, InsufficientTokens, ProfileNotFound
from profile_service.domain.ledger import LedgerChange, Writes
from profile_service.domain.model import EntryType
from profile_service.store.firestore_store import FirestoreStore
from tests.support.firestore_emulator import fresh_project_id

ORIGINAL_PROFILE_FIELDS = {
    "email",
    "created_at",
    "last_login",
    "stripe_customer_id",
    "has_access",
    "one_time_purchase",
    "tokens",
    "purchase_date",
    "product_id",
    "price_id",
    "subscription_status",
    "current_period_end",
    "display_name",
}
ENTRY_FIELDS = {
    "amount",
    "type",
    "timestamp",
    "balance_after",
    "idempotency_key",
    "source",
    "seq",
    "fingerprint",
    "reason",
    "shortfall",
}
SOURCE = {"stripe_event_id": "evt_1", "product_id": "prod_tokens", "price_id": "price_5"}


@pytest.fixture
async def store(firestore_host, monkeypatch):
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_host)
    store = FirestoreStore(project=fresh_project_id())
    await store.start()
    yield store
    await store.close()


@pytest.fixture
async def raw(store):
    """A plain client on the same project, to read what is really stored."""
    client = firestore.AsyncClient(project=store.project)
    yield client
    await client._firestore_api.transport.close()


async def create(store: FirestoreStore, uid: str):
    return await store.transact(uid, None, lambda p, e, now: profiles.create_profile(p, uid, "a@b.c", now))


def purchase(uid: str, key: str, amount: int = 5) -> LedgerChange:
    return LedgerChange("grant", uid, amount, EntryType.PURCHASE, key, dict(SOURCE))


async def apply(store: FirestoreStore, change: LedgerChange):
    return await store.transact(change.uid, change.entry_id, lambda p, e, now: ledger.apply_change(p, e, change, now))


async def history_docs(raw: firestore.AsyncClient, uid: str):
    return await raw.collection("users").document(uid).collection("token_history").get()


def assert_no_arrays(doc: dict, where: str) -> None:
    arrays = {k for k, v in doc.items() if isinstance(v, list)}
    assert not arrays, f"{where} holds arrays {arrays}: history must live in the token_history subcollection"


async def test_documents_have_the_original_layout(store, raw, uid):
    await create(store, uid)
    first = await apply(store, purchase(uid, "pay-1"))
    second = await apply(store, purchase(uid, "pay-2"))
    assert (first.balance, second.balance) == (5, 10)

    user = await raw.collection("users").document(uid).get()
    assert user.exists
    data = user.to_dict()
    assert set(data) >= ORIGINAL_PROFILE_FIELDS
    assert {"entitlements_as_of", "ledger_seq"} <= set(data)
    assert "token_history" not in data
    assert_no_arrays(data, f"users/{uid}")
    assert data["tokens"] == 10
    assert data["ledger_seq"] == 2
    assert data["one_time_purchase"] is True and data["has_access"] is False
    assert data["product_id"] == "prod_tokens" and data["price_id"] == "price_5"
    for name in ("created_at", "last_login", "purchase_date"):
        assert isinstance(data[name], datetime) and data[name].tzinfo is not None, name
    assert data["current_period_end"] is None

    # Two identical purchases are two entries: nothing merges them.
    docs = await history_docs(raw, uid)
    assert len(docs) == 2
    by_seq = {d.get("seq"): d for d in docs}
    assert set(by_seq) == {1, 2}
    for seq, snap in by_seq.items():
        entry = snap.to_dict()
        assert set(entry) >= ENTRY_FIELDS
        assert_no_arrays(entry, f"token_history/{snap.id}")
        assert entry["amount"] == 5 and isinstance(entry["amount"], int)
        assert entry["type"] == "purchase"
        assert isinstance(entry["timestamp"], datetime) and entry["timestamp"].tzinfo is not None
        assert entry["balance_after"] == 5 * seq
        assert entry["source"] == SOURCE
        assert entry["shortfall"] == 0
    assert by_seq[1].get("idempotency_key") == "pay-1" and by_seq[2].get("idempotency_key") == "pay-2"
    assert by_seq[1].id == purchase(uid, "pay-1").entry_id  # the id is derived from the key


async def test_store_round_trips_what_it_wrote(store, uid):
    created, was_created = await create(store, uid)
    assert was_created
    result = await apply(store, purchase(uid, "pay-1"))
    profile = await store.get_profile(uid)
    assert profile.tokens == 5 and profile.ledger_seq == 1 and profile.email == "a@b.c"
    # Timestamps come back as aware UTC datetimes (to the millisecond at least).
    assert type(profile.created_at) is datetime and profile.created_at.utcoffset().total_seconds() == 0
    assert abs((profile.created_at - created.created_at).total_seconds()) < 0.001
    [entry] = await store.list_entries(uid, None, 10)
    assert type(entry.timestamp) is datetime and entry.timestamp.utcoffset().total_seconds() == 0
    expected = dataclasses.replace(result.entry, timestamp=entry.timestamp)
    assert entry == expected
    assert await store.get_profile("nobody") is None


async def test_list_entries_newest_first_and_pages_by_seq(store, uid):
    await create(store, uid)
    for i in range(5):
        await apply(store, purchase(uid, f"pay-{i}", amount=i + 1))

    page = await store.list_entries(uid, None, 2)
    assert [e.seq for e in page] == [5, 4]
    assert [e.balance_after for e in page] == [15, 10]
    page = await store.list_entries(uid, page[-1].seq, 2)
    assert [e.seq for e in page] == [3, 2]
    page = await store.list_entries(uid, page[-1].seq, 2)
    assert [e.seq for e in page] == [1]
    assert await store.list_entries(uid, 1, 2) == []
    assert await store.list_entries("nobody", None, 10) == []


async def test_replay_writes_nothing_new(store, raw, uid):
    await create(store, uid)
    change = purchase(uid, "pay-1")
    first = await apply(store, change)
    user_before = await raw.collection("users").document(uid).get()

    again = await apply(store, change)
    assert again.already_applied and again.entry == first.entry and again.balance == 5
    assert len(await history_docs(raw, uid)) == 1
    user_after = await raw.collection("users").document(uid).get()
    assert user_after.to_dict() == user_before.to_dict()
    assert user_after.update_time == user_before.update_time  # not even rewritten

    # The same key with other parameters is refused, and nothing changes.
    with pytest.raises(IdempotencyKeyReused):
        await apply(store, purchase(uid, "pay-1", amount=6))
    assert len(await history_docs(raw, uid)) == 1
    assert (await store.get_profile(uid)).tokens == 5


async def test_domain_errors_propagate_and_write_nothing(store, raw, uid):
    with pytest.raises(ProfileNotFound):
        await apply(store, purchase(uid, "pay-1"))
    assert not (await raw.collection("users").document(uid).get()).exists

    await create(store, uid)
    spend = LedgerChange("spend", uid, 3, EntryType.SPEND, "spend-1", {"feature": "x"})
    with pytest.raises(InsufficientTokens):
        await apply(store, spend)
    assert len(await history_docs(raw, uid)) == 0
    assert (await store.get_profile(uid)).tokens == 0


async def test_an_existing_entry_is_never_overwritten(store, raw, uid):
    """create(), not set(): a decide that writes an entry id that exists fails; the stored entry stays."""
    await create(store, uid)
    stored = (await apply(store, purchase(uid, "pay-1"))).entry

    def buggy(profile, prior, now):
        forged = dataclasses.replace(stored, amount=1000, balance_after=1005, seq=profile.ledger_seq + 1)
        return Writes(profile.with_(tokens=1005, ledger_seq=forged.seq), forged, None)

    with pytest.raises(gexc.AlreadyExists):
        await store.transact(uid, None, buggy)  # no entry read, so decide cannot see it exists
    [doc] = await history_docs(raw, uid)
    assert doc.get("amount") == 5 and doc.get("balance_after") == 5
    profile = await store.get_profile(uid)
    assert (profile.tokens, profile.ledger_seq) == (5, 1)


async def test_audit_rows_sum_the_subcollection(store, uid):
    other = f"{uid}-b"
    await create(store, uid)
    await create(store, other)
    await apply(store, purchase(uid, "pay-1", amount=5))
    await apply(store, purchase(uid, "pay-2", amount=5))
    await apply(store, LedgerChange("spend", uid, 3, EntryType.SPEND, "spend-1", {"feature": "x"}))

    rows = {row.uid: row async for row in store.audit_rows()}
    assert set(rows) == {uid, other}
    assert (rows[uid].tokens, rows[uid].entries_sum, rows[uid].entries_count, rows[uid].newest_balance_after) == (
        7,
        7,
        3,
        7,
    )
    assert rows[uid].ok
    assert (rows[other].tokens, rows[other].entries_sum, rows[other].entries_count) == (0, 0, 0)
    assert rows[other].newest_balance_after is None and rows[other].ok
