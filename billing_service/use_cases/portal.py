"""CreateBillingPortalSession: a link to Stripe's billing portal for the user's linked Stripe customer,
where they manage payment methods, invoices and their subscription (e.g. instead of a second one)."""

from __future__ import annotations

import logging

import grpc

from billing_service.domain import validation
from billing_service.domain.errors import InvalidArgument, NoStripeCustomer
from billing_service.profile_client import ProfileCallError
from billing_service.settings import BillingSettings
from billing_service.use_cases.ports import ProfilePort, StripePort

log = logging.getLogger("billing")


class BillingPortal:
    def __init__(self, settings: BillingSettings, stripe_port: StripePort, profile: ProfilePort) -> None:
        self._settings = settings
        self._stripe = stripe_port
        self._profile = profile

    async def create_session(self, uid: str, return_url: str) -> str:
        """The portal URL. Never creates a customer: a user who never checked out has nothing to manage."""
        uid = validation.uid(uid)
        if not return_url:
            raise InvalidArgument("return_url", "is required")
        return_url = validation.redirect_url(return_url, "return_url", self._settings.allowed_redirect_origins)
        try:
            profile = await self._profile.get_profile(uid)
        except ProfileCallError as exc:
            if exc.code != grpc.StatusCode.NOT_FOUND:
                raise
            raise NoStripeCustomer() from None
        if not profile.stripe_customer_id:
            raise NoStripeCustomer()
        session = await self._stripe.create_billing_portal_session(profile.stripe_customer_id, return_url)
        log.info(
            "billing portal session created",
            extra={"fields": {"uid": uid, "customer": profile.stripe_customer_id, "portal_session": session.id}},
        )
        return session.url
