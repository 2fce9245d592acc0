"""Refunds (and, through disputes.py, disputes) of one charge against the ledger: take back what that
purchase actually granted (read from its `checkout:{session}` entry, never today's catalogue), in proportion
to the amount refunded, one entry per refund (`refund:{refund_id}`); give back what a refund that later
failed took (`refund-reversal:{refund_id}`). The plan is domain/clawback.py: every event of a charge
recomputes it from Stripe's state and the ledger, so order and redelivery do not matter. One charge is
handled at a time in this process (a lock per charge)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from billing_service.domain import keys
from billing_service.domain.clawback import DisputeState, Recorded, RefundState, Step, StepKind, plan_charge
from billing_service.domain.outcomes import FulfilmentOutcome, WebhookAction
from billing_service.domain.purchase import session_owner
from billing_service.profile_client import ProfileCallError
from billing_service.stripe_records import ChargeRecord, DisputeRecord, RefundRecord
from billing_service.use_cases.fulfilment import Fulfilment
from billing_service.use_cases.ports import ProfilePort, StripePort
from tokens.profile.v1 import profile_service_pb2 as ppb

log = logging.getLogger("billing")


@dataclass(frozen=True)
class Applied:
    step: Step
    # True when the entry was there already (recorded earlier, or by a racing handler).
    already_applied: bool
    balance: int | None = None


@dataclass(frozen=True)
class ClawBack:
    action: WebhookAction
    # Refund id -> True when its ledger entry was already there (recorded earlier), False when made now.
    # Refunds that take nothing (failed, or a zero share) have no entry.
    entries: dict[str, bool] = field(default_factory=dict)
    # Every ledger change this call asked for, in order.
    applied: tuple[Applied, ...] = ()
    uid: str = ""
    granted: int = 0

    def did(self, kind: StepKind, object_id: str = "") -> bool:
        """A change of this kind (for this object) is in the ledger, made now or earlier."""
        return any(a.step.kind is kind and (not object_id or a.step.object_id == object_id) for a in self.applied)

    def made_now(self, kind: StepKind, object_id: str) -> bool:
        """This call wrote the change (not an earlier call, nor a racing handler)."""
        return any(
            a.step.kind is kind and a.step.object_id == object_id and not a.already_applied for a in self.applied
        )


@dataclass(frozen=True)
class _Purchase:
    uid: str
    session_id: str
    granted: int


class _ChargeLocks:
    """One holder at a time per charge; entries disappear when nobody waits."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, charge_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(charge_id, (asyncio.Lock(), 0))
        self._locks[charge_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[charge_id]
            if users == 1:
                del self._locks[charge_id]
            else:
                self._locks[charge_id] = (lock, users - 1)


class Refunds:
    def __init__(self, stripe_port: StripePort, profile: ProfilePort, fulfilment: Fulfilment) -> None:
        self._stripe = stripe_port
        self._profile = profile
        self._fulfilment = fulfilment
        self._locks = _ChargeLocks()

    async def claw_back(self, charge_id: str) -> WebhookAction:
        """charge.refunded."""
        return (await self.claw_back_charge(charge_id)).action

    async def refund_changed(self, refund_id: str) -> WebhookAction:
        """charge.refund.updated / refund.updated / refund.failed: the refund's charge, recomputed (a failed
        refund gives back what it took)."""
        refund = await self._stripe.retrieve_refund(refund_id)
        if not refund.charge_id:
            return WebhookAction.IGNORED
        result = await self.claw_back_charge(refund.charge_id)
        if result.did(StepKind.REVERSE_REFUND, refund_id):
            return WebhookAction.REFUND_REVERSED
        return result.action

    async def claw_back_charge(self, charge_id: str, *, funds_reinstated: str = "") -> ClawBack:
        """Every refund and dispute of the charge brought to the ledger once (the webhooks' and
        reconciliation's path). `funds_reinstated`: a dispute id whose funds Stripe reported reinstated."""
        async with self._locks.hold(charge_id):
            return await self._claw_back_charge(charge_id, funds_reinstated)

    async def _claw_back_charge(self, charge_id: str, funds_reinstated: str) -> ClawBack:
        charge = await self._stripe.retrieve_charge(charge_id)
        pi = charge.payment_intent_id
        session_id = await self._stripe.find_checkout_session_id(pi) if pi else None
        if not session_id:
            log.info(
                "refunded or disputed charge did not come from a checkout session; ignored",
                extra={"fields": {"charge": charge_id, "payment_intent": pi}},
            )
            return ClawBack(WebhookAction.IGNORED)
        purchase = await self._purchase(session_id)
        if purchase is None or purchase.granted <= 0 or charge.amount <= 0:
            log.info(
                "refund or dispute: the payment granted no tokens",
                extra={"fields": {"charge": charge_id, "session_id": session_id}},
            )
            return ClawBack(WebhookAction.REFUND_NOTHING_GRANTED)
        refunds = charge.refunds if charge.refunds is not None else tuple(await self._stripe.list_refunds(charge.id))
        disputes = await self._stripe.list_disputes(charge.id)
        refund_states, dispute_states = await asyncio.gather(
            self._refund_states(purchase.uid, refunds),
            self._dispute_states(purchase.uid, disputes, funds_reinstated),
        )
        steps = plan_charge(purchase.granted, charge.amount, refund_states, dispute_states)
        amounts = {r.id: r.amount for r in refunds}
        applied = [await self._apply(purchase, charge, step, amounts) for step in steps]
        entries = {r.line.refund_id: True for r in refund_states if r.recorded is not None and r.counted}
        entries.update({a.step.object_id: a.already_applied for a in applied if a.step.kind is StepKind.TAKE_REFUND})
        log.info(
            "charge brought to the ledger",
            extra={
                "fields": {
                    "uid": purchase.uid,
                    "charge": charge_id,
                    "session_id": purchase.session_id,
                    "granted": purchase.granted,
                    "steps": [f"{a.step.kind} {a.step.object_id} {a.step.tokens}" for a in applied],
                }
            },
        )
        # Changes already in the ledger before this call count too (a redelivered event reports the same).
        earlier = [Applied(Step(StepKind.TAKE_REFUND, rid, 0, ""), True) for rid, was in entries.items() if was]
        earlier += [
            Applied(Step(StepKind.REVERSE_REFUND, r.line.refund_id, 0, ""), True)
            for r in refund_states
            if r.recorded is not None and r.recorded.reversed
        ]
        earlier += [
            Applied(Step(StepKind.TAKE_DISPUTE, d.dispute_id, 0, ""), True) for d in dispute_states if d.recorded
        ]
        earlier += [
            Applied(Step(StepKind.REINSTATE_DISPUTE, d.dispute_id, 0, ""), True)
            for d in dispute_states
            if d.recorded is not None and d.recorded.reversed
        ]
        return ClawBack(WebhookAction.REFUND, entries, tuple(applied + earlier), purchase.uid, purchase.granted)

    async def _purchase(self, session_id: str) -> _Purchase | None:
        """Who bought, and what their purchase's ledger entry granted. Granted now (today's catalogue) only
        when it was never granted: the refund or dispute may have arrived before the checkout event."""
        session = await self._stripe.retrieve_checkout_session(session_id)
        owner = session_owner(session.client_reference_id, session.metadata_uid)
        if owner:
            entry = await self._entry(owner, keys.checkout_grant(session_id))
            if entry is not None:
                return _Purchase(owner, session_id, entry.amount + entry.debt_settled)
        fulfilment = await self._fulfilment.fulfil(session_id)
        if fulfilment.outcome != FulfilmentOutcome.FULFILLED:
            return None
        return _Purchase(fulfilment.uid, session_id, fulfilment.tokens_granted)

    async def _entry(self, uid: str, key: str) -> ppb.TokenTransaction | None:
        try:
            return await self._profile.get_ledger_entry(uid, key)
        except ProfileCallError as exc:
            if exc.reason == "PROFILE_NOT_FOUND":
                return None
            raise

    async def _recorded(self, uid: str, key: str, reversal_key: str) -> Recorded | None:
        entry = await self._profile.get_ledger_entry(uid, key)
        if entry is None:
            return None
        reversed_ = await self._profile.get_ledger_entry(uid, reversal_key) is not None
        return Recorded.from_entry(entry.amount, entry.shortfall, entry.debt_added, reversed_)

    async def _refund_states(self, uid: str, refunds: Sequence[RefundRecord]) -> list[RefundState]:
        recorded = await asyncio.gather(
            *(self._recorded(uid, keys.refund_revocation(r.id), keys.refund_reversal(r.id)) for r in refunds)
        )
        return [RefundState(r.line(), rec) for r, rec in zip(refunds, recorded, strict=True)]

    async def _dispute_states(
        self, uid: str, disputes: Sequence[DisputeRecord], funds_reinstated: str
    ) -> list[DisputeState]:
        recorded = await asyncio.gather(
            *(self._recorded(uid, keys.dispute_revocation(d.id), keys.dispute_reinstatement(d.id)) for d in disputes)
        )
        return [
            DisputeState(d.id, d.status, d.amount, d.created, rec, funds_reinstated=d.id == funds_reinstated)
            for d, rec in zip(disputes, recorded, strict=True)
        ]

    async def _apply(self, purchase: _Purchase, charge: ChargeRecord, step: Step, amounts: dict[str, int]) -> Applied:
        source = {
            "charge_id": charge.id,
            "checkout_session_id": purchase.session_id,
            "payment_intent": charge.payment_intent_id,
        }
        if step.kind is StepKind.TAKE_REFUND:
            reason = (
                f"Stripe refund {step.object_id} of charge {charge.id}: {amounts.get(step.object_id, 0)} of "
                f"{charge.amount} {charge.currency} refunded; takes back {step.tokens} of the {purchase.granted} "
                f"tokens granted by checkout {purchase.session_id}; if the balance was lower, the entry takes what "
                f"was there and the rest is the shortfall"
            )
            source.update(refund_id=step.object_id, requested_tokens=str(step.tokens))
            return await self._revoke(purchase, step, reason, source)
        if step.kind is StepKind.TAKE_DISPUTE:
            reason = (
                f"Stripe dispute {step.object_id} of charge {charge.id}: takes back {step.tokens} of the "
                f"{purchase.granted} tokens granted by checkout {purchase.session_id} (what refunds did not take); "
                f"if the balance was lower, the entry takes what was there and the rest is the shortfall"
            )
            source.update(dispute_id=step.object_id, requested_tokens=str(step.tokens))
            return await self._revoke(purchase, step, reason, source)
        # A give-back: exactly what the entry it reverses cost the user.
        reverses = (
            keys.refund_revocation(step.object_id)
            if step.kind is StepKind.REVERSE_REFUND
            else keys.dispute_revocation(step.object_id)
        )
        source.update(reverses=reverses)
        source["refund_id" if step.kind is StepKind.REVERSE_REFUND else "dispute_id"] = step.object_id
        result = await self._profile.grant_reversal(purchase.uid, step.tokens, step.key, source)
        log.info(
            "given back",
            extra={"fields": {"uid": purchase.uid, "key": step.key, "tokens": step.tokens, "balance": result.balance}},
        )
        return Applied(step, result.already_applied, result.balance)

    async def _revoke(self, purchase: _Purchase, step: Step, reason: str, source: dict[str, str]) -> Applied:
        uid = purchase.uid
        try:
            # From the purchase's own grant first (RevokeTokens.grant_idempotency_key), then the spending order.
            grant_key = keys.checkout_grant(purchase.session_id)
            result = await self._profile.revoke(uid, step.tokens, step.key, reason, source, grant_key)
        except ProfileCallError as exc:
            if exc.reason != "IDEMPOTENCY_KEY_REUSED":
                raise
            # Recorded earlier with other arithmetic (e.g. the charge's refunds were listed differently then):
            # it was taken back once already.
            log.warning("claw-back already recorded with other parameters", extra={"fields": {"key": step.key}})
            return Applied(step, True)
        if result.shortfall:
            log.warning(
                "claw-back shortfall: the balance was lower than the tokens to take back",
                extra={
                    "fields": {
                        "uid": uid,
                        "key": step.key,
                        "requested": step.tokens,
                        "shortfall": result.shortfall,
                        "debt_added": result.entry.debt_added,
                        "already_applied": result.already_applied,
                    }
                },
            )
        return Applied(step, result.already_applied, result.balance)
