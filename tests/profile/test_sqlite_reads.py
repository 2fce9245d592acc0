"""SQLite reads run on the event loop on a connection that never waits for a lock; a busy answer moves
the read to a reader thread that may wait (bounded by the busy timeout)."""

from __future__ import annotations

import sqlite3
import threading

from profile_service.domain import profiles
from profile_service.store.sqlite_store import SqliteStore


class BusyOnce:
    """A connection stand-in whose first statement fails as SQLite does when the database is busy."""

    def __init__(self) -> None:
        self.calls = 0

    def execute(self, *args, **kwargs):
        self.calls += 1
        raise sqlite3.OperationalError("database is locked")


async def test_loop_reads_never_wait_and_busy_reads_move_to_a_reader_thread(tmp_path):
    store = SqliteStore(tmp_path / "p.sqlite3", busy_timeout_ms=2000)
    await store.start()
    try:
        await store.transact("u", None, lambda p, e, now: profiles.create_profile(p, "u", "u@example.com", now))
        assert (await store.get_profile("u")).email == "u@example.com"
        assert store._loop_conn.execute("PRAGMA busy_timeout").fetchone()[0] == 0

        busy = BusyOnce()
        store._loop_conn = busy
        seen_threads = []
        original = store._connection

        def reader_connection():
            seen_threads.append(threading.current_thread().name)
            return original()

        store._connection = reader_connection
        assert (await store.get_profile("u")).email == "u@example.com"
        assert [e.amount for e in await store.list_entries("u", None, 10)] == []
        assert busy.calls == 2
        assert seen_threads and all(name.startswith("sqlite-reader") for name in seen_threads)
    finally:
        store._loop_conn = None
        await store.close()
