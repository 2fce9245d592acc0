"""The SQLite store's batch transaction and audit, store-level on a file in tmp_path (SQLite is embedded: no
server). The same rules as the in-memory fake, on the real schema."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from datetime import UTC, datetime

import pytest

from profile_service.audit import run_audit
from profile_service.domain import profiles
from profile_service.domain.batch import WriteOp
from profile_service.domain.errors import InsufficientTokens, StoreUnavailable
from profile_service.domain.ledger import OPENING_BALANCE_KEY, ChangeKind, LedgerChange, Writes, apply_change
from profile_service.domain.model import EntryType
from profile_service.migrate import run_migration
from profile_service.store.sqlite_store import SqliteStore

NOW = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path):
    store = SqliteStore(tmp_path / "p.sqlite3")
    await store.start()
    yield store
    await store.close()


def ledger_op(kind: str, uid: str, amount: int, key: str) -> WriteOp:
    entry_type = EntryType.SPEND if kind == "spend" else EntryType.PROMOTIONAL
    c = LedgerChange(ChangeKind(kind), uid, amount, entry_type, key, {})
    return WriteOp(c.entry_id, lambda p, e, now: apply_change(p, e, c, now))


def create_op(uid: str) -> WriteOp:
    return WriteOp(None, lambda p, e, now: profiles.create_profile(p, uid, f"{uid}@example.com", now))


def raw(store: SqliteStore) -> sqlite3.Connection:
    return sqlite3.connect(store._path, isolation_level=None)


async def test_one_transaction_applies_a_batch_in_order(store):
    batch = await store.run_batch(
        "u",
        [
            create_op("u"),
            ledger_op("grant", "u", 5, "g"),
            ledger_op("spend", "u", 9, "big"),
            ledger_op("spend", "u", 2, "s"),
            ledger_op("grant", "u", 5, "g"),
        ],
    )
    assert isinstance(batch.outcomes[2].error, InsufficientTokens)
    assert batch.outcomes[4].value.already_applied
    profile = await store.get_profile("u")
    assert profile is not None and (profile.tokens, profile.ledger_seq) == (3, 2)
    entries = await store.list_entries("u", None, 10)
    assert [(e.seq, e.amount) for e in entries] == [(2, -2), (1, 5)]
    again = await store.run_batch("u", [ledger_op("grant", "u", 5, "g"), ledger_op("spend", "u", 2, "s")])
    assert all(o.value.already_applied for o in again.outcomes) and not again.writes_anything


async def test_a_grant_on_a_legacy_row_adopts_its_balance_and_the_audit_passes(store):
    with raw(store) as conn:
        conn.execute(
            "INSERT INTO users (uid, email, created_at, last_login, tokens) VALUES ('old', 'o@x.y', ?, ?, 10)",
            (NOW.isoformat(), NOW.isoformat()),
        )
    assert await run_audit(store) == 1
    result = await store.transact(
        "old", ledger_op("spend", "old", 4, "s").entry_id, ledger_op("spend", "old", 4, "s").decide
    )
    assert result.balance == 6
    entries = await store.list_entries("old", None, 10)
    assert [(e.idempotency_key, e.amount, e.balance_after) for e in entries] == [
        ("s", -4, 6),
        (OPENING_BALANCE_KEY, 10, 10),
    ]
    assert await run_audit(store) == 0
    assert await run_migration(store) == 0  # nothing left to adopt


async def test_the_audit_finds_a_ledger_without_its_user_and_a_wrong_entry_count(store, capsys):
    await store.run_batch("a", [create_op("a"), ledger_op("grant", "a", 3, "g")])
    await store.run_batch("b", [create_op("b"), ledger_op("grant", "b", 3, "g")])
    assert await run_audit(store) == 0
    with raw(store) as conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("DELETE FROM users WHERE uid = 'a'")  # as a hand edit or an older version might
        conn.execute("UPDATE users SET ledger_seq = 5 WHERE uid = 'b'")
    rows = {row.uid: row async for row in store.audit_rows()}
    assert not rows["a"].profile_exists and not rows["a"].ok
    assert rows["b"].ledger_seq == 5 and rows["b"].entries_count == 1 and not rows["b"].ok
    assert await run_audit(store) == 1


async def test_a_write_after_the_deadline_is_not_started(store):
    with pytest.raises(StoreUnavailable):
        await store.run_batch("u", [create_op("u")], deadline=0.0)
    assert await store.get_profile("u") is None


async def test_batches_of_many_users_share_one_sqlite_transaction(store, monkeypatch):
    for i in range(20):
        await store.run_batch(f"u{i}", [create_op(f"u{i}")])
    sizes: list[int] = []
    original = store._commit_jobs_sync

    def recording(jobs):
        sizes.append(len(jobs))
        return original(jobs)

    monkeypatch.setattr(store, "_commit_jobs_sync", recording)
    batches = await asyncio.gather(
        *(store.run_batch(f"u{i}", [ledger_op("grant", f"u{i}", i + 1, "g")]) for i in range(20))
    )
    assert [b.outcomes[0].value.balance for b in batches] == [i + 1 for i in range(20)]
    assert sum(sizes) == 20 and len(sizes) < 20  # grouped
    for i in range(20):
        assert (await store.get_profile(f"u{i}")).tokens == i + 1


async def test_a_failing_batch_is_undone_alone_inside_a_shared_transaction(store):
    await store.run_batch("good", [create_op("good")])
    await store.run_batch("bad", [create_op("bad"), ledger_op("grant", "bad", 5, "g")])
    stored = (await store.list_entries("bad", None, 1))[0]

    def buggy(profile, prior, now):  # writes an entry id that exists: the INSERT fails, never overwrites
        forged = dataclasses.replace(stored, amount=1000, balance_after=1005, seq=profile.ledger_seq + 1)
        return Writes(profile.with_(tokens=1005, ledger_seq=forged.seq), forged, None)

    good, bad = await asyncio.gather(
        store.run_batch("good", [ledger_op("grant", "good", 2, "g")]),
        store.run_batch("bad", [WriteOp(None, buggy)]),
        return_exceptions=True,
    )
    assert isinstance(bad, sqlite3.IntegrityError)
    assert good.outcomes[0].value.balance == 2
    assert (await store.get_profile("bad")).tokens == 5 and (await store.get_profile("good")).tokens == 2


async def test_transact_is_one_transaction_per_call(store):
    await store.transact("u", None, create_op("u").decide)
    with pytest.raises(InsufficientTokens):
        await store.transact("u", ledger_op("spend", "u", 1, "s").entry_id, ledger_op("spend", "u", 1, "s").decide)
