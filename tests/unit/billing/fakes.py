"""In-memory fakes of billing's two ports (use_cases/ports.py): Stripe as records, and the profile
service's ledger with its idempotency, clamping and entitlement-ordering rules. Unit tests only."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import grpc
import stripe

from billing_service.profile_client import ProfileCallError
from billing_service.stripe_records import (
    ChargeRecord,
    CheckoutSessionRecord,
    CheckoutSessionRequest,
    CustomerRecord,
    DisputeRecord,
    EventRecord,
    InvoiceRecord,
    PaymentIntentRecord,
    PortalSessionRecord,
    PriceRecord,
    RefundRecord,
    SubscriptionRecord,
)
from service_kit.rich_errors import ErrorDetails
from tokens.profile.v1 import profile_service_pb2 as ppb


def _not_found(kind: str, obj_id: str) -> stripe.InvalidRequestError:
    return stripe.InvalidRequestError(f"No such {kind}: '{obj_id}'", "id", code="resource_missing", http_status=404)


@dataclass
class FakeStripe:
    customers: dict[str, CustomerRecord] = field(default_factory=dict)
    prices: dict[str, PriceRecord] = field(default_factory=dict)
    sessions: dict[str, CheckoutSessionRecord] = field(default_factory=dict)
    intents: dict[str, PaymentIntentRecord] = field(default_factory=dict)
    subscriptions: dict[str, SubscriptionRecord] = field(default_factory=dict)
    charges: dict[str, ChargeRecord] = field(default_factory=dict)
    refunds: dict[str, list[RefundRecord]] = field(default_factory=dict)  # by charge, newest first
    disputes: list[DisputeRecord] = field(default_factory=list)  # newest first
    events: list[EventRecord] = field(default_factory=list)  # newest first
    invoices: dict[str, InvoiceRecord] = field(default_factory=dict)
    portal_sessions: list[tuple[str, str]] = field(default_factory=list)  # (customer, return_url)
    # idempotency key -> (parameters, result)
    keys: dict[str, tuple[object, object]] = field(default_factory=dict)
    created_sessions: list[CheckoutSessionRequest] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def _replay(self, key: str, params: object) -> object | None:
        if key in self.keys:
            first_params, result = self.keys[key]
            if first_params != params:
                raise stripe.IdempotencyError("Keys for idempotent requests can only be used with the same parameters")
            return result
        return None

    async def create_customer(self, uid: str, email: str, idempotency_key: str) -> CustomerRecord:
        self.calls.append("create_customer")
        replayed = self._replay(idempotency_key, (uid, email))
        if isinstance(replayed, CustomerRecord):
            return replayed
        customer = CustomerRecord(f"cus_{len(self.customers) + 1}", email, uid)
        self.customers[customer.id] = customer
        self.keys[idempotency_key] = ((uid, email), customer)
        return customer

    async def retrieve_customer(self, customer_id: str) -> CustomerRecord:
        if customer_id not in self.customers:
            raise _not_found("customer", customer_id)
        return self.customers[customer_id]

    async def retrieve_price(self, price_id: str) -> PriceRecord:
        if price_id not in self.prices:
            raise _not_found("price", price_id)
        return self.prices[price_id]

    async def create_checkout_session(
        self, request: CheckoutSessionRequest, idempotency_key: str
    ) -> CheckoutSessionRecord:
        replayed = self._replay(idempotency_key, request)
        if isinstance(replayed, CheckoutSessionRecord):
            return replayed
        self.created_sessions.append(request)
        session = CheckoutSessionRecord(
            id=f"cs_{len(self.sessions) + 1}",
            url=f"https://checkout.test/cs_{len(self.sessions) + 1}",
            mode=request.mode,
            status="open",
            payment_status="unpaid",
            client_reference_id=request.uid,
            metadata_uid=request.uid,
            customer_id=request.customer_id,
            created=int(time.time()),
        )
        self.sessions[session.id] = session
        self.keys[idempotency_key] = (request, session)
        return session

    async def retrieve_checkout_session(self, session_id: str) -> CheckoutSessionRecord:
        self.calls.append(f"retrieve_checkout_session {session_id}")
        if session_id not in self.sessions:
            raise _not_found("checkout.session", session_id)
        return self.sessions[session_id]

    async def find_checkout_session_id(self, payment_intent_id: str) -> str | None:
        for session in self.sessions.values():
            if session.payment_intent_id == payment_intent_id:
                return session.id
        return None

    async def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntentRecord:
        self.calls.append(f"retrieve_payment_intent {payment_intent_id}")
        return self.intents[payment_intent_id]

    async def retrieve_subscription(self, subscription_id: str) -> SubscriptionRecord:
        if subscription_id not in self.subscriptions:
            raise _not_found("subscription", subscription_id)
        return self.subscriptions[subscription_id]

    async def list_subscriptions(self, customer_id: str) -> list[SubscriptionRecord]:
        self.calls.append(f"list_subscriptions {customer_id}")
        return [s for s in reversed(self.subscriptions.values()) if s.customer_id == customer_id]

    async def retrieve_charge(self, charge_id: str) -> ChargeRecord:
        return self.charges[charge_id]

    async def list_refunds(self, charge_id: str) -> list[RefundRecord]:
        self.calls.append(f"list_refunds {charge_id}")
        return list(self.refunds.get(charge_id, []))

    async def retrieve_refund(self, refund_id: str) -> RefundRecord:
        for listed in self.refunds.values():
            for refund in listed:
                if refund.id == refund_id:
                    return refund
        raise _not_found("refund", refund_id)

    async def retrieve_dispute(self, dispute_id: str) -> DisputeRecord:
        for dispute in self.disputes:
            if dispute.id == dispute_id:
                return dispute
        raise _not_found("dispute", dispute_id)

    async def list_disputes(self, charge_id: str) -> list[DisputeRecord]:
        return [d for d in self.disputes if d.charge_id == charge_id]

    async def list_complete_checkout_sessions(self, created_gte: int) -> list[CheckoutSessionRecord]:
        self.calls.append("list_complete_checkout_sessions")
        found = [s for s in self.sessions.values() if s.status == "complete" and s.created >= created_gte]
        return [replace(s, line_items=None) for s in reversed(found)]

    async def list_refunds_since(self, created_gte: int) -> list[RefundRecord]:
        found = [r for listed in self.refunds.values() for r in listed if r.created >= created_gte]
        return sorted(found, key=lambda r: -r.created)

    async def list_disputes_since(self, created_gte: int) -> list[DisputeRecord]:
        return [d for d in self.disputes if d.created >= created_gte]

    async def list_events_since(self, type_pattern: str, created_gte: int) -> list[EventRecord]:
        prefix = type_pattern.removesuffix("*")
        return [e for e in self.events if e.type.startswith(prefix) and e.created >= created_gte]

    async def retrieve_invoice(self, invoice_id: str) -> InvoiceRecord:
        self.calls.append(f"retrieve_invoice {invoice_id}")
        if invoice_id not in self.invoices:
            raise _not_found("invoice", invoice_id)
        return self.invoices[invoice_id]

    async def list_paid_invoices_since(self, created_gte: int) -> list[InvoiceRecord]:
        self.calls.append("list_paid_invoices_since")
        found = [i for i in self.invoices.values() if i.status == "paid" and i.created >= created_gte]
        return [replace(i, lines=None) for i in reversed(found)]

    async def create_billing_portal_session(self, customer_id: str, return_url: str) -> PortalSessionRecord:
        if customer_id not in self.customers:
            raise _not_found("customer", customer_id)
        self.portal_sessions.append((customer_id, return_url))
        n = len(self.portal_sessions)
        return PortalSessionRecord(f"bps_{n}", f"https://portal.test/bps_{n}")

    # --- test helpers: what Stripe would do ---------------------------------------------------------

    def pay(self, session_id: str, line_items: tuple[object, ...], amount: int = 500) -> ChargeRecord:
        """Completes a session as paid, with a PaymentIntent and a charge."""
        n = len(self.charges) + 1
        session = replace(
            self.sessions[session_id],
            status="complete",
            payment_status="paid",
            payment_intent_id=f"pi_{n}",
            line_items=line_items,  # type: ignore[arg-type]
        )
        self.sessions[session_id] = session
        self.intents[f"pi_{n}"] = PaymentIntentRecord(f"pi_{n}", "succeeded")
        charge = ChargeRecord(f"ch_{n}", amount, "usd", f"pi_{n}", refunds=())
        self.charges[charge.id] = charge
        return charge

    def dispute(self, charge_id: str, status: str = "needs_response", created: int = 30) -> DisputeRecord:
        charge = self.charges[charge_id]
        dispute = DisputeRecord(
            f"dp_{charge_id}_{len(self.disputes) + 1}", charge_id, charge.amount, "usd", status, "fraudulent", created
        )
        self.disputes.insert(0, dispute)
        return dispute

    def set_status(self, object_id: str, status: str) -> None:
        """A refund that failed, a dispute closed: Stripe's state changes."""
        self.disputes = [replace(d, status=status) if d.id == object_id else d for d in self.disputes]
        for charge_id, listed in self.refunds.items():
            self.refunds[charge_id] = [replace(r, status=status) if r.id == object_id else r for r in listed]
            self.charges[charge_id] = replace(self.charges[charge_id], refunds=tuple(self.refunds[charge_id]))

    def event(
        self, event_type: str, obj: RefundRecord | DisputeRecord, created: int, *, names_charge: bool = True
    ) -> EventRecord:
        """Stripe's event about a refund or dispute (listed newest first); its payload may not name the charge."""
        event = EventRecord(
            f"evt_{len(self.events) + 1}", event_type, created, obj.id, charge_id=obj.charge_id if names_charge else ""
        )
        self.events.insert(0, event)
        return event

    def refund(self, charge_id: str, amount: int, created: int, status: str = "succeeded") -> RefundRecord:
        listed = self.refunds.setdefault(charge_id, [])
        refund = RefundRecord(f"re_{charge_id}_{len(listed) + 1}", amount, status, created, charge_id)
        listed.insert(0, refund)
        self.charges[charge_id] = replace(self.charges[charge_id], refunds=tuple(listed))
        return refund


