"""Group commit, the pure part: the changes waiting for one user, applied in arrival order to one read of
the user's state. The store runs `apply_batch` inside ONE transaction and writes what it returns: every new
entry (created, never overwritten) and the user document once.

Rules, the same as one change per transaction:
- each change sees the state left by the changes before it (a spend is checked against the running balance,
  each entry takes the next seq);
- an idempotency key repeated inside the batch replays the first (the entries created earlier in the batch
  count as stored);
- a domain error (insufficient tokens, key reused, profile not found) answers that change only: its writes
  are dropped and the others go on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from profile_service.domain.ledger import Decide
from profile_service.domain.model import LedgerEntry, Profile

T = TypeVar("T")


@dataclass(frozen=True)
class WriteOp(Generic[T]):
    """One change for one user: the ledger entry it reads (None for profile writes) and its decision."""

    entry_id: str | None
    decide: Decide[T]


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What one change answers: a result, or the error raised by its decision (nothing of it was written)."""

    value: T | None = None
    error: Exception | None = None

    def unwrap(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]  # T itself may include None


@dataclass(frozen=True)
class BatchWrites:
    """What one transaction writes and what each change answers (outcomes[i] belongs to ops[i])."""

    profile: Profile | None  # the user document after the batch; None = unchanged
    entries: tuple[LedgerEntry, ...]  # new entries in seq order
    outcomes: tuple[Outcome[Any], ...]

    @property
    def writes_anything(self) -> bool:
        return self.profile is not None or bool(self.entries)


def read_set(ops: Sequence[WriteOp[Any]]) -> list[str]:
    """The distinct entry ids a batch reads, in order: at most len(ops) documents, plus the user document."""
    return list(dict.fromkeys(op.entry_id for op in ops if op.entry_id is not None))


def apply_batch(
    profile: Profile | None, stored: Mapping[str, LedgerEntry], ops: Sequence[WriteOp[Any]], now: datetime
) -> BatchWrites:
    """Folds the ops over (profile, stored entries). `stored` holds the entries found under read_set(ops)."""
    known = dict(stored)
    entries: list[LedgerEntry] = []
    outcomes: list[Outcome[Any]] = []
    dirty = False
    for op in ops:
        prior = known.get(op.entry_id) if op.entry_id is not None else None
        try:
            writes = op.decide(profile, prior, now)
        except Exception as exc:  # answers this change only; its writes never happen
            outcomes.append(Outcome(error=exc))
            continue
        for entry in writes.entries:
            known[entry.entry_id] = entry
            entries.append(entry)
        if writes.profile is not None:
            profile = writes.profile
            dirty = True
        outcomes.append(Outcome(value=writes.result))
    return BatchWrites(profile if dirty else None, tuple(entries), tuple(outcomes))
