"""Reconciliation: what Stripe has in a time window that the ledger may lack (webhooks lost past Stripe's
retries), applied through the very paths the webhooks use, so running it any number of times, or while
webhooks arrive, grants and claws back exactly once:

- paid payment-mode Checkout Sessions -> fulfilment (`checkout:{session}` grants);
- refunds -> the charge's claw-back (`refund:{refund}` entries);
- subscription changes (customer.subscription.* events) -> the state-based entitlements refresh, written
  only when the profile shows something else;
- paid subscription invoices -> their period's allowance (`invoice:{invoice}` grants), when the catalogue
  carries allowances;
- disputes -> listed in the report only (billing does not act on disputes yet).

One object failing does not stop the others; it is reported, and the run's exit code says so."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from billing_service.domain.outcomes import FulfilmentOutcome, WebhookAction
from billing_service.domain.reconciliation import (
    ItemOutcome,
    Kind,
    ReconciliationReport,
    is_paid_payment_session,
    unique_in_order,
    window_start,
)
from billing_service.domain.refunds import COUNTED_REFUND_STATUSES
from billing_service.use_cases.allowances import Allowances
from billing_service.use_cases.fulfilment import Fulfilment
from billing_service.use_cases.ports import StripePort
from billing_service.use_cases.refunds import Refunds
from billing_service.use_cases.subscriptions import Subscriptions

log = logging.getLogger("billing.reconcile")

SUBSCRIPTION_EVENTS = "customer.subscription.*"
T = TypeVar("T")


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
        subscriptions: Subscriptions,
        allowances: Allowances,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._stripe = stripe_port
        self._fulfilment = fulfilment
        self._refunds = refunds
        self._subscriptions = subscriptions
        self._allowances = allowances
        self._clock = clock

    async def run(self, since_hours: int) -> ReconciliationReport:
        report = ReconciliationReport(window_start(self._clock(), since_hours), since_hours)
        # Grants first, so a refund of a session in the window finds its grant already made.
        steps = (self._checkouts, self._invoices, self._refunds_in_window, self._subscription_changes, self._disputes)
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

    async def _refunds_in_window(self, report: ReconciliationReport) -> None:
        listed = await self._listed(report, Kind.REFUND, self._stripe.list_refunds_since(report.since))
        counted = []
        for r in listed:
            if r.status not in COUNTED_REFUND_STATUSES or not r.charge_id:
                report.add(Kind.REFUND, r.id, ItemOutcome.NOTHING_TO_APPLY, f"status {r.status or '?'}")
            else:
                counted.append(r)
        for charge_id in unique_in_order(r.charge_id for r in counted):
            in_window = [r.id for r in counted if r.charge_id == charge_id]
            try:
                entries = (await self._refunds.claw_back_charge(charge_id)).entries
            except Exception as exc:  # none of the charge's refunds is then known to be taken back
                log.warning(
                    "reconcile failed", extra={"fields": {"kind": "REFUND", "charge": charge_id, "error": repr(exc)}}
                )
                for refund_id in in_window:
                    report.add(Kind.REFUND, refund_id, ItemOutcome.FAILED, f"charge {charge_id}: {_error(exc)}")
                continue
            # The claw-back covers every refund of the charge, also ones created before the window.
            for refund_id in unique_in_order([*in_window, *entries]):
                if refund_id not in entries:
                    report.add(Kind.REFUND, refund_id, ItemOutcome.NOTHING_TO_APPLY)
                elif entries[refund_id]:
                    report.add(Kind.REFUND, refund_id, ItemOutcome.ALREADY_APPLIED)
                else:
                    report.add(Kind.REFUND, refund_id, ItemOutcome.APPLIED)

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

    async def _disputes(self, report: ReconciliationReport) -> None:
        for d in await self._listed(report, Kind.DISPUTE, self._stripe.list_disputes_since(report.since)):
            detail = f"charge {d.charge_id}, {d.amount} {d.currency}, {d.status} ({d.reason or 'no reason'})"
            report.add(Kind.DISPUTE, d.id, ItemOutcome.REPORTED, detail)
