"""What billing does, independent of gRPC: checkout creation, fulfilment, and the effects of Stripe events.

Exactly once: every balance change goes through the profile service under an idempotency key derived
from a Stripe id (`checkout:{session_id}`, `refund:{refund_id}`), so running any of this again - a
redelivered webhook, the success page racing the webhook, a retry after the profile service was down -
changes nothing the second time. Nothing here trusts an event payload beyond the ids in it: sessions,
subscriptions and charges are fetched fresh from Stripe.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import grpc
import stripe

from billing_service import validation
from billing_service.catalogue import MAX_QUANTITY, PAYMENT, SUBSCRIPTION, Catalogue, CatalogueEntry
from billing_service.errors import InvalidArgument, NotYourSession, Unattributable
from billing_service.profile_client import ProfileCallError, ProfileClient
from billing_service.settings import BillingSettings
from billing_service.stripe_gateway import StripeGateway

log = logging.getLogger("billing")

PRICE_RETRY_S = 60.0  # after Stripe failed to report prices, list configured values for this long
PAID_STATUSES = frozenset({"paid", "no_payment_required"})
ACCESS_STATUSES = frozenset({"active", "trialing"})
FAILED_INTENT_STATUSES = frozenset({"requires_payment_method", "canceled"})
# Refunds that have left (or are leaving) the account. failed/canceled refunds return nothing.
COUNTED_REFUND_STATUSES = frozenset({"succeeded", "pending"})


class Outcome:
    FULFILLED = "fulfilled"
    PENDING = "pending"
    FAILED = "failed"
    SUBSCRIPTION = "subscription"


@dataclass(frozen=True)
class Fulfilment:
    session_id: str
    outcome: str
    uid: str
    payment_status: str
    tokens_granted: int = 0
    # The balance right after the grant; None when nothing was granted by this call.
    balance: int | None = None
    already_applied: bool = False


@dataclass(frozen=True)
class CheckoutSession:
    session_id: str
    url: str


def _id_of(value: Any) -> str:
    """A Stripe reference that may be an id string or an expanded object."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def session_owner(session: dict[str, Any]) -> str:
    return str(session.get("client_reference_id") or _metadata(session).get("uid") or "")


