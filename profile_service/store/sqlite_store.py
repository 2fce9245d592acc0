"""SQLite store: the embedded default. WAL mode; writes run on a single writer thread (SQLite has one writer
anyway), reads on their own connections. run_batch (the write queue's batch for one user) is grouped further:
the batches of all users that arrive while the writer is busy share ONE BEGIN IMMEDIATE ... COMMIT, each under
its own savepoint. transact (PROFILE_WRITE_QUEUE=false) is one transaction per call. BEGIN IMMEDIATE +
busy_timeout serialise writers of other processes sharing the file.

A failed COMMIT in SQLite leaves nothing committed (the journal rolls it back), so a write that raises
StoreUnavailable changed nothing; SQLite has no "unknown outcome"."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from profile_service.domain import grants
from profile_service.domain.batch import BatchWrites, WriteOp, apply_batch, read_set
from profile_service.domain.errors import OutcomeUnknown, StoreUnavailable
from profile_service.domain.ledger import Decide
from profile_service.domain.model import EntryType, LedgerEntry, Profile
from profile_service.store import records
from profile_service.store.base import AuditRow, ProfileStore

R = TypeVar("R")
T = TypeVar("T")
# At most this many users' batches share one SQLite transaction.
GROUP_MAX = 64


@dataclass(eq=False)
class _Job:
    uid: str
    ops: Sequence[WriteOp[Any]]
    deadline: float | None
    future: asyncio.Future[BatchWrites] | None = None


def _settle(job: _Job, result: BatchWrites | BaseException) -> None:
    future = job.future
    if future is None or future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
        future.exception()  # the caller may be gone; that is not worth a warning
    else:
        future.set_result(result)


SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
  uid TEXT PRIMARY KEY,
  email TEXT NOT NULL,
  created_at TEXT NOT NULL,
  last_login TEXT NOT NULL,
  stripe_customer_id TEXT NOT NULL DEFAULT '',
  has_access INTEGER NOT NULL DEFAULT 0,
  one_time_purchase INTEGER NOT NULL DEFAULT 0,
  tokens INTEGER NOT NULL DEFAULT 0 CHECK (tokens >= 0),
  purchase_date TEXT,
  product_id TEXT NOT NULL DEFAULT '',
  price_id TEXT NOT NULL DEFAULT '',
  subscription_status TEXT NOT NULL DEFAULT '',
  current_period_end TEXT,
  display_name TEXT NOT NULL DEFAULT '',
  entitlements_as_of TEXT,
  ledger_seq INTEGER NOT NULL DEFAULT 0,
  debt INTEGER NOT NULL DEFAULT 0 CHECK (debt >= 0),
  grants TEXT NOT NULL DEFAULT '[]',
  holds TEXT NOT NULL DEFAULT '[]',
  next_due TEXT
);
CREATE TABLE IF NOT EXISTS token_history (
  uid TEXT NOT NULL REFERENCES users(uid),
  seq INTEGER NOT NULL,
  entry_id TEXT NOT NULL UNIQUE,
  amount INTEGER NOT NULL,
  type TEXT NOT NULL,
  timestamp TEXT NOT NULL,
  balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
  idempotency_key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  source TEXT NOT NULL,
  reason TEXT NOT NULL,
  shortfall INTEGER NOT NULL DEFAULT 0,
  debt_settled INTEGER NOT NULL DEFAULT 0,
  debt_added INTEGER NOT NULL DEFAULT 0,
  allocations TEXT NOT NULL DEFAULT '[]',
  expires_at TEXT,
  hold_id TEXT NOT NULL DEFAULT '',
  hold_amount INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (uid, seq),
  UNIQUE (uid, idempotency_key)
);
"""
# Columns added after the first release: files created before them get them on start().
ADDED_COLUMNS = (
    ("users", "debt", "INTEGER NOT NULL DEFAULT 0 CHECK (debt >= 0)"),
    ("token_history", "debt_settled", "INTEGER NOT NULL DEFAULT 0"),
    ("token_history", "debt_added", "INTEGER NOT NULL DEFAULT 0"),
    ("users", "grants", "TEXT NOT NULL DEFAULT '[]'"),
    ("users", "holds", "TEXT NOT NULL DEFAULT '[]'"),
    ("users", "next_due", "TEXT"),
    ("token_history", "allocations", "TEXT NOT NULL DEFAULT '[]'"),
    ("token_history", "expires_at", "TEXT"),
    ("token_history", "hold_id", "TEXT NOT NULL DEFAULT ''"),
    ("token_history", "hold_amount", "INTEGER NOT NULL DEFAULT 0"),
)
# The sweeper's question (which users have a grant or hold to expire by now) is one index range.
INDEXES = "CREATE INDEX IF NOT EXISTS users_next_due ON users(next_due) WHERE next_due IS NOT NULL"