def _profile_error(method: str, code: grpc.StatusCode, reason: str, field: str | None = None) -> ProfileCallError:
    return ProfileCallError("profile", method, ErrorDetails(code, f"{method}: {reason}", reason, field))


@dataclass
class _Entry:
    amount: int
    params: tuple[object, ...]
    balance_after: int
    shortfall: int = 0
    debt_settled: int = 0
    debt_added: int = 0


@dataclass
class FakeProfile:
    """The ledger rules billing relies on: one entry per idempotency key (a replay answers the first
    result; other parameters -> IDEMPOTENCY_KEY_REUSED), revocations clamp at zero and report the
    shortfall, LinkStripeCustomer keeps the first link, SetEntitlements ignores older event times."""

    profiles: dict[str, ppb.UserProfile] = field(default_factory=dict)
    entries: dict[tuple[str, str], _Entry] = field(default_factory=dict)
    entitlements_as_of: dict[str, int] = field(default_factory=dict)
    debt: dict[str, int] = field(default_factory=dict)
    # Every grant_allowance call's arguments, in order (replays included).
    allowance_calls: list[dict[str, object]] = field(default_factory=list)

    def add(self, uid: str, tokens: int = 0, customer_id: str = "") -> None:
        self.profiles[uid] = ppb.UserProfile(
            uid=uid, email=f"{uid}@example.com", tokens=tokens, stripe_customer_id=customer_id
        )

    def _get(self, method: str, uid: str) -> ppb.UserProfile:
        if uid not in self.profiles:
            raise _profile_error(method, grpc.StatusCode.NOT_FOUND, "PROFILE_NOT_FOUND", "uid")
        return self.profiles[uid]

    async def get_profile(self, uid: str) -> ppb.UserProfile:
        profile = ppb.UserProfile()
        profile.CopyFrom(self._get("GetProfile", uid))
        return profile

    async def create_profile(self, uid: str, email: str = "") -> ppb.UserProfile:
        if uid not in self.profiles:
            self.profiles[uid] = ppb.UserProfile(uid=uid, email=email)
        return await self.get_profile(uid)

    async def link_stripe_customer(self, uid: str, customer_id: str) -> ppb.LinkStripeCustomerResponse:
        profile = self._get("LinkStripeCustomer", uid)
        if profile.stripe_customer_id:
            return ppb.LinkStripeCustomerResponse(
                customer_id=profile.stripe_customer_id, linked=profile.stripe_customer_id == customer_id
            )
        profile.stripe_customer_id = customer_id
        return ppb.LinkStripeCustomerResponse(customer_id=customer_id, linked=True)

    def _apply(self, method: str, uid: str, key: str, amount: int, params: tuple[object, ...]) -> tuple[_Entry, bool]:
        profile = self._get(method, uid)
        existing = self.entries.get((uid, key))
        if existing is not None:
            if existing.params != params:
                raise _profile_error(
                    method, grpc.StatusCode.ALREADY_EXISTS, "IDEMPOTENCY_KEY_REUSED", "idempotency_key"
                )
            return existing, True
        shortfall = settled = 0
        if amount < 0 and profile.tokens + amount < 0:
            shortfall = -(profile.tokens + amount)
            amount = -profile.tokens
        if amount > 0:
            settled = min(self.debt.get(uid, 0), amount)
            amount -= settled
        self.debt[uid] = self.debt.get(uid, 0) + shortfall - settled
        profile.tokens += amount
        profile.debt = self.debt[uid]
        entry = _Entry(amount, params, profile.tokens, shortfall, settled, shortfall)
        self.entries[(uid, key)] = entry
        return entry, False

    async def grant_purchase(
        self, uid: str, amount: int, idempotency_key: str, source: dict[str, str]
    ) -> ppb.GrantTokensResponse:
        entry, replay = self._apply("GrantTokens", uid, idempotency_key, amount, (amount, sorted(source.items())))
        return ppb.GrantTokensResponse(entry=self._pb(entry), balance=entry.balance_after, already_applied=replay)

    async def grant_allowance(
        self,
        uid: str,
        amount: int,
        idempotency_key: str,
        source: dict[str, str],
        *,
        effective_at: int,
        expires_at: int,
        rollover_max: int,
    ) -> ppb.GrantTokensResponse:
        call = dict(
            uid=uid,
            amount=amount,
            idempotency_key=idempotency_key,
            source=dict(source),
            effective_at=effective_at,
            expires_at=expires_at,
            rollover_max=rollover_max,
        )
        self.allowance_calls.append(call)
        params = (amount, sorted(source.items()), effective_at, expires_at, rollover_max)
        entry, replay = self._apply("GrantTokens", uid, idempotency_key, amount, params)
        return ppb.GrantTokensResponse(entry=self._pb(entry), balance=entry.balance_after, already_applied=replay)

    @staticmethod
    def _pb(entry: _Entry) -> ppb.TokenTransaction:
        return ppb.TokenTransaction(
            amount=entry.amount,
            balance_after=entry.balance_after,
            shortfall=entry.shortfall,
            debt_settled=entry.debt_settled,
            debt_added=entry.debt_added,
        )

    async def get_ledger_entry(self, uid: str, idempotency_key: str) -> ppb.TokenTransaction | None:
        self._get("GetLedgerEntry", uid)
        entry = self.entries.get((uid, idempotency_key))
        return None if entry is None else self._pb(entry)

    async def grant_reversal(
        self, uid: str, amount: int, idempotency_key: str, source: dict[str, str]
    ) -> ppb.GrantTokensResponse:
        entry, replay = self._apply("GrantTokens", uid, idempotency_key, amount, (amount, sorted(source.items())))
        return ppb.GrantTokensResponse(entry=self._pb(entry), balance=entry.balance_after, already_applied=replay)

    async def replace_stripe_customer(
        self, uid: str, customer_id: str, replaces_customer_id: str
    ) -> ppb.LinkStripeCustomerResponse:
        profile = self._get("LinkStripeCustomer", uid)
        if profile.stripe_customer_id == replaces_customer_id:
            profile.stripe_customer_id = customer_id
            return ppb.LinkStripeCustomerResponse(customer_id=customer_id, linked=True)
        return await self.link_stripe_customer(uid, customer_id)

    async def revoke(
        self, uid: str, amount: int, idempotency_key: str, reason: str, source: dict[str, str], grant_key: str
    ) -> ppb.RevokeTokensResponse:
        entry, replay = self._apply("RevokeTokens", uid, idempotency_key, -amount, (amount, reason, grant_key))
        return ppb.RevokeTokensResponse(
            entry=self._pb(entry),
            balance=entry.balance_after,
            shortfall=entry.shortfall,
            already_applied=replay,
        )

    async def set_entitlements(
        self, uid: str, *, has_access: bool, status: str, current_period_end: int | None, source_event_time: int
    ) -> ppb.SetEntitlementsResponse:
        profile = self._get("SetEntitlements", uid)
        if source_event_time < self.entitlements_as_of.get(uid, 0):
            return ppb.SetEntitlementsResponse(profile=profile, applied=False)
        self.entitlements_as_of[uid] = source_event_time
        profile.has_access = has_access
        profile.subscription_status = status
        if current_period_end:
            profile.current_period_end.FromSeconds(current_period_end)
        return ppb.SetEntitlementsResponse(profile=profile, applied=True)
