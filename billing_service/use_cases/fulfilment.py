"""FulfillCheckoutSession and the checkout.session.* webhooks: grant what a paid payment-mode session bought,
once (keyed `checkout:{session_id}`), whoever calls and however often."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from billing_service.domain import keys, validation
from billing_service.domain.catalogue import Catalogue, PriceMode
from billing_service.domain.errors import NotYourSession, Unattributable
from billing_service.domain.outcomes import (
    PAID_STATUSES,
    FulfilmentOutcome,
    needs_intent_status,
    subscription_session_outcome,
    unpaid_session_outcome,
)
from billing_service.domain.purchase import claimed_by_only, purchase_from_line_items, session_owner
from billing_service.profile_client import ProfileCallError
from billing_service.stripe_records import CheckoutSessionRecord
from billing_service.use_cases.ports import ProfilePort, StripePort

log = logging.getLogger("billing")


@dataclass(frozen=True)
class FulfilmentResult:
    session_id: str
    outcome: FulfilmentOutcome
    uid: str
    payment_status: str
    tokens_granted: int = 0
    # The balance right after the grant; None when nothing was granted by this call.
    balance: int | None = None
    already_applied: bool = False


class Fulfilment:
    def __init__(self, catalogue: Catalogue, stripe_port: StripePort, profile: ProfilePort) -> None:
        self._catalogue = catalogue
        self._stripe = stripe_port
        self._profile = profile

    async def fulfil_for_caller(self, session_id: str, uid: str) -> FulfilmentResult:
        """The success page's call: like fulfil(), and when this call granted nothing, the balance as it
        is now."""
        result = await self.fulfil(session_id, uid)
        if result.balance is None and result.uid:
            result = replace(result, balance=(await self._profile.get_profile(result.uid)).tokens)
        return result

    async def fulfil(self, session_id: str, expected_uid: str = "") -> FulfilmentResult:
        session_id = validation.stripe_id(session_id, "session_id")
        if expected_uid:
            validation.uid(expected_uid)
        session = await self._stripe.retrieve_checkout_session(session_id)
        owner = session_owner(session.client_reference_id, session.metadata_uid)
        if expected_uid and not claimed_by_only(session.client_reference_id, session.metadata_uid, expected_uid):
            raise NotYourSession(session_id)
        if session.mode == PriceMode.SUBSCRIPTION:
            return FulfilmentResult(
                session_id, subscription_session_outcome(session.status), owner, session.payment_status
            )
        if session.payment_status not in PAID_STATUSES:
            return FulfilmentResult(session_id, await self._unpaid_outcome(session), owner, session.payment_status)
        if not owner:
            raise Unattributable(f"checkout session {session_id}")
        return await self._grant(session, owner)

    async def _unpaid_outcome(self, session: CheckoutSessionRecord) -> FulfilmentOutcome:
        intent_status = None
        if session.status != "expired" and needs_intent_status(session.status, session.payment_intent_id):
            intent_status = (await self._stripe.retrieve_payment_intent(session.payment_intent_id)).status
        return unpaid_session_outcome(session.status, intent_status)

    async def _grant(self, session: CheckoutSessionRecord, owner: str) -> FulfilmentResult:
        if session.line_items is None:
            raise RuntimeError(f"checkout session {session.id} came back without line_items")
        purchase = purchase_from_line_items(self._catalogue, session.line_items)
        if purchase.tokens <= 0:
            granted_earlier = await self._granted_earlier(session, owner)
            if granted_earlier is not None:  # the price was retired after the purchase was granted
                return granted_earlier
            log.warning(
                "paid checkout session bought nothing in the catalogue; nothing granted",
                extra={"fields": {"session_id": session.id, "uid": owner}},
            )
            return FulfilmentResult(session.id, FulfilmentOutcome.FULFILLED, owner, session.payment_status)
        source = {"checkout_session_id": session.id, "price_id": purchase.price_id, "product_id": purchase.product_id}
        if session.payment_intent_id:
            source["payment_intent"] = session.payment_intent_id
        try:
            grant = await self._profile.grant_purchase(owner, purchase.tokens, keys.checkout_grant(session.id), source)
        except ProfileCallError as exc:
            # Granted earlier under another catalogue (the pack size changed since): that grant stands.
            granted_earlier = (
                await self._granted_earlier(session, owner) if exc.reason == "IDEMPOTENCY_KEY_REUSED" else None
            )
            if granted_earlier is None:
                raise
            return granted_earlier
        log.info(
            "checkout fulfilled",
            extra={
                "fields": {
                    "session_id": session.id,
                    "uid": owner,
                    "tokens": grant.entry.amount,
                    "already_applied": grant.already_applied,
                    "balance": grant.balance,
                }
            },
        )
        return FulfilmentResult(
            session.id,
            FulfilmentOutcome.FULFILLED,
            owner,
            session.payment_status,
            # Part of the grant may have paid debt instead of reaching the balance; it granted both.
            tokens_granted=grant.entry.amount + grant.entry.debt_settled,
            balance=None if grant.already_applied else grant.balance,
            already_applied=grant.already_applied,
        )

    async def _granted_earlier(self, session: CheckoutSessionRecord, owner: str) -> FulfilmentResult | None:
        """The session's grant as its ledger entry recorded it, if it was granted."""
        try:
            entry = await self._profile.get_ledger_entry(owner, keys.checkout_grant(session.id))
        except ProfileCallError as exc:
            if exc.reason == "PROFILE_NOT_FOUND":
                return None
            raise
        if entry is None:
            return None
        return FulfilmentResult(
            session.id,
            FulfilmentOutcome.FULFILLED,
            owner,
            session.payment_status,
            tokens_granted=entry.amount + entry.debt_settled,
            already_applied=True,
        )
