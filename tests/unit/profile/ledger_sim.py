"""An in-memory ledger for domain tests: runs decisions the way a store does (prior entry by id, entries
created never overwritten, the profile replaced) and checks the invariants after every write."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from profile_service.domain import grants, holds, ledger
from profile_service.domain.keys import entry_id_for
from profile_service.domain.ledger import ChangeKind, GrantTerms, LedgerChange, Writes
from profile_service.domain.model import EntryType, LedgerEntry, Profile
from tests.unit.profile.clock import FakeClock


class Sim:
    def __init__(self, uid: str = "u", clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        now = self.clock()
        self.profile = Profile(uid=uid, email="", created_at=now, last_login=now)
        self.entries: dict[str, LedgerEntry] = {}

    @property
    def uid(self) -> str:
        return self.profile.uid

    def run(self, entry_id: str | None, decide: Callable[[Profile, LedgerEntry | None, datetime], Writes[Any]]) -> Any:
        prior = self.entries.get(entry_id) if entry_id else None
        writes = decide(self.profile, prior, self.clock())
        for entry in writes.entries:
            assert entry.entry_id not in self.entries, "an entry is never overwritten"
            self.entries[entry.entry_id] = entry
        if writes.profile is not None:
            self.profile = writes.profile
        self.check()
        return writes.result

    def check(self) -> None:
        p = self.profile
        assert p.tokens == sum(e.amount for e in self.entries.values()) >= 0
        assert p.ledger_seq == len(self.entries)
        assert sum(g.remaining for g in p.grants) <= p.tokens
        assert all(g.remaining > 0 for g in p.grants)
        assert 0 <= grants.held(p) <= p.tokens
        if self.entries:
            assert max(self.entries.values(), key=lambda e: e.seq).balance_after == p.tokens

    def view(self) -> Profile:
        return grants.view(self.profile, self.clock())

    def entry(self, key: str) -> LedgerEntry | None:
        return self.entries.get(entry_id_for(self.uid, key))

    def of_type(self, type_: EntryType) -> list[LedgerEntry]:
        return sorted((e for e in self.entries.values() if e.type is type_), key=lambda e: e.seq)

    # -- ledger changes ---------------------------------------------------------------------------------------

    def change(self, change: LedgerChange) -> ledger.LedgerResult:
        return self.run(change.entry_id, lambda p, e, now: ledger.apply_change(p, e, change, now))

    def grant(self, amount: int, key: str, type_: EntryType = EntryType.PURCHASE, **terms: Any) -> ledger.LedgerResult:
        t = GrantTerms(**terms) if terms else None
        return self.change(LedgerChange(ChangeKind.GRANT, self.uid, amount, type_, key, {}, terms=t))

    def spend(self, amount: int, key: str) -> ledger.LedgerResult:
        return self.change(LedgerChange(ChangeKind.SPEND, self.uid, amount, EntryType.SPEND, key, {}))

    def revoke(self, amount: int, key: str, from_grant: str = "") -> ledger.LedgerResult:
        change = LedgerChange(ChangeKind.REVOKE, self.uid, amount, EntryType.REFUND, key, {}, from_grant_key=from_grant)
        # As the servicer does: the purchase's grant entry, read before the transaction.
        granted = self.entries.get(entry_id_for(self.uid, from_grant)) if from_grant else None
        return self.change(ledger.with_grant_holder(change, granted))

    def reserve(self, amount: int, key: str, ttl: Any) -> holds.HoldResult:
        uid = self.uid
        return self.run(entry_id_for(uid, key), lambda p, e, now: holds.reserve(p, e, uid, key, amount, ttl, "", now))

    def capture(self, hold_id: str, amount: int, overage: holds.Overage = holds.Overage.REJECT) -> holds.SettleResult:
        uid = self.uid
        return self.run(
            holds.settle_entry_id(uid, hold_id),
            lambda p, e, now: holds.capture(p, e, uid, hold_id, amount, overage, "", now),
        )

    def release(self, hold_id: str) -> holds.SettleResult:
        uid = self.uid
        return self.run(holds.settle_entry_id(uid, hold_id), lambda p, e, now: holds.release(p, e, uid, hold_id, now))

    def sweep(self) -> int:
        result: int = self.run(None, lambda p, _e, now: holds.sweep(p, now))
        return result
