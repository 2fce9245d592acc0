"""What a paid subscription invoice grants: the allowance of the catalogue's subscription prices on its
lines (tokens_per_period x quantity), effective for the lines' service period and expiring at its end.
Proration lines (mid-period changes) grant nothing: an allowance is granted per full period only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from billing_service.domain.catalogue import Catalogue
from billing_service.domain.errors import AllowanceOutOfRange
from tokens import contract_rules as limits

# Only a paid invoice grants; a subscription's draft, open, void or uncollectible invoices never do.
PAID_INVOICE_STATUS = "paid"


@dataclass(frozen=True)
class InvoiceLine:
    price_id: str
    quantity: int
    period_start: int  # epoch seconds: the service period the line bills for
    period_end: int
    proration: bool = False


@dataclass(frozen=True)
class Allowance:
    tokens: int
    rollover_max: int
    effective_at: int  # epoch seconds
    expires_at: int
    # The first line that carried an allowance: recorded as the grant's source.
    price_id: str


def allowance_from_lines(catalogue: Catalogue, invoice_id: str, lines: Iterable[InvoiceLine]) -> Allowance | None:
    """The allowance the invoice's lines grant, or None when no line carries one. Every counted line must
    bill for the same period (one subscription's invoice does); AllowanceOutOfRange otherwise, or when the
    total exceeds one grant's limit."""
    tokens = rollover = 0
    first: InvoiceLine | None = None
    for line in lines:
        per_period, per_rollover = catalogue.allowance_per_unit(line.price_id)
        if per_period <= 0 or line.quantity <= 0 or line.proration:
            continue
        if first is None:
            first = line
        elif (line.period_start, line.period_end) != (first.period_start, first.period_end):
            raise AllowanceOutOfRange(invoice_id, "its subscription lines bill for different periods")
        tokens += per_period * line.quantity
        rollover += per_rollover * line.quantity
    if first is None:
        return None
    if first.period_end <= first.period_start:
        raise AllowanceOutOfRange(invoice_id, "its line's period does not end after it starts")
    if tokens > limits.MAX_TOKEN_AMOUNT:
        raise AllowanceOutOfRange(invoice_id, f"its allowance ({tokens}) exceeds {limits.MAX_TOKEN_AMOUNT} tokens")
    return Allowance(
        tokens=tokens,
        rollover_max=min(rollover, tokens),
        effective_at=first.period_start,
        expires_at=first.period_end,
        price_id=first.price_id,
    )
