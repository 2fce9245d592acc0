"""What refunds of a charge take back of the tokens its purchase granted: each refund its proportional
share, computed on the running refunded total so the shares add up to exactly what the total implies."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Refunds that have left (or are leaving) the account. failed/canceled refunds return nothing.
COUNTED_REFUND_STATUSES = frozenset({"succeeded", "pending"})


@dataclass(frozen=True)
class RefundLine:
    refund_id: str
    amount: int
    status: str
    created: int


@dataclass(frozen=True)
class RefundShare:
    refund_id: str
    refund_amount: int
    tokens: int


def counted_oldest_first(refunds_newest_first: Iterable[RefundLine]) -> list[RefundLine]:
    """Counted refunds, oldest first. Stripe lists newest first, which also orders refunds made in the
    same second, so reverse that order and sort stably by `created`: each share is the same on every run."""
    counted = [r for r in refunds_newest_first if r.status in COUNTED_REFUND_STATUSES and r.refund_id]
    counted.reverse()
    return sorted(counted, key=lambda r: r.created)


def refund_shares(granted: int, charge_amount: int, refunds_newest_first: Iterable[RefundLine]) -> list[RefundShare]:
    """Tokens each refund takes back (only refunds whose share is positive)."""
    if granted <= 0 or charge_amount <= 0:
        return []
    shares = []
    refunded_before = 0
    for refund in counted_oldest_first(refunds_newest_first):
        refunded_after = min(charge_amount, refunded_before + refund.amount)
        tokens = granted * refunded_after // charge_amount - granted * refunded_before // charge_amount
        refunded_before = refunded_after
        if tokens > 0:
            shares.append(RefundShare(refund.refund_id, refund.amount, tokens))
    return shares
