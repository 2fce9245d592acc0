"""Profile and ledger entry records. Field names follow the original Firestore documents."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from tokens import contract_rules as limits


class EntryType(enum.StrEnum):
    # Stored lowercase, as the original wrote type: 'purchase'.
    PURCHASE = "purchase"
    PROMOTIONAL = "promotional"
    REFUND_REVERSAL = "refund_reversal"
    ADJUSTMENT = "adjustment"
    SPEND = "spend"
    REFUND = "refund"
    # What was left of a grant when it expired (negative), once per grant, key expiry:{grant_id}.
    EXPIRY = "expiry"
    # A subscription period's allowance, and what rolls over from an expired one (key rollover:{grant_id}).
    ALLOWANCE = "allowance"
    # A hold was placed (amount 0, under the reserve key) / released by ReleaseHold or at its expiry (amount 0,
    # under hold-settle:{hold_id}). A capture is a SPEND under hold-settle:{hold_id}.
    HOLD = "hold"
    HOLD_RELEASE = "hold_release"


GRANT_TYPES = frozenset(
    {EntryType.PURCHASE, EntryType.PROMOTIONAL, EntryType.REFUND_REVERSAL, EntryType.ADJUSTMENT, EntryType.ALLOWANCE}
)


class GrantCategory(enum.StrEnum):
    """What kind of credit a grant is; part of the spending order (promotional, then allowance, then paid)."""

    PAID = "paid"
    PROMOTIONAL = "promotional"
    ALLOWANCE = "allowance"


# The category a grant gets when the caller names none.
DEFAULT_CATEGORY = {
    EntryType.PURCHASE: GrantCategory.PAID,
    EntryType.REFUND_REVERSAL: GrantCategory.PAID,
    EntryType.PROMOTIONAL: GrantCategory.PROMOTIONAL,
    EntryType.ADJUSTMENT: GrantCategory.PROMOTIONAL,
    EntryType.ALLOWANCE: GrantCategory.ALLOWANCE,
}
DEFAULT_PRIORITY = limits.GRANT_PRIORITY_DEFAULT


@dataclass(frozen=True)
class Grant:
    """One active credit block, kept inline on the profile (see domain/grants.py). grant_id is the entry id of
    the ledger entry that created it, whose source says where it came from."""

    grant_id: str
    amount: int  # what reached the balance when it was granted
    remaining: int
    effective_at: datetime
    expires_at: datetime | None
    priority: int
    category: GrantCategory
    seq: int  # the seq of the entry that created it (0: the uncovered legacy balance)
    rollover_max: int = 0


@dataclass(frozen=True)
class Hold:
    """Tokens reserved by ReserveTokens until captured, released or expired. hold_id is the reserve entry's id."""

    hold_id: str
    amount: int
    expires_at: datetime
    seq: int  # the reserve entry's seq: holds are kept (and cut, newest first) in this order


@dataclass(frozen=True)
class Allocation:
    """How much of one grant a ledger entry took (spends, revocations, captures, expiries)."""

    grant_id: str
    amount: int


@dataclass(frozen=True)
class Profile:
    uid: str
    email: str
    created_at: datetime
    last_login: datetime
    stripe_customer_id: str = ""
    has_access: bool = False
    one_time_purchase: bool = False
    tokens: int = 0
    purchase_date: datetime | None = None
    product_id: str = ""
    price_id: str = ""
    subscription_status: str = ""
    current_period_end: datetime | None = None
    display_name: str = ""
    # Time of the Stripe event behind has_access/subscription_status; older events are ignored.
    entitlements_as_of: datetime | None = None
    # Sequence number of the newest ledger entry; orders history without trusting clocks.
    ledger_seq: int = 0
    # Tokens owed (SHORTFALL_POLICY=carry): sum of the entries' debt_added minus their debt_settled.
    debt: int = 0
    # Active grants (remaining > 0) and active holds, inline: every transaction reads them with the user
    # document. sum(remaining) == tokens, except a balance from before grants existed (see domain/grants.py).
    grants: tuple[Grant, ...] = ()
    holds: tuple[Hold, ...] = ()

    def with_(self, **changes: Any) -> Profile:
        return replace(self, **changes)


@dataclass(frozen=True)
class LedgerEntry:
    entry_id: str
    uid: str
    seq: int
    amount: int  # signed
    type: EntryType
    timestamp: datetime
    balance_after: int
    idempotency_key: str
    fingerprint: str
    source: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    # RevokeTokens only: what could not be taken because the balance was short.
    shortfall: int = 0
    # Grants only: the part of the grant that paid debt instead of reaching the balance.
    debt_settled: int = 0
    # RevokeTokens only: the part of the shortfall carried as debt (the rest was forgiven).
    debt_added: int = 0
    # Which grants the entry took from and how much from each (spends, captures, revocations, expiries).
    allocations: tuple[Allocation, ...] = ()
    # Grants: when the grant expires; holds: when the hold expires.
    expires_at: datetime | None = None
    # Hold entries (reserve, capture, release): the hold, and its amount (held / held at capture / released).
    hold_id: str = ""
    hold_amount: int = 0