PROFILE_COLUMNS = (
    "uid",
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
    "entitlements_as_of",
    "ledger_seq",
    "debt",
    "grants",
    "holds",
    "next_due",  # derived: when the profile's next grant or hold expires (the sweeper's index)
)
ENTRY_COLUMNS = (
    "uid",
    "seq",
    "entry_id",
    "amount",
    "type",
    "timestamp",
    "balance_after",
    "idempotency_key",
    "fingerprint",
    "source",
    "reason",
    "shortfall",
    "debt_settled",
    "debt_added",
    "allocations",
    "expires_at",
    "hold_id",
    "hold_amount",
)
UPSERT_PROFILE = (
    f"INSERT INTO users ({', '.join(PROFILE_COLUMNS)}) VALUES ({', '.join('?' * len(PROFILE_COLUMNS))}) "
    f"ON CONFLICT(uid) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in PROFILE_COLUMNS if c != 'uid')}"
)
_TIME_FIELDS = ("created_at", "last_login", "purchase_date", "current_period_end", "entitlements_as_of")
_BOOL_FIELDS = ("has_access", "one_time_purchase")


def _profile_row(p: Profile) -> tuple[Any, ...]:
    values: list[Any] = []
    for name in PROFILE_COLUMNS:
        if name == "next_due":
            values.append(records.time_text(grants.next_due(p)))
            continue
        value = getattr(p, name)
        if name == "grants":
            value = records.grants_json(p.grants)
        elif name == "holds":
            value = records.dumps(records.hold_map(h) for h in p.holds)
        elif name in _TIME_FIELDS:
            value = records.time_text(value)
        elif name in _BOOL_FIELDS:
            value = int(value)
        values.append(value)
    return tuple(values)


def _profile_from(row: sqlite3.Row) -> Profile:
    data = dict(row)
    data.pop("next_due", None)
    for name in _TIME_FIELDS:
        data[name] = records.time_from(data[name])
    for name in _BOOL_FIELDS:
        data[name] = bool(data[name])
    data["grants"] = records.grants_from_json(data["grants"])
    data["holds"] = records.holds_from(json.loads(data["holds"] or "[]"))
    return Profile(**data)


def _entry_row(e: LedgerEntry) -> tuple[Any, ...]:
    return (
        e.uid,
        e.seq,
        e.entry_id,
        e.amount,
        e.type.value,
        records.time_text(e.timestamp),
        e.balance_after,
        e.idempotency_key,
        e.fingerprint,
        json.dumps(e.source, sort_keys=True),
        e.reason,
        e.shortfall,
        e.debt_settled,
        e.debt_added,
        records.dumps(records.allocation_map(a) for a in e.allocations),
        records.time_text(e.expires_at),
        e.hold_id,
        e.hold_amount,
    )


def _entry_from(row: sqlite3.Row) -> LedgerEntry:
    data = dict(row)
    data["type"] = EntryType(data["type"])
    data["timestamp"] = records.time_from(data["timestamp"])
    data["source"] = json.loads(data["source"])
    data["allocations"] = records.allocations_from(json.loads(data["allocations"] or "[]"))
    data["expires_at"] = records.time_from(data["expires_at"])
    return LedgerEntry(**data)


