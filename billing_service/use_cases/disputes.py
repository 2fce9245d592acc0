"""charge.dispute.*: a dispute holding the funds takes the purchase's tokens that refunds did not take, once
(`dispute:{dispute_id}`, whichever event comes first); won, or its funds reinstated, gives back exactly what
it took, once (`dispute-reinstated:{dispute_id}`); lost stays taken. The dispute is re-read from Stripe
and its charge recomputed as a whole with its refunds (use_cases/refunds.py, domain/clawback.py), so a
refund and a dispute of one charge never take the same tokens twice."""

from __future__ import annotations

from billing_service.domain.clawback import StepKind
from billing_service.domain.outcomes import WebhookAction
from billing_service.use_cases.ports import StripePort
from billing_service.use_cases.refunds import ClawBack, Refunds


class Disputes:
    def __init__(self, stripe_port: StripePort, refunds: Refunds) -> None:
        self._stripe = stripe_port
        self._refunds = refunds

    async def sync(self, dispute_id: str, *, funds_reinstated: bool = False) -> WebhookAction:
        """Any charge.dispute.* event. `funds_reinstated`: the event was charge.dispute.funds_reinstated."""
        result = await self.bring_to_ledger(dispute_id, funds_reinstated=funds_reinstated)
        if result.action is not WebhookAction.REFUND:  # ignored (not from checkout) or nothing granted
            return (
                WebhookAction.IGNORED
                if result.action is WebhookAction.IGNORED
                else WebhookAction.DISPUTE_NOTHING_GRANTED
            )
        if result.did(StepKind.REINSTATE_DISPUTE, dispute_id):
            return WebhookAction.DISPUTE_REINSTATED
        if result.did(StepKind.TAKE_DISPUTE, dispute_id):
            return WebhookAction.DISPUTE
        return WebhookAction.IGNORED  # an inquiry, or nothing left to take

    async def bring_to_ledger(self, dispute_id: str, *, funds_reinstated: bool = False) -> ClawBack:
        """The dispute re-read and its charge recomputed (sync's path; reconciliation reads the result)."""
        dispute = await self._stripe.retrieve_dispute(dispute_id)
        if not dispute.charge_id:
            return ClawBack(WebhookAction.IGNORED)
        return await self._refunds.claw_back_charge(
            dispute.charge_id, funds_reinstated=dispute.id if funds_reinstated else ""
        )
