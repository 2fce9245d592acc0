"""Reconciliation: what Stripe has in a time window that the ledger may lack (webhooks lost past Stripe's
retries), applied through the very paths the webhooks use, so running it any number of times, or while
webhooks arrive, grants and claws back exactly once:

- paid payment-mode Checkout Sessions -> fulfilment (`checkout:{session}` grants);
- refunds and disputes -> their charge's claw-back, once per charge (a disputed charge through the
  dispute's path, use_cases/disputes.py); those created in the window, and those created before it with
  events in it (charge.dispute.*, charge.refund.updated, refund.*: a dispute closed weeks after it opened,
  a refund that failed days after it was made): `refund:{refund}` and `dispute:{dispute}` take the purchase's
  tokens, `refund-reversal:{refund}` gives back what a refund that failed (or was canceled) took, and
  `dispute-reinstated:{dispute}` what a dispute closed as won took (the dispute's status says so);
- subscription changes (customer.subscription.* events) -> the state-based entitlements refresh, written
  only when the profile shows something else;
- paid subscription invoices -> their period's allowance (`invoice:{invoice}` grants), when the catalogue
  carries allowances.

"Applied" means this run wrote the entry; "already applied" that the ledger had it (from a webhook, an
earlier run, or a racing handler). One object failing does not stop the others; it is reported, and the
run's exit code says so."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from billing_service.domain.clawback import StepKind
from billing_service.domain.outcomes import FulfilmentOutcome, WebhookAction
from billing_service.domain.reconciliation import (
    DISPUTE_EVENTS,
    FUNDS_REINSTATED,
    REFUND_EVENTS,
    ItemOutcome,
    Kind,
    ReconciliationReport,
    is_dispute_event,
    is_paid_payment_session,
    unique_in_order,
    window_start,
)
from billing_service.domain.refunds import COUNTED_REFUND_STATUSES
from billing_service.stripe_records import DisputeRecord, RefundRecord
from billing_service.use_cases.allowances import Allowances
from billing_service.use_cases.disputes import Disputes
from billing_service.use_cases.fulfilment import Fulfilment
from billing_service.use_cases.ports import StripePort
from billing_service.use_cases.refunds import ClawBack, Refunds
from billing_service.use_cases.subscriptions import Subscriptions

log = logging.getLogger("billing.reconcile")

SUBSCRIPTION_EVENTS = "customer.subscription.*"
T = TypeVar("T")


REFUND_STEPS = frozenset({StepKind.TAKE_REFUND, StepKind.REVERSE_REFUND})
DISPUTE_STEPS = frozenset({StepKind.TAKE_DISPUTE, StepKind.REINSTATE_DISPUTE})
NOT_APPLICABLE = {
    WebhookAction.IGNORED: "the charge is not from a checkout session",
    WebhookAction.REFUND_NOTHING_GRANTED: "its purchase granted no tokens",
}


def _outcome(result: ClawBack, kinds: frozenset[StepKind], object_id: str) -> ItemOutcome:
    """Applied when this run wrote a change for the object; already applied when the ledger had it."""
    if any(result.made_now(kind, object_id) for kind in kinds):
        return ItemOutcome.APPLIED
    if any(result.did(kind, object_id) for kind in kinds):
        return ItemOutcome.ALREADY_APPLIED
    return ItemOutcome.NOTHING_TO_APPLY


def _with_reason(result: ClawBack, outcome: ItemOutcome, detail: str) -> str:
    reason = NOT_APPLICABLE.get(result.action, "") if outcome is ItemOutcome.NOTHING_TO_APPLY else ""
    return ", ".join(part for part in (detail, reason) if part)


@dataclass
class _Found:
    """What the window found of one charge: its refunds and disputes (with their records when listed), and
    its disputes whose funds an event in the window says were reinstated."""

    refunds: dict[str, RefundRecord | None] = field(default_factory=dict)
    disputes: dict[str, DisputeRecord | None] = field(default_factory=dict)
    reinstated: set[str] = field(default_factory=set)


def _described(d: DisputeRecord) -> str:
    return f"charge {d.charge_id or '?'}, {d.amount} {d.currency}, {d.status} ({d.reason or 'no reason'})"


def _error(exc: Exception) -> str:
    reason = getattr(exc, "reason", "")
    message = " ".join(str(exc).split())  # one line, whatever the library put in its message
    return f"{type(exc).__name__}{f' {reason}' if reason else ''}: {message}"


class Reconciliation:
    def __init__(
        self,
        stripe_port: StripePort,
        fulfilment: Fulfilment,
        refunds: Refunds,
        disputes: Disputes,
        subscriptions: Subscriptions,
        allowances: Allowances,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._stripe = stripe_port
        self._fulfilment = fulfilment
        self._refunds = refunds
        self._disputes = disputes
        self._subscriptions = subscriptions
        self._allowances = allowances
        self._clock = clock

    async def run(self, since_hours: int) -> ReconciliationReport:
        report = ReconciliationReport(window_start(self._clock(), since_hours), since_hours)
        # Grants first, so a refund of a session in the window finds its grant already made.
        steps = (self._checkouts, self._invoices, self._refunds_and_disputes, self._subscription_changes)
        for step in steps:
            await step(report)
        log.info(
            "reconciled",
            extra={"fields": {"since_hours": since_hours, "applied": report.applied, "failed": report.failed}},
        )
        return report

    async def _each(
        self, report: ReconciliationReport, kind: Kind, object_id: str, apply: Callable[[], Awaitable[ItemOutcome]]
    ) -> None:
        try:
            outcome = await apply()
        except Exception as exc:  # one object's failure is reported; the others still get their turn
            log.warning("reconcile failed", extra={"fields": {"kind": kind.name, "id": object_id, "error": repr(exc)}})
            report.add(kind, object_id, ItemOutcome.FAILED, _error(exc))
            return
        report.add(kind, object_id, outcome)

    @staticmethod
    async def _listed(report: ReconciliationReport, kind: Kind, listing: Awaitable[list[T]]) -> list[T]:
        """The listing, or [] with a failure recorded (e.g. Stripe unreachable): never a silent zero."""
        try:
            return await listing
        except Exception as exc:
            log.warning("reconcile listing failed", extra={"fields": {"kind": kind.name, "error": repr(exc)}})
            report.listing_failed(kind, _error(exc))
            return []

    async def _checkouts(self, report: ReconciliationReport) -> None:
        listed = await self._listed(report, Kind.CHECKOUT, self._stripe.list_complete_checkout_sessions(report.since))
        for session in listed:
            if is_paid_payment_session(session.mode, session.payment_status):
                await self._each(report, Kind.CHECKOUT, session.id, partial(self._fulfil, session.id))

    async def _fulfil(self, session_id: str) -> ItemOutcome:
        result = await self._fulfilment.fulfil(session_id)
        if result.outcome is not FulfilmentOutcome.FULFILLED or result.tokens_granted <= 0:
            return ItemOutcome.NOTHING_TO_APPLY
        return ItemOutcome.ALREADY_APPLIED if result.already_applied else ItemOutcome.APPLIED

    async def _invoices(self, report: ReconciliationReport) -> None:
        if not self._allowances.enabled:
            return  # no price carries an allowance: no invoice grants anything
        listed = await self._listed(report, Kind.INVOICE, self._stripe.list_paid_invoices_since(report.since))
        for invoice in listed:
            if invoice.subscription_id:
                await self._each(report, Kind.INVOICE, invoice.id, partial(self._grant_allowance, invoice.id))

    async def _grant_allowance(self, invoice_id: str) -> ItemOutcome:
        result = await self._allowances.grant_for_invoice(invoice_id)
        if result.action is not WebhookAction.ALLOWANCE or result.tokens_granted <= 0:
            return ItemOutcome.NOTHING_TO_APPLY
        return ItemOutcome.ALREADY_APPLIED if result.already_applied else ItemOutcome.APPLIED

    async def _refunds_and_disputes(self, report: ReconciliationReport) -> None:
        """Refunds and disputes created in the window, and those created before it that changed in it (their
        events), one claw-back per charge (it recomputes every refund and dispute of the charge, so one call
        also tells what each of them needed)."""
        refunds = await self._listed(report, Kind.REFUND, self._stripe.list_refunds_since(report.since))
        disputes = await self._listed(report, Kind.DISPUTE, self._stripe.list_disputes_since(report.since))
        charges: dict[str, _Found] = {}
        for r in refunds:
            if r.charge_id:
                charges.setdefault(r.charge_id, _Found()).refunds[r.id] = r
            else:
                report.add(Kind.REFUND, r.id, ItemOutcome.NOTHING_TO_APPLY, "no charge")
        for d in disputes:
            if d.charge_id:
                charges.setdefault(d.charge_id, _Found()).disputes[d.id] = d
            else:
                report.add(Kind.DISPUTE, d.id, ItemOutcome.NOTHING_TO_APPLY, f"{_described(d)}: no charge")
        await self._changed_in_window(report, charges, {r.id for r in refunds} | {d.id for d in disputes})
        for charge_id, found in charges.items():
            await self._charge(report, charge_id, found)

    async def _changed_in_window(
        self, report: ReconciliationReport, charges: dict[str, _Found], listed: set[str]
    ) -> None:
        """Adds the refunds and disputes that have events in the window to their charge's finds. The event
        names the object (and usually its charge); amounts and statuses are re-read by the claw-back."""
        events = [
            *await self._listed(report, Kind.DISPUTE, self._stripe.list_events_since(DISPUTE_EVENTS, report.since)),
            *[
                event
                for pattern in REFUND_EVENTS
                for event in await self._listed(
                    report, Kind.REFUND, self._stripe.list_events_since(pattern, report.since)
                )
            ],
        ]
        seen = set(listed)  # created in the window: already in their charge's finds
        for event in events:
            if not event.object_id or event.object_id in seen:
                continue
            seen.add(event.object_id)
            kind = Kind.DISPUTE if is_dispute_event(event.type) else Kind.REFUND
            charge_id = event.charge_id or await self._charge_of(report, kind, event.object_id)
            if not charge_id:
                continue
            found = charges.setdefault(charge_id, _Found())
            if kind is Kind.DISPUTE:
                found.disputes.setdefault(event.object_id, None)
            else:
                found.refunds.setdefault(event.object_id, None)
        reinstated = {e.object_id for e in events if e.type == FUNDS_REINSTATED}
        for found in charges.values():
            found.reinstated = reinstated & found.disputes.keys()

    async def _charge_of(self, report: ReconciliationReport, kind: Kind, object_id: str) -> str:
        """The charge of a refund or dispute whose event did not name it, read from Stripe ("" reported)."""
        try:
            if kind is Kind.DISPUTE:
                dispute = await self._stripe.retrieve_dispute(object_id)
                if not dispute.charge_id:
                    report.add(kind, object_id, ItemOutcome.NOTHING_TO_APPLY, f"{_described(dispute)}: no charge")
                return dispute.charge_id
            refund = await self._stripe.retrieve_refund(object_id)
        except Exception as exc:
            log.warning("reconcile failed", extra={"fields": {"kind": kind.name, "id": object_id, "error": repr(exc)}})
            report.add(kind, object_id, ItemOutcome.FAILED, _error(exc))
            return ""
        if not refund.charge_id:
            report.add(kind, object_id, ItemOutcome.NOTHING_TO_APPLY, "no charge")
        return refund.charge_id

    async def _charge(self, report: ReconciliationReport, charge_id: str, found: _Found) -> None:
        dispute_id = next(iter(found.disputes), "")
        try:
            # A disputed charge goes through the dispute's own path (what its webhooks do); its status says
            # whether it holds the funds or was won, as does a funds_reinstated event. Either path recomputes
            # the whole charge.
            result = await (
                self._disputes.bring_to_ledger(dispute_id, funds_reinstated=dispute_id in found.reinstated)
                if dispute_id
                else self._refunds.claw_back_charge(charge_id)
            )
        except Exception as exc:  # nothing of the charge is then known to be applied
            log.warning(
                "reconcile failed", extra={"fields": {"kind": "CHARGE", "charge": charge_id, "error": repr(exc)}}
            )
            for refund_id in found.refunds:
                report.add(Kind.REFUND, refund_id, ItemOutcome.FAILED, f"charge {charge_id}: {_error(exc)}")
            for dispute_id in found.disputes:
                report.add(Kind.DISPUTE, dispute_id, ItemOutcome.FAILED, f"charge {charge_id}: {_error(exc)}")
            return
        statuses = {r.id: r.status for r in found.refunds.values() if r}
        # The claw-back covers every refund and dispute of the charge, also ones not found in the window:
        # those are reported when they have an entry (refunds) or something was done for them now.
        changed = [a.step for a in result.applied if not a.already_applied]
        refund_ids = [*found.refunds, *result.entries, *(s.object_id for s in changed if s.kind in REFUND_STEPS)]
        for refund_id in unique_in_order(refund_ids):
            outcome = _outcome(result, REFUND_STEPS, refund_id)
            status = statuses.get(refund_id, "")
            detail = f"status {status}" if status and status not in COUNTED_REFUND_STATUSES else ""
            report.add(Kind.REFUND, refund_id, outcome, _with_reason(result, outcome, detail))
        described = {d.id: _described(d) for d in found.disputes.values() if d}
        dispute_ids = [*found.disputes, *(s.object_id for s in changed if s.kind in DISPUTE_STEPS)]
        for dispute_id in unique_in_order(dispute_ids):
            outcome = _outcome(result, DISPUTE_STEPS, dispute_id)
            did = ", ".join(
                f"{'took' if s.kind.takes else 'gave back'} {s.tokens} tokens"
                for s in changed
                if s.object_id == dispute_id and s.kind in DISPUTE_STEPS
            )
            what = _with_reason(result, outcome, did or str(outcome))
            report.add(Kind.DISPUTE, dispute_id, outcome, f"{described.get(dispute_id, f'charge {charge_id}')}: {what}")

    async def _subscription_changes(self, report: ReconciliationReport) -> None:
        """Each customer whose subscriptions changed in the window, refreshed once from Stripe's state."""
        events = await self._listed(
            report, Kind.SUBSCRIPTION, self._stripe.list_events_since(SUBSCRIPTION_EVENTS, report.since)
        )
        # Newest first: any one subscription of the customer leads to all of them.
        by_customer: dict[str, str] = {}
        for event in events:
            if event.object_id:
                by_customer.setdefault(event.customer_id or event.object_id, event.object_id)
        for customer, subscription_id in by_customer.items():
            await self._each(report, Kind.SUBSCRIPTION, customer, partial(self._refresh, subscription_id))

    async def _refresh(self, subscription_id: str) -> ItemOutcome:
        _, applied = await self._subscriptions.sync(subscription_id, only_if_changed=True)
        return ItemOutcome.APPLIED if applied else ItemOutcome.ALREADY_APPLIED
