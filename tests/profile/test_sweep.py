"""The expiry sweeper: `python -m profile_service sweep` (a real subprocess on a SQLite file) and the periodic
task the service runs (EXPIRY_SWEEP_INTERVAL_S) write each due expiry once, for every user with one due."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from google.protobuf import duration_pb2, timestamp_pb2

from profile_service.audit import run_audit
from profile_service.store.sqlite_store import SqliteStore
from profile_service.sweep import background_sweeper
from tests.support.profile_server import run_profile_service
from tests.unit.profile.clock import FakeClock
from tokens.profile.v1 import profile_service_pb2 as pb


def run_cli(db_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SQLITE_PATH": str(db_path), "PROFILE_STORE": "sqlite"}
    return subprocess.run(
        [sys.executable, "-m", "profile_service", "sweep"], env=env, capture_output=True, text=True, timeout=60
    )


def in_seconds(n: float, now: datetime | None = None) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime((now or datetime.now(UTC)) + timedelta(seconds=n))
    return out


async def expiring_users(stub, uids, seconds=0.5, now=None):
    for uid in uids:
        await stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email="s@example.com"))
        await stub.GrantTokens(
            pb.GrantTokensRequest(
                uid=uid,
                amount=5,
                type=pb.TOKEN_ENTRY_TYPE_PROMOTIONAL,
                idempotency_key="promo",
                expires_at=in_seconds(seconds, now),
            )
        )
        await stub.ReserveTokens(
            pb.ReserveTokensRequest(
                uid=uid, amount=2, ttl=duration_pb2.Duration(nanos=500_000_000), idempotency_key="job"
            )
        )


async def expiry_entries(stub, uid) -> list[pb.TokenTransaction]:
    listed = (await stub.ListTokenHistory(pb.ListTokenHistoryRequest(uid=uid))).entries
    return [e for e in listed if e.type in (pb.TOKEN_ENTRY_TYPE_EXPIRY, pb.TOKEN_ENTRY_TYPE_HOLD_RELEASE)]


async def test_sweep_cli_writes_due_expiries_once(tmp_path):
    db = tmp_path / "profile.sqlite3"
    uids = [f"sweep-{i}" for i in range(3)]
    async with run_profile_service(SqliteStore(db)) as running:
        await expiring_users(running.stub, uids)
        await running.stub.CreateProfile(pb.CreateProfileRequest(uid="nothing-due", email="n@example.com"))
        await asyncio.sleep(0.6)
        first = run_cli(db)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "6 entries written for 3 users, 0 failed" in first.stdout
        again = run_cli(db)
        assert "0 entries written for 0 users" in again.stdout
        for uid in uids:
            assert [e.amount for e in await expiry_entries(running.stub, uid)] in ([0, -5], [-5, 0])
        assert await run_audit(running.store) == 0


async def test_the_service_sweeps_periodically(tmp_path):
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    store = SqliteStore(tmp_path / "p.sqlite3", clock=clock)
    async with run_profile_service(store) as running:
        await expiring_users(running.stub, ["periodic"], seconds=60, now=clock())
        async with background_sweeper(store, 0.05) as task:
            assert task is not None
            await asyncio.sleep(0.2)
            assert await expiry_entries(running.stub, "periodic") == []  # nothing due yet
            clock.advance(seconds=61)
            for _ in range(100):
                if len(await expiry_entries(running.stub, "periodic")) == 2:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)  # more runs change nothing
        assert len(await expiry_entries(running.stub, "periodic")) == 2
        assert task.done()
    async with background_sweeper(store, 0) as none:
        assert none is None