class SqliteStore(ProfileStore):
    def __init__(
        self,
        path: str | Path,
        busy_timeout_ms: int = 5000,
        readers: int = 2,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if clock is not None:
            self.clock = clock
        self._path = str(path)
        self._busy_timeout_ms = busy_timeout_ms
        # One writer thread serialises transactions in this process; BEGIN IMMEDIATE + busy_timeout
        # serialises them against other processes sharing the file.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="sqlite-reader")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._loop_conn: sqlite3.Connection | None = None
        self._pending: list[_Job] = []  # batches waiting for the writer thread (group commit across users)
        self._flusher: asyncio.Future[None] | None = None

    def _open(self, busy_timeout_ms: int) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # durable across process crashes in WAL mode
        with self._lock:
            self._connections.append(conn)
        return conn

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open(self._busy_timeout_ms)
        return conn

    async def _read(self, query: Callable[[sqlite3.Connection], R]) -> R:
        """Point reads take microseconds and, in WAL mode, never wait for a writer, so they run on the event
        loop (a thread hop cost more than the read) on a connection that refuses to wait. Should SQLite ever
        answer busy (WAL recovery, another process's exclusive lock), the read goes to a reader thread that
        waits up to the busy timeout instead of blocking the loop."""
        if self._loop_conn is None:
            self._loop_conn = self._open(0)
        try:
            return query(self._loop_conn)
        except sqlite3.OperationalError:
            return await self._run(self._readers, lambda: query(self._connection()))

    async def _run(self, executor: ThreadPoolExecutor, fn: Callable[..., R], *args: Any) -> R:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, fn, *args)
        except sqlite3.OperationalError as exc:  # locked, busy, disk I/O, full: nothing was committed
            raise StoreUnavailable(f"profile store unavailable: {exc}") from exc

    async def start(self) -> None:
        Path(self._path).parent.mkdir(parents=True, exist_ok=True)

        def init() -> None:
            conn = self._connection()
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(SCHEMA)
            for table, column, definition in ADDED_COLUMNS:
                present = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
                if column not in present:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
            conn.execute(INDEXES)

        await self._run(self._writer, init)

    async def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    def _apply_sync(self, conn: sqlite3.Connection, uid: str, ops: Sequence[WriteOp[Any]]) -> BatchWrites:
        """One user's batch inside an open transaction: read, apply_batch, write."""
        row = conn.execute("SELECT * FROM users WHERE uid = ?", (uid,)).fetchone()
        profile = _profile_from(row) if row else None
        ids = read_set(ops)
        stored: dict[str, LedgerEntry] = {}
        if ids:
            rows = conn.execute(
                f"SELECT {', '.join(ENTRY_COLUMNS)} FROM token_history WHERE entry_id IN ({', '.join('?' * len(ids))})",
                ids,
            ).fetchall()
            stored = {r["entry_id"]: _entry_from(r) for r in rows}
        batch = apply_batch(profile, stored, ops, self.clock())
        if batch.profile is not None:  # first: a batch may create the user its entries refer to
            # An upsert, not INSERT OR REPLACE: REPLACE deletes the row first, which makes SQLite check
            # every token_history row of the user against the foreign key (writes grew with history).
            conn.execute(UPSERT_PROFILE, _profile_row(batch.profile))
        if batch.entries:
            # Plain INSERT: an existing entry id or key is an error, never an overwrite.
            conn.executemany(
                f"INSERT INTO token_history ({', '.join(ENTRY_COLUMNS)}) VALUES ({', '.join('?' * len(ENTRY_COLUMNS))})",
                [_entry_row(e) for e in batch.entries],
            )
        return batch

    def _commit_jobs_sync(self, jobs: Sequence[_Job]) -> list[BatchWrites | BaseException]:
        """One BEGIN IMMEDIATE ... COMMIT for the batches of several users. Each batch runs under its own
        savepoint, so one that fails (a bug, a constraint) is undone alone and answered with its error. A
        failure of the transaction itself (busy, locked, I/O) rolls everything back and raises."""
        conn = self._connection()
        results: list[BatchWrites | BaseException] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for job in jobs:
                if job.deadline is not None and time.monotonic() >= job.deadline:
                    results.append(
                        StoreUnavailable("profile store unavailable: the deadline passed; nothing was changed")
                    )
                    continue
                if len(jobs) == 1:
                    results.append(self._apply_sync(conn, job.uid, job.ops))
                    continue
                conn.execute("SAVEPOINT batch")
                try:
                    results.append(self._apply_sync(conn, job.uid, job.ops))
                except sqlite3.OperationalError:
                    raise
                except Exception as exc:
                    conn.execute("ROLLBACK TO batch")
                    results.append(exc)
                conn.execute("RELEASE batch")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if len(jobs) == 1 and isinstance(results[0], BaseException) and not isinstance(results[0], StoreUnavailable):
            raise results[0]
        return results

    async def transact(self, uid: str, entry_id: str | None, decide: Decide[T], *, deadline: float | None = None) -> T:
        """One change in its own transaction (PROFILE_WRITE_QUEUE=false), never grouped with others."""
        [result] = await self._run(
            self._writer, self._commit_jobs_sync, [_Job(uid, [WriteOp(entry_id, decide)], deadline)]
        )
        if isinstance(result, BaseException):
            raise result
        value: T = result.outcomes[0].unwrap()
        return value

    async def run_batch(self, uid: str, ops: Sequence[WriteOp[Any]], *, deadline: float | None = None) -> BatchWrites:
        """Group commit across users: batches that arrive while the writer thread is busy share its next
        transaction (at most GROUP_MAX batches), one thread hop and one COMMIT for all of them."""
        future: asyncio.Future[BatchWrites] = asyncio.get_running_loop().create_future()
        self._pending.append(_Job(uid, ops, deadline, future))
        if self._flusher is None:
            self._flusher = asyncio.ensure_future(self._flush())
        # Shielded: a caller that goes away does not pull its batch out of a transaction already running.
        return await asyncio.shield(future)

    async def _flush(self) -> None:
        try:
            while self._pending:
                jobs, self._pending = self._pending[:GROUP_MAX], self._pending[GROUP_MAX:]
                try:
                    results = await self._run(self._writer, self._commit_jobs_sync, jobs)
                except Exception as exc:  # StoreUnavailable (busy, locked, I/O): nothing of any job committed
                    for job in jobs:
                        _settle(job, exc)
                    continue
                except BaseException:  # cancelled while the writer thread runs the jobs: outcome unknown here
                    for job in jobs:
                        _settle(job, OutcomeUnknown("profile store interrupted during a write; outcome unknown"))
                    raise
                for job, result in zip(jobs, results, strict=True):
                    _settle(job, result)
        finally:
            self._flusher = None
            for job in self._pending:  # only when cancelled (shutdown)
                _settle(job, StoreUnavailable("profile store closing; nothing was changed"))
            self._pending = []

    async def get_profile(self, uid: str) -> Profile | None:
        def read(conn: sqlite3.Connection) -> Profile | None:
            row = conn.execute("SELECT * FROM users WHERE uid = ?", (uid,)).fetchone()
            return _profile_from(row) if row else None

        return await self._read(read)

    async def get_entry(self, uid: str, entry_id: str) -> LedgerEntry | None:
        def read(conn: sqlite3.Connection) -> LedgerEntry | None:
            row = conn.execute(
                f"SELECT {', '.join(ENTRY_COLUMNS)} FROM token_history WHERE entry_id = ? AND uid = ?",
                (entry_id, uid),
            ).fetchone()
            return _entry_from(row) if row else None

        return await self._read(read)

    async def list_entries(self, uid: str, before_seq: int | None, limit: int) -> list[LedgerEntry]:
        def read(conn: sqlite3.Connection) -> list[LedgerEntry]:
            rows = conn.execute(
                f"SELECT {', '.join(ENTRY_COLUMNS)} FROM token_history WHERE uid = ? AND seq < ? "
                "ORDER BY seq DESC LIMIT ?",
                (uid, before_seq if before_seq is not None else 2**62, limit),
            ).fetchall()
            return [_entry_from(r) for r in rows]

        return await self._read(read)

    async def due_uids(self, now: datetime, limit: int) -> list[str]:
        def read(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT uid FROM users WHERE next_due IS NOT NULL AND next_due <= ? ORDER BY next_due LIMIT ?",
                (records.time_text(now), limit),
            ).fetchall()
            return [r["uid"] for r in rows]

        return await self._read(read)

    async def audit_rows(self) -> AsyncIterator[AuditRow]:
        def read() -> list[AuditRow]:
            # One read transaction, so the profile and its entries are seen at the same instant.
            conn = self._connection()
            conn.execute("BEGIN")
            try:
                # Users, plus ledgers whose user row is gone (the foreign key forbids it; a file edited by
                # hand or by an older version may still hold one).
                rows = conn.execute(
                    """
                    SELECT u.uid, u.tokens,
                           COALESCE((SELECT SUM(amount) FROM token_history h WHERE h.uid = u.uid), 0),
                           (SELECT COUNT(*) FROM token_history h WHERE h.uid = u.uid),
                           (SELECT balance_after FROM token_history h WHERE h.uid = u.uid ORDER BY seq DESC LIMIT 1),
                           1, u.ledger_seq, u.debt,
                           COALESCE((SELECT SUM(debt_added - debt_settled) FROM token_history h WHERE h.uid = u.uid), 0),
                           (SELECT COALESCE(SUM(json_extract(value, '$.remaining')), 0) FROM json_each(u.grants)),
                           (SELECT COALESCE(SUM(json_extract(value, '$.amount')), 0) FROM json_each(u.holds))
                    FROM users u
                    UNION ALL
                    SELECT h.uid, 0, SUM(h.amount), COUNT(*),
                           (SELECT balance_after FROM token_history x WHERE x.uid = h.uid ORDER BY seq DESC LIMIT 1),
                           0, NULL, NULL, NULL, NULL, NULL
                    FROM token_history h WHERE h.uid NOT IN (SELECT uid FROM users) GROUP BY h.uid
                    ORDER BY 1
                    """
                ).fetchall()
            finally:
                conn.execute("COMMIT")
            return [AuditRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7], r[8], r[9], r[10]) for r in rows]

        for row in await self._run(self._readers, read):
            yield row
