"""Reconciliation's rules: the window it looks at, which Stripe objects count, and its report (what it
found and did, per kind). Applying goes through the same idempotent paths as the webhooks, so the report
can only say "applied" for an effect the ledger did not have before."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from billing_service.domain.catalogue import PriceMode
from billing_service.domain.outcomes import PAID_STATUSES

DEFAULT_SINCE_HOURS = 72  # Stripe retries a webhook for up to 3 days in live mode
MAX_SINCE_HOURS = 720  # the Events API keeps 30 days

# What changed in the window on refunds and disputes created before it (a dispute is won or lost weeks after
# it was opened, a refund fails days after it was made): one Events API `type` each (`*` is a wildcard).
DISPUTE_EVENTS = "charge.dispute.*"
REFUND_EVENTS = ("charge.refund.updated", "refund.*")
FUNDS_REINSTATED = "charge.dispute.funds_reinstated"


def is_dispute_event(event_type: str) -> bool:
    return event_type.startswith(DISPUTE_EVENTS.removesuffix("*"))


class Kind(StrEnum):
    CHECKOUT = "checkout sessions (paid, payment mode)"
    INVOICE = "subscription invoices (paid, allowances)"
    REFUND = "refunds"
    DISPUTE = "disputes"
    SUBSCRIPTION = "subscription changes (customers)"


class ItemOutcome(StrEnum):
    APPLIED = "applied"
    ALREADY_APPLIED = "already applied"
    NOTHING_TO_APPLY = "nothing to apply"  # e.g. bought nothing in the catalogue, a failed refund that took nothing
    FAILED = "failed"


@dataclass(frozen=True)
class ItemResult:
    kind: Kind
    object_id: str
    outcome: ItemOutcome
    detail: str = ""


@dataclass(frozen=True)
class Tally:
    found: int = 0
    applied: int = 0
    already_applied: int = 0
    nothing_to_apply: int = 0
    failed: int = 0


def window_start(now_s: float, since_hours: int) -> int:
    if not 1 <= since_hours <= MAX_SINCE_HOURS:
        raise ValueError(f"since_hours must be 1..{MAX_SINCE_HOURS}")
    return int(now_s) - since_hours * 3600


def is_paid_payment_session(mode: str, payment_status: str) -> bool:
    """A session whose purchase fulfilment grants: payment mode (subscriptions grant no tokens), paid."""
    return mode == PriceMode.PAYMENT and payment_status in PAID_STATUSES


def unique_in_order(ids: Iterable[str]) -> list[str]:
    """Each id once, in first-seen order, without empties (e.g. the charges of several refunds)."""
    return list(dict.fromkeys(i for i in ids if i))


@dataclass
class ReconciliationReport:
    since: int
    since_hours: int
    results: list[ItemResult] = field(default_factory=list)
    # Listings that failed (e.g. Stripe unreachable): whatever they would have listed was not looked at.
    listing_failures: list[tuple[Kind, str]] = field(default_factory=list)

    def add(self, kind: Kind, object_id: str, outcome: ItemOutcome, detail: str = "") -> None:
        self.results.append(ItemResult(kind, object_id, outcome, detail))

    def listing_failed(self, kind: Kind, detail: str) -> None:
        self.listing_failures.append((kind, detail))

    def tally(self, kind: Kind) -> Tally:
        outcomes = [r.outcome for r in self.results if r.kind is kind]
        return Tally(
            found=len(outcomes),
            applied=outcomes.count(ItemOutcome.APPLIED),
            already_applied=outcomes.count(ItemOutcome.ALREADY_APPLIED),
            nothing_to_apply=outcomes.count(ItemOutcome.NOTHING_TO_APPLY),
            failed=outcomes.count(ItemOutcome.FAILED),
        )

    @property
    def failures(self) -> list[ItemResult]:
        return [r for r in self.results if r.outcome is ItemOutcome.FAILED]

    @property
    def applied(self) -> int:
        return sum(1 for r in self.results if r.outcome is ItemOutcome.APPLIED)

    @property
    def failed(self) -> int:
        return len(self.failures) + len(self.listing_failures)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def lines(self) -> list[str]:
        """The report as printed by `python -m billing_service reconcile`."""
        since = datetime.fromtimestamp(self.since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        out = [f"reconcile: Stripe objects created since {since} (last {self.since_hours} h)"]
        for kind in Kind:
            t = self.tally(kind)
            out.append(
                f"{kind}: found {t.found}, applied {t.applied}, already applied {t.already_applied}, "
                f"nothing to apply {t.nothing_to_apply}, failed {t.failed}"
            )
            if kind is Kind.DISPUTE:  # few, and each worth a look: one line each (failures are listed below)
                out += [
                    f"  dispute {r.object_id}: {r.detail}"
                    for r in self.results
                    if r.kind is kind and r.outcome is not ItemOutcome.FAILED
                ]
        out += [f"  FAILED listing {kind}: {detail}" for kind, detail in self.listing_failures]
        out += [f"  FAILED {r.kind} {r.object_id}: {r.detail}" for r in self.failures]
        out.append(f"result: {'FAILED' if self.failed else 'ok'}: applied {self.applied}, failed {self.failed}")
        return out
