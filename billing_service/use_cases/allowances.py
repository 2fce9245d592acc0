"""invoice.paid: a paid subscription invoice grants its period's allowance, once (keyed
`invoice:{invoice_id}`), as its own expiring grant: bought packs are separate grants and a renewal never
touches them. The invoice, its subscription and customer are read from Stripe; nothing in the event
payload decides."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from billing_service.domain import keys, validation
from billing_service.domain.allowance import PAID_INVOICE_STATUS, allowance_from_lines
from billing_service.domain.catalogue import Catalogue
from billing_service.domain.errors import Unattributable
from billing_service.domain.outcomes import WebhookAction
from billing_service.profile_client import ProfileCallError
from billing_service.stripe_records import InvoiceRecord
from billing_service.use_cases.ports import ProfilePort, StripePort

log = logging.getLogger("billing")


@dataclass(frozen=True)
class AllowanceResult:
    invoice_id: str
    # ALLOWANCE (granted, now or earlier), ALLOWANCE_NONE (no line carries one) or IGNORED (not a paid
    # subscription invoice, or no price in the catalogue carries an allowance).
    action: WebhookAction
    uid: str = ""
    tokens_granted: int = 0
    already_applied: bool = False


class Allowances:
    def __init__(self, catalogue: Catalogue, stripe_port: StripePort, profile: ProfilePort) -> None:
        self._catalogue = catalogue
        self._stripe = stripe_port
        self._profile = profile

    @property
    def enabled(self) -> bool:
        return self._catalogue.grants_allowances

    async def grant_for_invoice(self, invoice_id: str) -> AllowanceResult:
        invoice_id = validation.stripe_id(invoice_id, "invoice_id")
        if not self.enabled:  # nothing could be granted: Stripe need not be asked
            return AllowanceResult(invoice_id, WebhookAction.IGNORED)
        invoice = await self._stripe.retrieve_invoice(invoice_id)
        if not invoice.subscription_id or invoice.status != PAID_INVOICE_STATUS:
            log.info(
                "invoice grants nothing (not a paid subscription invoice)",
                extra={"fields": {"invoice_id": invoice_id, "status": invoice.status}},
            )
            return AllowanceResult(invoice_id, WebhookAction.IGNORED)
        allowance = allowance_from_lines(self._catalogue, invoice.id, invoice.lines or ())
        if allowance is None:
            return AllowanceResult(invoice_id, WebhookAction.ALLOWANCE_NONE)
        uid = await self._owner(invoice)
        key = keys.invoice_allowance(invoice.id)
        source = {
            "invoice_id": invoice.id,
            "subscription_id": invoice.subscription_id,
            "price_id": allowance.price_id,
        }
        try:
            grant = await self._profile.grant_allowance(
                uid,
                allowance.tokens,
                key,
                source,
                effective_at=allowance.effective_at,
                expires_at=allowance.expires_at,
                rollover_max=allowance.rollover_max,
            )
        except ProfileCallError as exc:
            # Granted earlier under another catalogue (the allowance changed since): that grant stands.
            if exc.reason != "IDEMPOTENCY_KEY_REUSED":
                raise
            entry = await self._profile.get_ledger_entry(uid, key)
            if entry is None:
                raise
            return AllowanceResult(invoice_id, WebhookAction.ALLOWANCE, uid, entry.amount + entry.debt_settled, True)
        log.info(
            "allowance granted",
            extra={
                "fields": {
                    "invoice_id": invoice.id,
                    "subscription_id": invoice.subscription_id,
                    "uid": uid,
                    "tokens": allowance.tokens,
                    "effective_at": allowance.effective_at,
                    "expires_at": allowance.expires_at,
                    "already_applied": grant.already_applied,
                }
            },
        )
        return AllowanceResult(
            invoice_id,
            WebhookAction.ALLOWANCE,
            uid,
            # Part of the grant may have paid debt instead of reaching the balance; it granted both.
            grant.entry.amount + grant.entry.debt_settled,
            grant.already_applied,
        )

    async def _owner(self, invoice: InvoiceRecord) -> str:
        """The uid in the subscription's metadata (set at checkout), else in its customer's."""
        subscription = await self._stripe.retrieve_subscription(invoice.subscription_id)
        if subscription.metadata_uid:
            return subscription.metadata_uid
        customer_id = subscription.customer_id or invoice.customer_id
        uid = (await self._stripe.retrieve_customer(customer_id)).uid if customer_id else ""
        if not uid:
            raise Unattributable(f"invoice {invoice.id} (subscription {invoice.subscription_id})")
        return uid
