"""Domain errors. Each service maps them to gRPC statuses in exactly one place (error_mapping.py)."""

from __future__ import annotations


class DomainError(Exception):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidArgument(DomainError):
    def __init__(self, field: str, message: str, reason: str = "INVALID_FIELD") -> None:
        super().__init__(f"{field}: {message}", field)
        self.reason = reason


class ReadOnlyField(InvalidArgument):
    def __init__(self, field: str) -> None:
        super().__init__(field, "is read-only and cannot be updated through UpdateProfile", reason="READ_ONLY_FIELD")


class ProfileNotFound(DomainError):
    def __init__(self, uid: str) -> None:
        super().__init__(f"no profile for uid {uid!r}", "uid")


class EntryNotFound(DomainError):
    def __init__(self, key: str) -> None:
        super().__init__(f"no ledger entry under idempotency_key {key[:128]!r}", "idempotency_key")


class InsufficientTokens(DomainError):
    def __init__(self, balance: int, amount: int, held: int = 0) -> None:
        what = f"available balance {balance} ({held} more are held)" if held else f"balance {balance}"
        super().__init__(f"{what} is less than the {amount} tokens requested", "amount")
        self.balance = balance
        self.amount = amount


class IdempotencyKeyReused(DomainError):
    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency_key {key!r} was already used with different parameters", "idempotency_key")


class StoreUnavailable(DomainError):
    """The store could not answer in time (locked, busy, unreachable, contended). Nothing was changed: the
    change was never committed (or a commit whose answer was lost was re-read and found absent)."""


class OutcomeUnknown(StoreUnavailable):
    """A commit was sent, its answer was lost, and re-reading the store did not settle whether it landed.
    The change may or may not be applied: retry with the same idempotency key (a replay answers with the
    first result), or re-read the profile. Never report this as "nothing changed"."""


class WriteDeadlineExceeded(DomainError):
    """The caller's deadline passed while its change was still waiting in the user's write queue, before any
    transaction took it. Nothing was changed."""

    def __init__(self) -> None:
        super().__init__("deadline exceeded while waiting for earlier changes of this user; nothing was changed")


class TooManyGrants(DomainError):
    """The user already has the most active grants the profile keeps inline, and none the new one can join."""

    def __init__(self, cap: int) -> None:
        super().__init__(
            f"the profile already has {cap} active grants and none with the same priority, expiry and category "
            "to add this one to; nothing was granted",
            "expires_at",
        )


class TooManyHolds(DomainError):
    def __init__(self, cap: int) -> None:
        super().__init__(f"the profile already has {cap} active holds; capture or release some first", "amount")


class HoldNotFound(DomainError):
    def __init__(self, hold_id: str) -> None:
        super().__init__(f"no active hold {hold_id[:64]!r} for this uid", "hold_id")


class HoldAlreadySettled(DomainError):
    def __init__(self, hold_id: str, how: str) -> None:
        super().__init__(f"hold {hold_id[:64]!r} was already settled ({how}) with other parameters", "hold_id")


class HoldExpired(DomainError):
    def __init__(self, hold_id: str) -> None:
        super().__init__(f"hold {hold_id[:64]!r} expired and was released; it can no longer be captured", "hold_id")


class HoldAmountExceeded(DomainError):
    def __init__(self, held: int, amount: int) -> None:
        super().__init__(
            f"amount {amount} is more than the {held} tokens held (overage OVERAGE_REJECT); nothing was captured",
            "amount",
        )
