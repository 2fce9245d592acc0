"""The store interface. A store provides transactions and reads; it never decides anything itself: the
decisions are the pure functions of profile_service.domain, which a store may call again on a retry."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from profile_service.domain.batch import BatchWrites, WriteOp
from profile_service.domain.ledger import Decide
from profile_service.domain.model import LedgerEntry, Profile

T = TypeVar("T")


@dataclass(frozen=True)
class AuditRow:
    uid: str
    tokens: int
    entries_sum: int
    entries_count: int
    newest_balance_after: int | None
    # The user document exists (Firestore can hold a ledger under a deleted user document).
    profile_exists: bool = True
    # The profile's ledger_seq: the number of entries it claims (None = not checked).
    ledger_seq: int | None = None
    # The profile's debt and sum(debt_added) - sum(debt_settled) over its entries (None = not checked).
    debt: int | None = None
    entries_debt: int | None = None
    # The remaining tokens of the stored active grants and the stored held tokens (None = not checked):
    # grants never hold more than the balance (less only for a balance from before grants), holds never more.
    grants_remaining: int | None = None
    held: int | None = None

    @property
    def ok(self) -> bool:
        return (
            self.tokens >= 0
            and self.tokens == self.entries_sum
            and (self.newest_balance_after is None or self.newest_balance_after == self.tokens)
            and (self.profile_exists or self.entries_count == 0)
            and (self.ledger_seq is None or self.ledger_seq == self.entries_count)
            and (self.debt is None or (self.debt >= 0 and self.debt == (self.entries_debt or 0)))
            and (not self.debt or self.tokens == 0)
            and (self.grants_remaining is None or self.grants_remaining <= self.tokens)
            and (self.held is None or 0 <= self.held <= self.tokens)
        )


class ChangeFeed(Protocol):
    """Tells of changes to users/{uid} made by any process (WatchProfile). `on_change` may be called on another
    thread, and more often than the profile changed; the returned function ends the subscription."""

    def subscribe(self, uid: str, on_change: Callable[[], None]) -> Callable[[], None]: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


class ProfileStore(abc.ABC):
    # The clock a transaction reads `now` from (expiries, holds, timestamps). Tests inject a controllable one.
    clock: Callable[[], datetime] = staticmethod(utc_now)

    @abc.abstractmethod
    async def run_batch(self, uid: str, ops: Sequence[WriteOp[Any]], *, deadline: float | None = None) -> BatchWrites:
        """In ONE transaction: read users/{uid} and the ledger entries under the ops' entry ids (at most
        len(ops) + 1 documents), fold the ops with domain.batch.apply_batch, create every new entry (an
        existing id fails, never overwrites), write the user document once, commit; return the BatchWrites
        (outcomes[i] answers ops[i]; a domain error there answers that op only).

        `deadline` is a time.monotonic() instant; the store gives up before it (capped by its own limits).
        Raises StoreUnavailable when the store could not commit: nothing was written. Raises OutcomeUnknown
        when a commit was sent, its answer was lost and re-reading did not settle it."""

    async def transact(self, uid: str, entry_id: str | None, decide: Decide[T], *, deadline: float | None = None) -> T:
        """One change in its own transaction: run_batch with a single op. Returns the decision's result or
        raises its domain error."""
        batch = await self.run_batch(uid, [WriteOp(entry_id, decide)], deadline=deadline)
        outcome = batch.outcomes[0]
        result: T = outcome.unwrap()
        return result

    @abc.abstractmethod
    async def get_profile(self, uid: str) -> Profile | None: ...

    async def get_entry(self, uid: str, entry_id: str) -> LedgerEntry | None:
        """The entry with this id in the user's ledger (the id is derived from the idempotency key)."""
        raise NotImplementedError

    @abc.abstractmethod
    async def list_entries(self, uid: str, before_seq: int | None, limit: int) -> list[LedgerEntry]:
        """Newest first: entries with seq < before_seq (all when None), at most `limit`."""

    async def due_uids(self, now: datetime, limit: int) -> list[str]:
        """Users with a grant or hold that expires at or before `now` (the sweeper's work), soonest first."""
        raise NotImplementedError

    @abc.abstractmethod
    def audit_rows(self) -> AsyncIterator[AuditRow]:
        """One row per user document and per ledger whose user document is gone, in uid order."""

    def change_feed(self) -> ChangeFeed | None:
        """Changes made by other processes, when the store can tell (Firestore listeners); None: watchers poll."""
        return None

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Opens connections or creates the schema."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Releases connections."""
