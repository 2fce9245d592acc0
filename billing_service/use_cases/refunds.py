"""charge.refunded: take back what the refunded payment granted, in proportion to the amount refunded, one
ledger entry per refund (keyed `refund:{refund_id}`)."""

from __future__ import annotations

import logging

from billing_service.domain import keys
from billing_service.domain.outcomes import FulfilmentOutcome, WebhookAction
from billing_service.domain.refunds import RefundShare, refund_shares
from billing_service.profile_client import ProfileCallError
from billing_service.stripe_records import ChargeRecord
from billing_service.use_cases.fulfilment import Fulfilment
from billing_service.use_cases.ports import ProfilePort, StripePort

log = logging.getLogger("billing")


class Refunds:
    def __init__(self, stripe_port: StripePort, profile: ProfilePort, fulfilment: Fulfilment) -> None:
        self._stripe = stripe_port
        self._profile = profile
        self._fulfilment = fulfilment

    async def claw_back(self, charge_id: str) -> WebhookAction:
        charge = await self._stripe.retrieve_charge(charge_id)
        pi = charge.payment_intent_id
        session_id = await self._stripe.find_checkout_session_id(pi) if pi else None
        if not session_id:
            log.info(
                "refunded charge did not come from a checkout session; ignored",
                extra={"fields": {"charge": charge_id, "payment_intent": pi}},
            )
            return WebhookAction.IGNORED
        # Make sure the grant exists before taking it back, whatever order the events arrived in.
        fulfilment = await self._fulfilment.fulfil(session_id)
        granted = fulfilment.tokens_granted
        if fulfilment.outcome != FulfilmentOutcome.FULFILLED or granted <= 0 or charge.amount <= 0:
            log.info(
                "refund: the payment granted no tokens",
                extra={"fields": {"charge": charge_id, "session_id": session_id, "outcome": fulfilment.outcome}},
            )
            return WebhookAction.REFUND_NOTHING_GRANTED
        refunds = charge.refunds if charge.refunds is not None else tuple(await self._stripe.list_refunds(charge.id))
        shares = refund_shares(granted, charge.amount, (r.line() for r in refunds))
        revoked = short = 0
        for share in shares:
            taken = await self._revoke(fulfilment.uid, share, charge, session_id, granted)
            if taken is not None:
                revoked += taken[0]
                short += taken[1]
        log.info(
            "refund recorded",
            extra={
                "fields": {
                    "uid": fulfilment.uid,
                    "charge": charge_id,
                    "session_id": session_id,
                    "granted": granted,
                    "revoked": revoked,
                    "short": short,
                }
            },
        )
        return WebhookAction.REFUND

    async def _revoke(
        self, uid: str, share: RefundShare, charge: ChargeRecord, session_id: str, granted: int
    ) -> tuple[int, int] | None:
        """(tokens taken, shortfall), or None when the refund was already recorded with other arithmetic."""
        refund_id = share.refund_id
        reason = (
            f"Stripe refund {refund_id} of charge {charge.id}: {share.refund_amount} of {charge.amount} "
            f"{charge.currency} refunded; takes back {share.tokens} of the {granted} tokens granted by "
            f"checkout {session_id}; if the balance was lower, the entry takes what was there and the rest is "
            f"the shortfall"
        )
        source = {
            "refund_id": refund_id,
            "charge_id": charge.id,
            "checkout_session_id": session_id,
            "payment_intent": charge.payment_intent_id,
            "requested_tokens": str(share.tokens),
        }
        try:
            result = await self._profile.revoke(uid, share.tokens, keys.refund_revocation(refund_id), reason, source)
        except ProfileCallError as exc:
            if exc.reason != "IDEMPOTENCY_KEY_REUSED":
                raise
            # Recorded earlier with other arithmetic (refunds created in the same second and listed in
            # another order): the refund was already taken back once.
            log.warning(
                "refund already recorded with other parameters", extra={"fields": {"refund": refund_id, "uid": uid}}
            )
            return None
        if result.shortfall:
            log.warning(
                "refund shortfall: the balance was lower than the tokens to take back",
                extra={
                    "fields": {
                        "uid": uid,
                        "refund": refund_id,
                        "requested": share.tokens,
                        "shortfall": result.shortfall,
                        "already_applied": result.already_applied,
                    }
                },
            )
        return -result.entry.amount, result.shortfall
