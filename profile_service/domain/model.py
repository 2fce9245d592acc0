"""Profile and ledger entry records. Field names follow the original Firestore documents."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any


class EntryType(enum.StrEnum):
    # Stored lowercase, as the original wrote type: 'purchase'.
    PURCHASE = "purchase"
    PROMOTIONAL = "promotional"
    REFUND_REVERSAL = "refund_reversal"
    ADJUSTMENT = "adjustment"
    SPEND = "spend"
    REFUND = "refund"


GRANT_TYPES = frozenset({EntryType.PURCHASE, EntryType.PROMOTIONAL, EntryType.REFUND_REVERSAL, EntryType.ADJUSTMENT})


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
