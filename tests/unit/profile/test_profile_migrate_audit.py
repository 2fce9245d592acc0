"""`migrate` and `audit` over the in-memory store: the run goes on past a document it cannot migrate, and
the audit checks the entry count and ledgers without a user."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from profile_service.audit import run_audit
from profile_service.domain.ledger import OPENING_BALANCE_KEY
from profile_service.domain.model import Profile
from profile_service.migrate import run_migration
from profile_service.store.base import AuditRow
from tests.unit.profile.fake_store import FakeStore, store_with

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def legacy(uid: str, tokens: int) -> Profile:
    return Profile(uid=uid, email="", created_at=NOW, last_login=NOW, tokens=tokens)


async def test_migrate_goes_on_past_a_document_it_cannot_migrate_and_reports_it():
    store = FakeStore(users={"a": legacy("a", 5), "b": legacy("b", 7)})
    store.fail_next.append(RuntimeError("unreadable document"))
    out = io.StringIO()
    assert await run_migration(store, out) == 1
    assert "could not migrate a" in out.getvalue() and "1 failed" in out.getvalue()
    assert store.users["b"].ledger_seq == 1
    [entry] = store.entries["b"].values()
    assert entry.idempotency_key == OPENING_BALANCE_KEY and entry.amount == 7
    assert await run_migration(store, io.StringIO()) == 0  # the retry adopts the one that failed
    assert await run_audit(store, io.StringIO()) == 0


def test_an_audit_row_checks_entry_count_and_the_user_document():
    assert AuditRow("u", 5, 5, 2, 5, profile_exists=True, ledger_seq=2).ok
    assert not AuditRow("u", 5, 5, 2, 5, profile_exists=True, ledger_seq=3).ok
    assert not AuditRow("u", 0, 0, 2, 0, profile_exists=False, ledger_seq=None).ok
    assert AuditRow("u", 0, 0, 0, None, profile_exists=True, ledger_seq=0).ok
    assert AuditRow("u", 3, 3, 1, 3).ok  # a store that does not report ledger_seq


async def test_a_ledger_without_its_user_is_reported():
    store = FakeStore(users={"a": legacy("a", 0)})
    await run_migration(store, io.StringIO())
    store.entries["ghost"] = store_with(("ghost", 4)).entries["ghost"]  # its user document is gone
    out = io.StringIO()
    assert await run_audit(store, out) == 1
    assert '"profile_exists": false' in out.getvalue()
    assert await run_migration(store, io.StringIO()) == 1  # needs a person, never patched
