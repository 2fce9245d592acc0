"""The user's Stripe customer, created on first use and linked on their profile; replaced once when Stripe no
longer has it (deleted in the Dashboard, or a test stand-in restarted)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
import stripe

from billing_service.domain import keys
from billing_service.profile_client import ProfileCallError
from billing_service.use_cases.ports import ProfilePort, StripePort

log = logging.getLogger("billing")

T = TypeVar("T")


def is_missing_customer(exc: BaseException, customer_id: str) -> bool:
    """Stripe's answer when the customer a request names does not exist (any more)."""
    if not isinstance(exc, stripe.InvalidRequestError) or exc.code != "resource_missing":
        return False
    return exc.param == "customer" or customer_id in str(exc.user_message or exc)


class CustomerLinks:
    def __init__(self, stripe_port: StripePort, profile: ProfilePort) -> None:
        self._stripe = stripe_port
        self._profile = profile

    async def ensure_customer(self, uid: str, email: str) -> str:
        """Racing requests share one customer: the create call's idempotency key is derived from the uid,
        and LinkStripeCustomer keeps the first link."""
        try:
            profile = await self._profile.get_profile(uid)
        except ProfileCallError as exc:
            if exc.code != grpc.StatusCode.NOT_FOUND:
                raise
            profile = await self._profile.create_profile(uid, email)
        if profile.stripe_customer_id:
            return profile.stripe_customer_id
        email = email or profile.email
        key = keys.customer_for_uid(uid)
        try:
            customer = await self._stripe.create_customer(uid, email, key)
        except stripe.IdempotencyError:
            # The key was first used with other parameters (another email). Maybe that request has
            # linked its customer by now; if not, create with a key that includes the parameters.
            profile = await self._profile.get_profile(uid)
            if profile.stripe_customer_id:
                return profile.stripe_customer_id
            params: dict[str, object] = {"metadata": {"uid": uid}}
            if email:
                params["email"] = email
            customer = await self._stripe.create_customer(uid, email, keys.customer_for_uid_with_params(uid, params))
        link = await self._profile.link_stripe_customer(uid, customer.id)
        if link.customer_id != customer.id:
            log.warning(
                "another request linked a different Stripe customer first; using it",
                extra={"fields": {"uid": uid, "linked": link.customer_id, "unused": customer.id}},
            )
        return link.customer_id

    async def with_customer(self, uid: str, email: str, call: Callable[[str, bool], Awaitable[T]]) -> T:
        """call(customer_id, replaced) on the user's customer. When Stripe answers that the customer is missing,
        a new one replaces it (once) and the call runs again on it, with replaced=True."""
        customer_id = await self.ensure_customer(uid, email)
        try:
            return await call(customer_id, False)
        except stripe.InvalidRequestError as exc:
            if not is_missing_customer(exc, customer_id):
                raise
        replacement = await self.replace_missing_customer(uid, email, customer_id)
        return await call(replacement, True)

    async def replace_missing_customer(self, uid: str, email: str, missing_customer_id: str) -> str:
        """A new customer in place of one Stripe no longer has. Race-safe: racing requests create the same
        customer (the idempotency key names the uid and the missing id), and the link is replaced only while
        it still names the missing id (otherwise the id stored by the winner is used)."""
        profile = await self._profile.get_profile(uid)
        email = email or profile.email
        key = keys.replacement_customer(uid, missing_customer_id)
        try:
            customer = await self._stripe.create_customer(uid, email, key)
        except stripe.IdempotencyError:
            # The key was first used with another email: one that names the parameters too.
            params: dict[str, object] = {"metadata": {"uid": uid}, "email": email, "replaces": missing_customer_id}
            customer = await self._stripe.create_customer(uid, email, keys.customer_for_uid_with_params(uid, params))
        link = await self._profile.replace_stripe_customer(uid, customer.id, missing_customer_id)
        log.warning(
            "the linked Stripe customer is missing at Stripe; replaced",
            extra={"fields": {"uid": uid, "missing": missing_customer_id, "linked": link.customer_id}},
        )
        return link.customer_id
