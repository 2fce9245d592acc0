"""The store interface. A store provides transactions and reads; it never decides anything itself."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

from profile_service.domain.ledger import Writes
from profile_service.domain.model import LedgerEntry, Profile

# decide(profile, entry_or_None, now) -> Writes. Pure and free of side effects: stores may call it again
# when a transaction is retried. `now` is the clock reading the store takes inside the transaction.
Decide = Callable[[Profile | None, LedgerEntry | None, datetime], Writes]


@dataclass(frozen=True)
class AuditRow:
    uid: str
    tokens: int
    entries_sum: int
    entries_count: int
    newest_balance_after: int | None

    @property
    def ok(self) -> bool:
        return (
            self.tokens >= 0
            and self.tokens == self.entries_sum
            and (self.newest_balance_after is None or self.newest_balance_after == self.tokens)
        )


class ProfileStore(abc.ABC):
    @abc.abstractmethod
    async def transact(self, uid: str, entry_id: str | None, decide: Decide) -> object:
        """In one transaction: read users/{uid} and (if entry_id) that ledger entry, call decide with the time, write
        what it returns, commit, and return Writes.result. Raises StoreUnavailable when the store cannot
        answer in time; nothing is written then. Creating an entry whose id exists must fail, never
        overwrite."""

    @abc.abstractmethod
    async def get_profile(self, uid: str) -> Profile | None: ...

    @abc.abstractmethod
    async def list_entries(self, uid: str, before_seq: int | None, limit: int) -> list[LedgerEntry]:
        """Newest first: entries with seq < before_seq (all when None), at most `limit`."""

    @abc.abstractmethod
    def audit_rows(self) -> AsyncIterator[AuditRow]: ...

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Opens connections or creates the schema."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Releases connections."""
