"""An in-memory ProfileStore for the unit tier. It applies a batch the way the real stores do (one read of
the user and the batch's entries, domain.batch.apply_batch, entries created never overwritten, the user
written once) and records every transaction, so tests can see how changes were grouped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from profile_service.domain.batch import BatchWrites, WriteOp, apply_batch, read_set
from profile_service.domain.ledger import ChangeKind, LedgerChange, apply_change
from profile_service.domain.model import EntryType, LedgerEntry, Profile
from profile_service.store.base import AuditRow, ProfileStore


@dataclass
class Transaction:
    uid: str
    ops: int
    reads: int  # documents read: the user and the batch's entries
    deadline: float | None


@dataclass
class FakeStore(ProfileStore):
    users: dict[str, Profile] = field(default_factory=dict)
    entries: dict[str, dict[str, LedgerEntry]] = field(default_factory=dict)  # uid -> entry_id -> entry
    transactions: list[Transaction] = field(default_factory=list)
    delay_s: float = 0.0  # time one transaction takes (lets changes pile up behind it)
    fail_next: list[Exception] = field(default_factory=list)  # raised by the next transactions, in order
    in_flight: dict[str, int] = field(default_factory=dict)
    max_in_flight_per_user: int = 0

    async def run_batch(self, uid: str, ops: Sequence[WriteOp[Any]], *, deadline: float | None = None) -> BatchWrites:
        self.in_flight[uid] = self.in_flight.get(uid, 0) + 1
        self.max_in_flight_per_user = max(self.max_in_flight_per_user, self.in_flight[uid])
        try:
            ids = read_set(ops)
            self.transactions.append(Transaction(uid, len(ops), 1 + len(ids), deadline))
            failure = self.fail_next.pop(0) if self.fail_next else None
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if failure is not None:
                raise failure
            ledger = self.entries.setdefault(uid, {})
            stored = {i: ledger[i] for i in ids if i in ledger}
            batch = apply_batch(self.users.get(uid), stored, ops, datetime.now(UTC))
            for entry in batch.entries:
                assert entry.entry_id not in ledger, "an entry is never overwritten"
            for entry in batch.entries:
                ledger[entry.entry_id] = entry
            if batch.profile is not None:
                self.users[uid] = batch.profile
            return batch
        finally:
            self.in_flight[uid] -= 1

    async def get_profile(self, uid: str) -> Profile | None:
        return self.users.get(uid)

    async def list_entries(self, uid: str, before_seq: int | None, limit: int) -> list[LedgerEntry]:
        rows = sorted(self.entries.get(uid, {}).values(), key=lambda e: -e.seq)
        return [e for e in rows if before_seq is None or e.seq < before_seq][:limit]

    async def audit_rows(self) -> AsyncIterator[AuditRow]:
        for uid in sorted(set(self.users) | set(self.entries)):
            profile = self.users.get(uid)
            entries = sorted(self.entries.get(uid, {}).values(), key=lambda e: e.seq)
            yield AuditRow(
                uid,
                profile.tokens if profile else 0,
                sum(e.amount for e in entries),
                len(entries),
                entries[-1].balance_after if entries else None,
                profile_exists=profile is not None,
                ledger_seq=profile.ledger_seq if profile else None,
            )

    def balance_is_sum_of_entries(self, uid: str) -> bool:
        return self.users[uid].tokens == sum(e.amount for e in self.entries.get(uid, {}).values())


def store_with(*users: tuple[str, int]) -> FakeStore:
    """A store holding these users, each with one seed grant of its tokens (if any)."""
    store = FakeStore()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for uid, tokens in users:
        store.users[uid] = Profile(uid=uid, email="", created_at=now, last_login=now)
        if tokens:
            grant = LedgerChange(ChangeKind.GRANT, uid, tokens, EntryType.PROMOTIONAL, "seed", {})
            writes = apply_change(store.users[uid], None, grant, now)
            assert writes.profile is not None and writes.entry is not None
            store.users[uid] = writes.profile
            store.entries[uid] = {writes.entry.entry_id: writes.entry}
    return store
