"""What the refunds and disputes of one charge take back of the tokens its purchase granted, and what they
give back when they fail or are won: one plan, computed from Stripe's state of the charge and the ledger
entries already written for it, so any event of the charge (in any order, any number of times) converges
on the same ledger.

Rules:
- `granted` is what the purchase's ledger entry granted (amount + debt_settled), never today's catalogue.
- Refunds (succeeded or pending), oldest first, take their proportional share of the grant, computed on the
  running refunded total: floor(granted * refunded_so_far / charge_amount) minus what earlier refunds of
  the charge claimed, so the shares never add up to more than the grant.
- A dispute that holds the funds (needs_response, under_review, lost) takes the disputed share of the grant
  that refunds did not: floor(granted * min(amount, refunded + disputed) / amount) minus the refunds' part.
- Nothing ever takes more than the grant minus every live claim of the charge (no double claw-back between
  refunds and disputes).
- A refund that failed (or was canceled) gives back exactly what its entry cost the user; a dispute won (or
  whose funds were reinstated) gives back exactly what its entry cost. Each once, by key.

A revocation's *claim* against the purchase is -amount + shortfall (what it asked for); what it *cost* the
user is -amount + debt_added (tokens taken plus debt carried), which is what a reversal gives back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from billing_service.domain import keys
from billing_service.domain.refunds import COUNTED_REFUND_STATUSES, RefundLine, counted_oldest_first

# Dispute statuses in which the money has left (or is leaving) the account: the tokens are taken.
TAKING_DISPUTE_STATUSES = frozenset({"needs_response", "under_review", "lost"})
# Closed in the merchant's favour (or an inquiry closed): whatever was taken is given back.
RELEASED_DISPUTE_STATUSES = frozenset({"won", "warning_closed"})


@dataclass(frozen=True)
class Recorded:
    """A revocation's ledger entry, and whether its reversal entry exists."""

    claimed: int
    cost: int
    reversed: bool = False

    @classmethod
    def from_entry(cls, amount: int, shortfall: int, debt_added: int, reversed: bool) -> Recorded:
        return cls(claimed=-amount + shortfall, cost=-amount + debt_added, reversed=reversed)


@dataclass(frozen=True)
class RefundState:
    line: RefundLine
    recorded: Recorded | None = None

    @property
    def counted(self) -> bool:
        return self.line.status in COUNTED_REFUND_STATUSES


@dataclass(frozen=True)
class DisputeState:
    dispute_id: str
    status: str
    amount: int
    created: int = 0
    recorded: Recorded | None = None
    # A charge.dispute.funds_reinstated event was seen for it, whatever the status says.
    funds_reinstated: bool = False

    @property
    def released(self) -> bool:
        return self.funds_reinstated or self.status in RELEASED_DISPUTE_STATUSES

    @property
    def holds_funds(self) -> bool:
        return not self.released and self.status in TAKING_DISPUTE_STATUSES


class StepKind(StrEnum):
    TAKE_REFUND = "take_refund"
    REVERSE_REFUND = "reverse_refund"
    TAKE_DISPUTE = "take_dispute"
    REINSTATE_DISPUTE = "reinstate_dispute"

    @property
    def takes(self) -> bool:
        return self in (StepKind.TAKE_REFUND, StepKind.TAKE_DISPUTE)


@dataclass(frozen=True)
class Step:
    kind: StepKind
    object_id: str  # the refund or dispute id
    tokens: int
    key: str


def _live_refund_claim(r: RefundState) -> int:
    if r.recorded is None or r.recorded.reversed or not r.counted:
        return 0
    return r.recorded.claimed


def _live_dispute_claim(d: DisputeState) -> int:
    if d.recorded is None or d.recorded.reversed or d.released:
        return 0
    return d.recorded.claimed


def plan_charge(
    granted: int, charge_amount: int, refunds_newest_first: Sequence[RefundState], disputes: Sequence[DisputeState]
) -> list[Step]:
    """The ledger changes the charge still needs, in the order to apply them: give-backs first (they free
    what later takes may claim), then refund takes, then dispute takes."""
    if granted <= 0 or charge_amount <= 0:
        return []
    steps: list[Step] = []
    by_line = {r.line.refund_id: r for r in refunds_newest_first}
    refund_live = {rid: _live_refund_claim(r) for rid, r in by_line.items()}
    ordered_disputes = sorted(disputes, key=lambda d: (d.created, d.dispute_id))
    dispute_live = {d.dispute_id: _live_dispute_claim(d) for d in ordered_disputes}

    # 1. Give back what failed refunds and released disputes cost.
    for r in reversed(list(refunds_newest_first)):
        rec = r.recorded
        if not r.counted and rec is not None and not rec.reversed and rec.cost > 0:
            steps.append(
                Step(StepKind.REVERSE_REFUND, r.line.refund_id, rec.cost, keys.refund_reversal(r.line.refund_id))
            )
    for d in ordered_disputes:
        rec = d.recorded
        if d.released and rec is not None and not rec.reversed and rec.cost > 0:
            steps.append(
                Step(StepKind.REINSTATE_DISPUTE, d.dispute_id, rec.cost, keys.dispute_reinstatement(d.dispute_id))
            )

    # 2. Refunds: each its share of the running refunded total, within what no live claim holds.
    refunded = claimed_so_far = 0
    for line in counted_oldest_first(r.line for r in refunds_newest_first):
        state = by_line[line.refund_id]
        refunded = min(charge_amount, refunded + line.amount)
        target = granted * refunded // charge_amount
        if state.recorded is not None:
            claimed_so_far += _live_refund_claim(state)
            continue
        available = granted - sum(refund_live.values()) - sum(dispute_live.values())
        tokens = max(0, min(target - claimed_so_far, available))
        if tokens > 0:
            steps.append(Step(StepKind.TAKE_REFUND, line.refund_id, tokens, keys.refund_revocation(line.refund_id)))
            refund_live[line.refund_id] = tokens
            claimed_so_far += tokens

    # 3. Disputes holding the funds: the disputed share that refunds did not take.
    refunds_part = max(granted * refunded // charge_amount, sum(refund_live.values()))
    for d in ordered_disputes:
        if not d.holds_funds or d.recorded is not None:
            continue
        share = granted * min(charge_amount, refunded + d.amount) // charge_amount
        tokens = min(share - refunds_part, granted - sum(refund_live.values()) - sum(dispute_live.values()))
        if tokens > 0:
            steps.append(Step(StepKind.TAKE_DISPUTE, d.dispute_id, tokens, keys.dispute_revocation(d.dispute_id)))
            dispute_live[d.dispute_id] = tokens
    return steps
