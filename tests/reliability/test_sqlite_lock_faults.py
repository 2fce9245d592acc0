"""Scenario 4: the SQLite file is locked by another writer beyond the busy timeout. Calls fail with
UNAVAILABLE (retryable) and change nothing; once the lock is gone the same keys apply exactly once."""

from __future__ import annotations

import asyncio
import sqlite3

import grpc

from profile_service.audit import run_audit
from profile_service.settings import ProfileSettings
from profile_service.store.sqlite_store import SqliteStore
from service_kit.rich_errors import details_of
from tests.reliability.report import ScenarioResult, record
from tests.support.profile_server import run_profile_service
from tokens.profile.v1 import profile_service_pb2 as pb


async def test_locked_database_is_unavailable_not_a_wrong_balance(tmp_path):
    db = tmp_path / "profile.sqlite3"
    result = record(ScenarioResult("sqlite locked beyond busy timeout"))
    settings = ProfileSettings(_env_file=None, sqlite_busy_timeout_ms=150)
    async with run_profile_service(SqliteStore(db, busy_timeout_ms=150), settings) as running:
        stub = running.stub
        await stub.CreateProfile(pb.CreateProfileRequest(uid="u", email="u@example.com"))
        await stub.GrantTokens(
            pb.GrantTokensRequest(uid="u", amount=10, type=pb.TOKEN_ENTRY_TYPE_PROMOTIONAL, idempotency_key="seed")
        )
        requests = [
            pb.GrantTokensRequest(uid="u", amount=3, type=pb.TOKEN_ENTRY_TYPE_PROMOTIONAL, idempotency_key=f"g{i}")
            for i in range(10)
        ]
        spends = [pb.SpendTokensRequest(uid="u", amount=1, idempotency_key=f"s{i}") for i in range(10)]

        # Another process holds the write lock (an operator's sqlite3 shell, a backup, a second instance).
        locker = sqlite3.connect(db, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        locker.execute("UPDATE users SET display_name = 'held' WHERE uid = 'u'")
        try:
            outcomes = await asyncio.gather(
                *(stub.GrantTokens(r) for r in requests),
                *(stub.SpendTokens(r) for r in spends),
                return_exceptions=True,
            )
            for outcome in outcomes:
                assert isinstance(outcome, grpc.aio.AioRpcError), outcome
                details = details_of(outcome)
                assert (details.code, details.reason) == (grpc.StatusCode.UNAVAILABLE, "STORE_UNAVAILABLE")
                result.faults += 1
            # Reads still answer in WAL mode, and show nothing changed.
            assert (await stub.GetProfile(pb.GetProfileRequest(uid="u"))).profile.tokens == 10
        finally:
            locker.execute("ROLLBACK")
            locker.close()

        for r in requests:
            await stub.GrantTokens(r)
        for r in spends:
            await stub.SpendTokens(r)
        for r in requests:  # a second retry is a replay
            assert (await stub.GrantTokens(r)).already_applied
        result.operations = 2 * (len(requests) + len(spends))
        tokens = (await stub.GetProfile(pb.GetProfileRequest(uid="u"))).profile.tokens
        expected = 10 + 3 * len(requests) - len(spends)
        result.lost = max(0, expected - tokens)
        result.duplicated = max(0, tokens - expected)
        entries = (await stub.ListTokenHistory(pb.ListTokenHistoryRequest(uid="u", page_size=100))).entries
        assert len(entries) == 1 + len(requests) + len(spends)
        assert await run_audit(running.store) == 0
    assert (result.lost, result.duplicated) == (0, 0)
