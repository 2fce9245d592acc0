"""CreateCheckoutSession: a Checkout Session for one catalogue price, on the user's Stripe customer."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from billing_service.domain import keys, validation
from billing_service.domain.catalogue import Catalogue, PriceMode
from billing_service.domain.checkout import checkout_line
from billing_service.domain.entitlements import running_subscription
from billing_service.domain.errors import AlreadySubscribed
from billing_service.settings import BillingSettings
from billing_service.stripe_records import CheckoutSessionRecord, CheckoutSessionRequest
from billing_service.use_cases.customers import CustomerLinks
from billing_service.use_cases.ports import StripePort

log = logging.getLogger("billing")


@dataclass(frozen=True)
class CreatedSession:
    session_id: str
    url: str


class Checkout:
    def __init__(
        self,
        settings: BillingSettings,
        catalogue: Catalogue,
        stripe_port: StripePort,
        customers: CustomerLinks,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._catalogue = catalogue
        self._stripe = stripe_port
        self._customers = customers
        self._clock = clock

    async def create_session(
        self,
        *,
        uid: str,
        price_id: str,
        mode: PriceMode | None,
        quantity: int,
        success_url: str,
        cancel_url: str,
        request_id: str,
        email: str,
    ) -> CreatedSession:
        uid = validation.uid(uid)
        line = checkout_line(self._catalogue, price_id, mode, quantity)
        origins = self._settings.allowed_redirect_origins
        success = validation.redirect_url(success_url or self._settings.default_success_url, "success_url", origins)
        cancel = validation.redirect_url(cancel_url or self._settings.default_cancel_url, "cancel_url", origins)
        success = validation.with_session_placeholder(success)
        request_id = validation.request_id(request_id)

        price = line.price
        if request_id:
            key = keys.checkout_session_for_request(uid, request_id)
        else:
            key = keys.checkout_session_auto(
                uid, price.price_id, price.mode, line.quantity, success, cancel, self._clock()
            )

        async def create(customer_id: str, replaced: bool) -> CheckoutSessionRecord:
            if price.mode is PriceMode.SUBSCRIPTION:
                # Asked of Stripe, not of the profile's has_access: a webhook may be late or lost.
                subscriptions = await self._stripe.list_subscriptions(customer_id)
                running = running_subscription(s.state() for s in subscriptions)
                if running is not None:
                    raise AlreadySubscribed(running.status)
            request = CheckoutSessionRequest(
                mode=price.mode,
                customer_id=customer_id,
                uid=uid,
                price_id=price.price_id,
                quantity=line.quantity,
                success_url=success,
                cancel_url=cancel,
            )
            # On a replacement customer the request differs: its own key (still shared by racing retries).
            session_key = keys.for_replacement_customer(key, customer_id) if replaced else key
            return await self._stripe.create_checkout_session(request, session_key)

        # A linked customer that Stripe no longer has is replaced once (customers.with_customer).
        session = await self._customers.with_customer(uid, email, create)
        log.info(
            "checkout session created",
            extra={
                "fields": {"uid": uid, "session_id": session.id, "price_id": price.price_id, "quantity": line.quantity}
            },
        )
        return CreatedSession(session.id, session.url)
