"""The user's Stripe customer, created on first use and linked on their profile."""

from __future__ import annotations

import logging

import grpc
import stripe

from billing_service.domain import keys
from billing_service.profile_client import ProfileCallError
from billing_service.use_cases.ports import ProfilePort, StripePort

log = logging.getLogger("billing")


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