class Billing:
    def __init__(
        self, settings: BillingSettings, catalogue: Catalogue, stripe_gateway: StripeGateway, profile: ProfileClient
    ) -> None:
        self._settings = settings
        self._catalogue = catalogue
        self._stripe = stripe_gateway
        self._profile = profile
        self._priced_catalogue: Catalogue | None = None
        self._prices_retry_at = 0.0

    # ListPrices ---------------------------------------------------------------------------------

    async def list_prices(self) -> list[CatalogueEntry]:
        """The configured catalogue; amounts not configured are read from Stripe once (best effort)."""
        if self._priced_catalogue is not None:
            return self._priced_catalogue.entries
        missing = [e.price_id for e in self._catalogue.entries if not e.unit_amount]
        if not missing:
            self._priced_catalogue = self._catalogue
            return self._catalogue.entries
        if time.monotonic() < self._prices_retry_at:
            return self._catalogue.entries
        try:
            prices = await asyncio.wait_for(
                asyncio.gather(*(self._stripe.retrieve_price(p) for p in missing)), timeout=5
            )
        except (TimeoutError, stripe.StripeError) as exc:
            log.warning(
                "could not read prices from Stripe; listing configured values", extra={"fields": {"error": repr(exc)}}
            )
            self._prices_retry_at = time.monotonic() + PRICE_RETRY_S
            return self._catalogue.entries
        amounts = {
            p["id"]: (int(p.get("unit_amount") or 0), str(p.get("currency") or "")) for p in prices if p.get("id")
        }
        self._priced_catalogue = self._catalogue.with_amounts(amounts)
        return self._priced_catalogue.entries

    # CreateCheckoutSession ----------------------------------------------------------------------

    async def create_checkout_session(
        self,
        *,
        uid: str,
        price_id: str,
        mode: str | None,
        quantity: int,
        success_url: str,
        cancel_url: str,
        request_id: str,
        email: str,
    ) -> CheckoutSession:
        uid = validation.uid(uid)
        if not price_id:
            raise InvalidArgument("price_id", "is required")
        price = self._catalogue.get(price_id)
        if price is None:
            raise InvalidArgument("price_id", "is not a price this service sells", reason="UNKNOWN_PRICE")
        if mode is not None and mode != price.mode:
            raise InvalidArgument("mode", f"does not match the price (a {price.mode} price)", reason="MODE_MISMATCH")
        quantity = quantity or 1
        if price.mode == SUBSCRIPTION and quantity != 1:
            raise InvalidArgument("quantity", "must be 1 for a subscription")
        if not 1 <= quantity <= MAX_QUANTITY:
            raise InvalidArgument("quantity", f"must be between 1 and {MAX_QUANTITY}")
        origins = self._settings.allowed_redirect_origins
        success = validation.redirect_url(success_url or self._settings.default_success_url, "success_url", origins)
        cancel = validation.redirect_url(cancel_url or self._settings.default_cancel_url, "cancel_url", origins)
        success = validation.with_session_placeholder(success)
        request_id = validation.request_id(request_id)

        customer_id = await self._ensure_customer(uid, email)
        owner_metadata = {"uid": uid, "price_id": price.price_id}
        params: dict[str, Any] = {
            "mode": price.mode,
            "customer": customer_id,
            "client_reference_id": uid,
            "metadata": owner_metadata,
            "line_items": [{"price": price.price_id, "quantity": quantity}],
            "success_url": success,
            "cancel_url": cancel,
        }
        if price.mode == PAYMENT:
            params["payment_intent_data"] = {"metadata": owner_metadata}
        else:
            params["subscription_data"] = {"metadata": owner_metadata}
        if request_id:
            # Scoped by uid, so one user's request id can never replay another user's session.
            key = f"checkout-session:{uid}:{request_id}"
        else:
            # Same inputs within the same minute: the same session (a double click), not two.
            basis = json.dumps([uid, price.price_id, price.mode, quantity, success, cancel, int(time.time() // 60)])
            key = "checkout-session:auto:" + hashlib.sha256(basis.encode()).hexdigest()
        session = await self._stripe.create_checkout_session(params, key)
        log.info(
            "checkout session created",
            extra={
                "fields": {
                    "uid": uid,
                    "session_id": session.get("id"),
                    "price_id": price.price_id,
                    "quantity": quantity,
                }
            },
        )
        return CheckoutSession(session_id=str(session["id"]), url=str(session.get("url") or ""))

    async def _ensure_customer(self, uid: str, email: str) -> str:
        """The user's Stripe customer, created on first use. Racing requests share one customer: the
        create call's idempotency key is derived from the uid, and LinkStripeCustomer keeps the first."""
        try:
            profile = await self._profile.get_profile(uid)
        except ProfileCallError as exc:
            if exc.code != grpc.StatusCode.NOT_FOUND:
                raise
            profile = await self._profile.create_profile(uid, email)
        if profile.stripe_customer_id:
            return profile.stripe_customer_id
        params: dict[str, Any] = {"metadata": {"uid": uid}}
        if email or profile.email:
            params["email"] = email or profile.email
        key = f"customer-for-uid:{uid}"
        try:
            customer = await self._stripe.create_customer(params, key)
        except stripe.IdempotencyError:
            # The key was first used with other parameters (another email). Maybe that request has
            # linked its customer by now; if not, create with a key that includes the parameters.
            profile = await self._profile.get_profile(uid)
            if profile.stripe_customer_id:
                return profile.stripe_customer_id
            digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
            customer = await self._stripe.create_customer(params, f"{key}:{digest}")
        link = await self._profile.link_stripe_customer(uid, str(customer["id"]))
        if link.customer_id != customer["id"]:
            log.warning(
                "another request linked a different Stripe customer first; using it",
                extra={
                    "fields": {
                        "uid": uid,
                        "linked": link.customer_id,
                        "unused": customer["id"],
                    }
                },
            )
        return link.customer_id

    # FulfillCheckoutSession ---------------------------------------------------------------------

    async def fulfil(self, session_id: str, expected_uid: str = "") -> Fulfilment:
        """Grants what a paid payment-mode session bought, once, whoever calls and however often."""
        session_id = validation.stripe_id(session_id, "session_id")
        if expected_uid:
            validation.uid(expected_uid)
        session = await self._stripe.retrieve_checkout_session(session_id)
        owner = session_owner(session)
        if expected_uid:
            claimed = {session.get("client_reference_id"), _metadata(session).get("uid")} - {None, ""}
            if not claimed or claimed != {expected_uid}:
                raise NotYourSession(session_id)
        payment_status = str(session.get("payment_status") or "")
        status = str(session.get("status") or "")
        if session.get("mode") == SUBSCRIPTION:
            outcome = Outcome.FAILED if status == "expired" else Outcome.SUBSCRIPTION
            return Fulfilment(session_id, outcome, owner, payment_status)
        if payment_status not in PAID_STATUSES:
            failed = status == "expired" or await self._async_payment_failed(session)
            outcome = Outcome.FAILED if failed else Outcome.PENDING
            return Fulfilment(session_id, outcome, owner, payment_status)
        if not owner:
            raise Unattributable(f"checkout session {session_id}")

        tokens, source = self._purchase(session)
        if tokens <= 0:
            log.warning(
                "paid checkout session bought nothing in the catalogue; nothing granted",
                extra={"fields": {"session_id": session_id, "uid": owner}},
            )
            return Fulfilment(session_id, Outcome.FULFILLED, owner, payment_status)
        grant = await self._profile.grant_purchase(owner, tokens, f"checkout:{session_id}", source)
        log.info(
            "checkout fulfilled",
            extra={
                "fields": {
                    "session_id": session_id,
                    "uid": owner,
                    "tokens": grant.entry.amount,
                    "already_applied": grant.already_applied,
                    "balance": grant.balance,
                }
            },
        )
        return Fulfilment(
            session_id,
            Outcome.FULFILLED,
            owner,
            payment_status,
            tokens_granted=grant.entry.amount,
            balance=None if grant.already_applied else grant.balance,
            already_applied=grant.already_applied,
        )

    async def _async_payment_failed(self, session: dict[str, Any]) -> bool:
        """A completed but unpaid session whose payment can no longer succeed (the async payment failed:
        the PaymentIntent went back to requires_payment_method, or was canceled)."""
        payment_intent = _id_of(session.get("payment_intent"))
        if session.get("status") != "complete" or not payment_intent:
            return False
        intent = await self._stripe.retrieve_payment_intent(payment_intent)
        return intent.get("status") in FAILED_INTENT_STATUSES

    def _purchase(self, session: dict[str, Any]) -> tuple[int, dict[str, str]]:
        """Tokens the session's line items buy (tokens_per_unit x quantity) and the grant's source."""
        line_items = session.get("line_items")
        if not isinstance(line_items, dict) or "data" not in line_items:
            raise RuntimeError(f"checkout session {session.get('id')} came back without line_items")
        tokens = 0
        price_id = product_id = ""
        for item in line_items["data"]:
            price = item.get("price") or {}
            item_price_id = _id_of(price)
            quantity = int(item.get("quantity") or 0)
            per_unit = self._catalogue.tokens_per_unit(item_price_id)
            if per_unit and quantity > 0:
                tokens += per_unit * quantity
                if not price_id:
                    entry = self._catalogue.get(item_price_id)
                    price_id = item_price_id
                    product_id = _id_of(price.get("product") if isinstance(price, dict) else None) or (
                        entry.product_id if entry else ""
                    )
        source = {"checkout_session_id": str(session["id"]), "price_id": price_id, "product_id": product_id}
        payment_intent = _id_of(session.get("payment_intent"))
        if payment_intent:
            source["payment_intent"] = payment_intent
        return tokens, source

    # Webhook effects ----------------------------------------------------------------------------

    async def sync_subscription(self, subscription_id: str, event_time: int) -> tuple[str, bool]:
        """Entitlements from the subscription as Stripe has it now, stamped with the event's time, so an
        older event delivered late cannot overwrite a newer state. Returns (uid, applied)."""
        subscription = await self._stripe.retrieve_subscription(subscription_id)
        uid = str(_metadata(subscription).get("uid") or "")
        if not uid:
            customer_id = _id_of(subscription.get("customer"))
            if customer_id:
                customer = await self._stripe.retrieve_customer(customer_id)
                uid = str(_metadata(customer).get("uid") or "")
        if not uid:
            raise Unattributable(f"subscription {subscription_id}")
        status = str(subscription.get("status") or "")
        items = (subscription.get("items") or {}).get("data") or []
        period_end = (items[0].get("current_period_end") if items else None) or subscription.get("current_period_end")
        result = await self._profile.set_entitlements(
            uid,
            has_access=status in ACCESS_STATUSES,
            status=status,
            current_period_end=int(period_end) if period_end else None,
            source_event_time=event_time,
        )
        log.info(
            "entitlements",
            extra={
                "fields": {
                    "uid": uid,
                    "subscription": subscription_id,
                    "status": status,
                    "applied": result.applied,
                    "event_time": event_time,
                }
            },
        )
        return uid, result.applied

    async def claw_back_refunds(self, charge_id: str) -> str:
        """Takes back what the refunded payment granted, in proportion to the amount refunded: one
        ledger entry per refund, keyed `refund:{refund_id}`. Returns the webhook action."""
        charge = await self._stripe.retrieve_charge(charge_id)
        payment_intent = _id_of(charge.get("payment_intent"))
        session_id = await self._stripe.find_checkout_session_id(payment_intent) if payment_intent else None
        if not session_id:
            log.info(
                "refunded charge did not come from a checkout session; ignored",
                extra={"fields": {"charge": charge_id, "payment_intent": payment_intent}},
            )
            return "ignored"
        # Make sure the grant exists before taking it back, whatever order the events arrived in.
        fulfilment = await self.fulfil(session_id)
        granted = fulfilment.tokens_granted
        charge_amount = int(charge.get("amount") or 0)
        if fulfilment.outcome != Outcome.FULFILLED or granted <= 0 or charge_amount <= 0:
            log.info(
                "refund: the payment granted no tokens",
                extra={
                    "fields": {
                        "charge": charge_id,
                        "session_id": session_id,
                        "outcome": fulfilment.outcome,
                    }
                },
            )
            return "refund_nothing_granted"
        refunds = await self._refunds_of(charge)
        refunded_before = 0
        revoked = short = 0
        for refund in refunds:
            refunded_after = min(charge_amount, refunded_before + int(refund.get("amount") or 0))
            amount = granted * refunded_after // charge_amount - granted * refunded_before // charge_amount
            refunded_before = refunded_after
            if amount <= 0:
                continue
            refund_id = str(refund["id"])
            reason = (
                f"Stripe refund {refund_id} of charge {charge_id}: {refund.get('amount')} of {charge_amount} "
                f"{charge.get('currency') or ''} refunded; takes back {amount} of the {granted} tokens granted by "
                f"checkout {session_id}; if the balance was lower, the entry takes what was there and the rest is "
                f"the shortfall"
            )
            source = {
                "refund_id": refund_id,
                "charge_id": charge_id,
                "checkout_session_id": session_id,
                "payment_intent": payment_intent,
                "requested_tokens": str(amount),
            }
            try:
                result = await self._profile.revoke(fulfilment.uid, amount, f"refund:{refund_id}", reason, source)
            except ProfileCallError as exc:
                if exc.reason != "IDEMPOTENCY_KEY_REUSED":
                    raise
                # Recorded earlier with other arithmetic (refunds created in the same second and listed
                # in another order): the refund was already taken back once.
                log.warning(
                    "refund already recorded with other parameters",
                    extra={"fields": {"refund": refund_id, "uid": fulfilment.uid}},
                )
                continue
            revoked += -result.entry.amount
            if result.shortfall:
                short += result.shortfall
                log.warning(
                    "refund shortfall: the balance was lower than the tokens to take back",
                    extra={
                        "fields": {
                            "uid": fulfilment.uid,
                            "refund": refund_id,
                            "requested": amount,
                            "shortfall": result.shortfall,
                            "already_applied": result.already_applied,
                        }
                    },
                )
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
        return "refund"

    async def _refunds_of(self, charge: dict[str, Any]) -> list[dict[str, Any]]:
        listed = charge.get("refunds")
        if isinstance(listed, dict) and isinstance(listed.get("data"), list) and not listed.get("has_more"):
            refunds = listed["data"]
        else:
            refunds = await self._stripe.list_refunds(str(charge["id"]))
        counted = [r for r in refunds if r.get("status", "succeeded") in COUNTED_REFUND_STATUSES and r.get("id")]
        # Oldest first. Stripe lists newest first, which also orders refunds made in the same second, so
        # reverse that order and sort stably by `created`: each refund's share stays the same on every run.
        return sorted(reversed(counted), key=lambda r: int(r.get("created") or 0))
